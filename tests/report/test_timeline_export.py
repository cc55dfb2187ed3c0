"""The Chrome/Perfetto export of the simulated timeline, and `codesign run --timeline`."""

from __future__ import annotations

import itertools
import json

import pytest

from codesign.cli import main
from codesign.report import to_chrome_trace, write_chrome_trace


def test_chrome_trace_events(gpu_results, riscv_results):
    results = [riscv_results[0], gpu_results[0]]
    doc = to_chrome_trace(results)
    events = doc["traceEvents"]
    procs = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    assert procs == {1: "c950-like", 2: "h100-sxm"}
    for pid, r in enumerate(results, start=1):
        ops = [e for e in events if e["ph"] == "X" and e["pid"] == pid and e["cat"] != "layer"]
        # collapsed layers expanded: one event per op instance
        assert len(ops) == int(r.ops["repeat"].sum())
        assert {e["tid"] for e in ops} == {1}  # one stream / no schedule: one track
        end = max(e["ts"] + e["dur"] for e in ops)
        assert end == pytest.approx(r.latency_s * 1e6)  # microseconds
        assert sum(e["dur"] for e in ops) == pytest.approx(r.ops["total_seconds"].sum() * 1e6)
        layers = [e for e in events if e["pid"] == pid and e.get("cat") == "layer"]
        body = r.ops[r.ops["repeat"] > 1]
        n = int(body["repeat"].iloc[0])
        listed = [int(x) for x in str(body["layers"].iloc[0]).split(",")]
        ltype = body["layer_type"].iloc[0]
        inst = [e for e in layers if e["name"] in {f"L{i} {ltype}" for i in listed}]
        assert len(inst) == n
        # layer instances run in the model's layer order, each right after the previous
        decoder = sorted((e for e in layers if e["name"].startswith("L")),
                         key=lambda e: e["ts"])
        indices = [int(e["name"].split()[0][1:]) for e in decoder]
        assert indices == sorted(indices) and len(indices) == len(set(indices))
        for a, b in itertools.pairwise(decoder):
            assert b["ts"] == pytest.approx(a["ts"] + a["dur"])
    assert doc["otherData"]["targets"] == ["c950-like", "h100-sxm"]


def test_run_timeline_flag(tmp_path, tiny_trace, gpu_results, capsys):
    src = tiny_trace.save(tmp_path / "t.parquet")
    out = tmp_path / "tl.json"
    assert main(["run", str(src), "--target", "h100-sxm", "--target", "l4",
                 "--timeline", str(out), "--format", "json"]) == 0
    doc = json.loads(out.read_text())
    x = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"] != "layer"]
    assert {e["pid"] for e in x} == {1, 2}
    h100 = gpu_results[0]
    assert max(e["ts"] + e["dur"] for e in x if e["pid"] == 1) == \
        pytest.approx(h100.latency_s * 1e6)
    assert json.loads(write_chrome_trace(h100, tmp_path / "one.json").read_text())[
        "otherData"]["targets"] == ["h100-sxm"]
