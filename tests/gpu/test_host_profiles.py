"""Host profiles (validate.HOST_FITS): the machine that measured a host-bound request sets
its host's speed (``launch.host_scale``), fitted on one request of that machine; every
host time scales with it, and the suite notices the fit."""

from __future__ import annotations

import dataclasses
import json

import pytest
from gpu_rows import natural_row
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import gpu, validate
from codesign.cli import main
from codesign.gpu.model import engine_rows, host_seconds, time_ops
from workloads.schema import trace_from_rows


def _h200_cases() -> dict[str, validate.Case]:
    return {c.name: c for c in validate.load_cases(validate.suite_file("gpu-h200"))[0]}


def _ops():
    rows = [natural_row("norm", M=1, N=4096),
            natural_row("gemm", M=1, N=4096, K=4096, weight_dtype="bf16"),
            natural_row("attention", B=1, Hq=32, Hkv=8, Sq=1, Skv=512, D=128),
            natural_row("elementwise", M=1, N=4096)]
    return trace_from_rows(rows, {"model": "synthetic", "scenario": {"phase": "decode"}}).ops


@given(scale=st.floats(0.1, 10.0))
@settings(max_examples=25, deadline=None)
def test_the_host_scale_multiplies_every_host_time(scale):
    base = gpu.make("h200", {"engine": "hf-transformers"}).phase_config("decode")
    moved = gpu.make("h200", {"engine": "hf-transformers", "launch.host_scale": scale}
                     ).phase_config("decode")
    ops = time_ops(base, _ops())
    # each row's launches and pre-launch work, by hand: kernels x launch + the call's own
    by_hand = (ops["kernels"] * base.launch.host_launch_us
               + ops["kind"].map(base.launch.pre_launch_us).where(ops["kernels"] > 0, 0.0))
    assert list(host_seconds(moved, ops)) == pytest.approx(list(by_hand * scale * 1e-6))
    # the engine's step on the host (no overlap in hf-transformers: all of it shows)
    step = engine_rows(moved, "decode", 1, 1000, 0)["seconds"].iloc[0]
    assert step == pytest.approx(base.engine.step_us * scale * 1e-6)


@given(s1=st.floats(0.2, 5.0), s2=st.floats(0.2, 5.0))
@settings(max_examples=25, deadline=None)
def test_a_slower_host_is_never_faster_and_never_beats_the_gpu_alone(s1, s2):
    lo, hi = sorted((s1, s2))
    times = []
    for s in (lo, hi):
        cfg = gpu.make("h200", {"engine": "hf-transformers", "launch.host_scale": s}
                       ).phase_config("decode")
        out = time_ops(cfg, _ops())
        total = float(out["total_seconds"].sum())
        assert total >= float(out["kernel_seconds"].sum())  # the GPU's own work bounds it
        times.append(total)
    assert times[0] <= times[1] * (1 + 1e-12)


def test_every_h200_request_names_the_host_that_measured_it():
    cases = _h200_cases()
    requests = [c for c in cases.values() if c.model or c.probe.startswith("request_")]
    assert requests and all(c.host for c in requests)
    doc = json.loads(validate.suite_file("gpu-h200").read_text())
    for c in requests:  # its prediction runs on its host's scale
        assert c.overrides["launch.host_scale"] == doc["hosts"][c.host]["set"][
            "launch.host_scale"]
    assert {h for _, h, _ in validate.HOST_FITS} == set(doc["hosts"])


@pytest.mark.parametrize(("host", "rows_"), [(h, r) for _, h, r in validate.HOST_FITS])
def test_the_suite_notices_each_host_scale(host, rows_):
    cases = _h200_cases()
    (case,) = (cases[r] for r in rows_)
    assert case.fitted and case.host == host
    value = case.overrides["launch.host_scale"]
    assert validate.predict(case) == pytest.approx(case.measured, rel=0.01)  # the fit holds
    for new in (value / 3, value * 3):
        moved = dataclasses.replace(case, overrides={**case.overrides,
                                                     "launch.host_scale": new})
        assert abs(validate.predict(moved) / case.measured - 1) > case.tolerance, new


def _file(tmp_path, hosts, case_set=None, host="fast"):
    case = {"name": "g", "target": "h200", "host": host, "metric": "seconds",
            "measured": 1e-4, "source": "test",
            "row": natural_row("gemm", M=1, N=4096, K=4096, weight_dtype="bf16")}
    if case_set is not None:
        case["set"] = case_set
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps({"format": validate.FORMAT, "hosts": hosts, "cases": [case]}))
    return path


def test_a_case_takes_its_host_s_set_under_its_own(tmp_path):
    hosts = {"fast": {"set": {"launch.host_scale": 0.5, "launch.mode": "eager"}}}
    (c,), _ = validate.load_cases(_file(tmp_path, hosts))
    assert c.host == "fast" and c.overrides == {"launch.host_scale": 0.5,
                                                "launch.mode": "eager"}
    (c,), _ = validate.load_cases(_file(tmp_path, hosts, {"launch.host_scale": 2.0}))
    assert c.overrides == {"launch.host_scale": 2.0, "launch.mode": "eager"}


@pytest.mark.parametrize(("hosts", "host", "message"), [
    ({"fast": {"set": {}}}, "slow", "unknown host 'slow'; valid: fast"),
    ({}, "slow", "unknown host 'slow'; valid: (the file has no hosts)"),
    ({"fast": {"scale": 0.5}}, "fast", "'hosts' must map each host name to a table"),
])
def test_a_bad_host_is_one_clear_error(tmp_path, capsys, hosts, host, message):
    assert main(["validate", "--suite", "none", "--cases",
                 str(_file(tmp_path, hosts, host=host))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codesign validate: error: ") and message in err
    assert err.count("\n") == 1
