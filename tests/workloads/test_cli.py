"""`codesign models` and `codesign trace` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from codesign.cli import main
from workloads.schema import Trace


def test_models_lists_every_model_with_parameters(capsys) -> None:
    assert main(["models", "--format", "json"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert len(rows) == 19
    r = rows["qwen3.5-397b-a17b"]
    assert (r["total_params_b"], r["active_params_b"]) == (396.346, 17.349)
    assert (r["full_attention"], r["linear_attention"], r["moe"]) == (15, 45, "yes")


def test_trace_prints_ops_by_kind_and_saves(tmp_path, capsys) -> None:
    out = tmp_path / "t.parquet"
    assert main(["trace", "qwen3.5-0.8b", "--phase", "decode", "--context", "64",
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("qwen3.5-0.8b decode batch=1 context=64 weights=bf16")
    assert "linear_attention" in text and "total" in text
    tr = Trace.load(out)
    assert tr.scenario.context == 64
    assert main(["trace", "qwen3.5-0.8b", "--phase", "decode", "--context", "64",
                 "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_gflop"] == pytest.approx(tr.total_flops / 1e9)
    assert data["by_kind"]["attention"]["ops"] == 6


@pytest.mark.parametrize(("args", "message"), [
    (["trace", "qwen9"], "unknown model 'qwen9'; valid: qwen3.5-0.8b"),
    (["trace", "qwen3.5-0.8b", "--seq", "0"], "seq must be a positive integer, got 0"),
    (["trace", "qwen3.5-0.8b", "--phase", "decode", "--context", "-5"],
     "context must be a non-negative integer, got -5"),
    (["trace", "qwen3.5-0.8b", "--phase", "decode", "--seq", "5"], "decode takes --context"),
    (["trace", "qwen3.5-0.8b", "--routing", "zipf:x"], "bad routing policy 'zipf:x'"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message, capsys) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_malformed_config_json(tmp_path, capsys) -> None:
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "qwen3_5_text", "hidden_size": ')
    assert main(["trace", str(bad)]) == 2
    assert "malformed config.json" in capsys.readouterr().err


def test_console_script_runs_and_exits_2_on_bad_choice() -> None:
    ok = subprocess.run([sys.executable, "-m", "codesign", "models"], capture_output=True,
                        text=True)
    assert ok.returncode == 0 and "qwen3-next-80b-a3b" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "codesign", "trace", "qwen3.5-9b",
                          "--phase", "train"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "invalid choice: 'train'" in bad.stderr and "'prefill', 'decode'" in bad.stderr
