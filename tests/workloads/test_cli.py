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
    assert len(rows) == 28
    r = rows["qwen3.5-397b-a17b"]
    assert (r["total_params_b"], r["active_params_b"]) == (396.346, 17.349)
    assert (r["full_attention"], r["linear_attention"], r["moe"]) == (15, 45, "yes")
    assert (r["family"], r["source"]) == (
        "Qwen3.5", "shared/reference/qwen.md \u00a71.3 (MoE Qwen3.5 table); shared expert 1024 "
        "per the conflict note")
    m = rows["mixtral-8x7b"]
    assert (m["family"], m["type"], m["total_params_b"], m["active_params_b"], m["moe"]) == (
        "Mixtral", "mixtral", 46.703, 12.88, "yes")
    assert m["source"] == "mistralai/Mixtral-8x7B-v0.1 config.json (Hugging Face Hub)"
    s = rows["mistral-7b"]
    assert (s["family"], s["sliding_attention"], s["full_attention"]) == ("Mistral", 32, 0)
    assert {rows[n]["family"] for n in rows if n.startswith("llama")} == {"Llama"}


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


def _saved_trace(tmp_path):
    from workloads.schema import trace_from_rows

    meta = {"model": "synthetic", "scenario": {"phase": "decode", "batch": 1, "seq": 0,
                                               "context": 8}}
    tr = trace_from_rows([dict(kind="gemm", op="matmul", name="w", module="w", M=1, N=64,
                               K=64, flops=8192, bytes_read=8320, bytes_written=128,
                               weight_dtype="bf16")], meta)
    return tr.save(tmp_path / "ok.parquet")


def _schema_mismatch(tmp_path):
    import json as _json

    import pyarrow.parquet as pq

    table = pq.read_table(_saved_trace(tmp_path))
    meta = _json.loads(table.schema.metadata[b"codesign.trace"])
    meta["schema_version"] = 999
    path = tmp_path / "future.parquet"
    pq.write_table(table.replace_schema_metadata(
        {b"codesign.trace": _json.dumps(meta).encode()}), path)
    return path


def _corrupted(tmp_path):
    path = _saved_trace(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    return path


def _foreign(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), path)
    return path


@pytest.mark.parametrize(("make", "message"), [
    (_corrupted, "is not a readable Parquet trace"),
    (_foreign, "is a Parquet file but not a codesign trace"),
    (_schema_mismatch, "has trace schema version 999; this codesign reads version 3"),
])
def test_bad_trace_files_given_to_run_are_one_line_exit_2(tmp_path, capsys, make,
                                                          message) -> None:
    path = make(tmp_path)
    assert main(["run", str(path), "--target", "h100-sxm"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    # and a good trace file runs
    assert main(["run", str(_saved_trace(tmp_path)), "--target", "h100-sxm"]) == 0
