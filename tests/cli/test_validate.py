"""``codesign validate``: published cases pass; user case files extend the suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from codesign.cli import main

ROOT = Path(__file__).resolve().parents[2]
IMPLS = ("standard", "fa2", "triton", "cudnn", "fa3")


def test_validate_command_passes_the_published_suite():
    # as a user runs it: a separate process, exit status 0, the case list, fast
    proc = subprocess.run([sys.executable, "-m", "codesign", "validate"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["case", "target", "metric", "predicted", "measured", "error",
                                "use", "status"]
    names = [line.split()[0] for line in lines[2:] if line.startswith(("attn-", "gemm-"))]
    # 29 hdim-128 attention points (standard has no 16k: OOM), 12 FA2 hdim-256 points,
    # 2 GEMMs, 6 rankings
    assert len(names) == 49
    assert "gemm-bf16-h100-2048x2048x13312" in names
    assert "gemm-bf16-a100-1024x10240x5120" in names
    assert lines[-1].startswith("49 cases, 0 failed; mean |error| ")


def test_json_lists_every_case_with_prediction_measurement_and_error(capsys):
    assert main(["validate", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    numeric = [r for r in rows if r["metric"] == "tflops"]
    assert len(numeric) == 43
    for r in numeric:
        assert {"case", "predicted", "measured", "error"} <= set(r)
        assert r["error"] == pytest.approx(r["predicted"] / r["measured"] - 1)
        assert abs(r["error"]) <= 0.15 and r["ok"]
    cases = {r["case"]: r for r in numeric}
    assert cases["attn-fa3-h100-hdim128-s16k"]["measured"] == 648
    assert cases["gemm-bf16-h100-2048x2048x13312"]["measured"] == 794.5
    assert cases["attn-fa2-h100-hdim256-s16k"]["measured"] == 326
    rankings = [r for r in rows if r["metric"] == "ranking"]
    assert len(rankings) == 6 and all(r["ok"] for r in rankings)
    # the ranking holds in the predictions themselves, seqlen by seqlen
    for s in ("512", "1k", "2k", "4k", "8k"):
        tf = [cases[f"attn-{i}-h100-hdim128-s{s}"]["predicted"] for i in IMPLS]
        assert tf == sorted(tf)


def _case_file(tmp_path, measured: float, informational: bool = False) -> Path:
    doc = {"format": "codesign-validation-cases/1", "cases": [{
        "name": "my-gemv", "target": "h100-sxm", "set": {},
        "row": {"kind": "gemm", "op": "matmul", "dtype": "bf16", "weight_dtype": "bf16",
                "M": 1, "N": 12288, "K": 4096, "G": 1, "flops": 2 * 12288 * 4096,
                "bytes_read": 2 * 12288 * 4096, "bytes_written": 2 * 12288},
        "metric": "seconds", "measured": measured, "tolerance": 0.15,
        "informational": informational, "source": "test"}]}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(doc))
    return path


def test_user_cases_extend_the_suite_and_can_fail_it(capsys, tmp_path):
    # the model: t0 7.04 us + 100.7 MB of weights at the GEMV class's 0.83 x 3.35 TB/s
    # (36.2 us) + 0.51 us gap = 43.8 us
    good = _case_file(tmp_path, 42e-6)
    assert main(["validate", "--suite", "none", "--cases", str(good)]) == 0
    out = capsys.readouterr().out
    assert "my-gemv" in out and "us" in out and "1 cases, 0 failed" in out
    bad = _case_file(tmp_path, 70e-6)
    assert main(["validate", "--cases", str(bad), "--format", "json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 50 and rows[-1]["case"] == "my-gemv" and not rows[-1]["ok"]
    info = _case_file(tmp_path, 70e-6, informational=True)
    assert main(["validate", "--suite", "none", "--cases", str(info)]) == 0


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "is not valid JSON"),
    ('{"cases": []}', 'lacks "format"'),
    ('{"format": "codesign-validation-cases/1", "cases": [{"name": "x", "target": "h100-sxm",'
     ' "row": {"kind": "gemm"}, "metric": "joules", "measured": 1}]}', "metric 'joules'"),
    ('{"format": "codesign-validation-cases/1", "cases": [{"name": "x", "target": "h900",'
     ' "row": {"kind": "gemm", "op": "matmul", "M": 1, "N": 1, "K": 1}, "metric": "seconds",'
     ' "measured": 1}]}', "unknown target 'h900'"),
])
def test_bad_case_files_are_user_errors(capsys, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["validate", "--cases", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codesign validate: error: ") and message in err


def test_measure_gpu_exits_cleanly_without_cuda_and_writes_valid_cases(tmp_path, bench_script):
    script = ROOT / "benchmarks" / "measure_gpu.py"
    proc = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "m.json")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0
    import torch

    if not torch.cuda.is_available():
        assert "no CUDA device" in proc.stdout
        assert not (tmp_path / "m.json").exists()
    # its writer produces a file `codesign validate --cases` accepts
    mod = bench_script("measure_gpu")
    row = mod.gemm_row(1, 12288, 4096)
    out = tmp_path / "w.json"
    mod.write_cases(out, "h100-sxm", "fake H100", "test",
                    [("gemm-gate-m1", row, {"launch.mode": "eager"}, 42e-6, False)])
    assert main(["validate", "--suite", "none", "--cases", str(out)]) == 0


def test_summary_median_is_over_predicted_rows_and_averages_the_middle_pair():
    """The printed median |error| of the predicted rows: fitted and informational rows
    and rows without an error are left out; an even count takes the mean of the middle
    two (upper-middle alone would overstate it)."""
    from codesign.validate import summary

    def row(case, error, fitted=False, informational=False):
        return {"case": case, "error": error, "fitted": fitted, "ok": True,
                "informational": informational}

    rows = [row("a", -0.10), row("b", 0.40), row("c", 0.20), row("d", -0.30),
            row("fit", 0.0, fitted=True), row("none", None),
            row("info", -0.95, informational=True)]
    s = summary(rows)
    assert s["predicted"] == 4 and s["informational"] == 1
    assert s["predicted_median_abs_error"] == pytest.approx(0.25)
    assert s["predicted_worst_abs_error"] == pytest.approx(0.40)
    assert summary(rows[:3])["predicted_median_abs_error"] == pytest.approx(0.20)
