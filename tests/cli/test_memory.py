"""Memory capacity: a pass whose weights, KV cache and recurrent state exceed the target's
memory is flagged in the `run` table, on stderr and in the report, and refused with
--strict-memory (one line, exit 2, before timing); an absurd --batch trips the flag."""

from __future__ import annotations

import json

from codesign.cli import main
from codesign.result import Result
from workloads.registry import footprint, load_config, param_counts
from workloads.schema import trace_from_rows

ROWS = [{"kind": "gemm", "op": "matmul", "M": 1, "N": 4096, "K": 4096, "G": 1,
         "weight_dtype": "bf16", "flops": 2 * 4096 * 4096,
         "bytes_read": 2 * 4096 * 4097, "bytes_written": 2 * 4096, "repeat": 4}]


def _trace(tmp_path, model: str, batch: int = 1, context: int = 4096):
    """A tiny trace that records ``model``'s config, as extraction does."""
    meta = {"model": model, "config": load_config(model).hf_dict(),
            "scenario": {"phase": "decode", "batch": batch, "seq": 0, "context": context}}
    return trace_from_rows(ROWS, meta).save(tmp_path / f"{model}-{batch}.parquet")


def test_kv_cache_of_a_dense_model_is_the_textbook_figure():
    # Qwen3-8B: 36 layers x K and V x 8 KV heads x 128 dims x 2 bytes = 147,456 B per token
    fp = footprint(load_config("qwen3-8b"), batch=3, tokens=1000, weight_bytes=2,
                   act_bytes=2)
    assert fp.kv_cache == 147_456 * 3 * 1000
    assert fp.state == 0
    assert fp.weights == 2 * param_counts(load_config("qwen3-8b")).total


def test_a_sliding_window_layer_caches_at_most_its_window():
    # Mistral-7B: 32 sliding layers (window 4096) x K and V x 8 KV heads x 128 x 2 bytes
    c = load_config("mistral-7b")
    per_token = 32 * 2 * 8 * 128 * 2
    assert footprint(c, batch=1, tokens=1000, weight_bytes=2, act_bytes=2).kv_cache \
        == per_token * 1000
    assert footprint(c, batch=2, tokens=100_000, weight_bytes=2, act_bytes=2).kv_cache \
        == per_token * 4096 * 2
    # GPT-OSS-120B: 18 full layers keep every token, 18 sliding ones 128 (8 KV heads of 64)
    g = load_config("gpt-oss-120b")
    per_layer_token = 2 * 8 * 64 * 2
    assert footprint(g, batch=1, tokens=4097, weight_bytes=2, act_bytes=2).kv_cache \
        == per_layer_token * (18 * 4097 + 18 * 128)


def test_recurrent_state_of_linear_attention_layers_is_fp32_and_independent_of_tokens():
    c = load_config("qwen3.5-9b")
    linear = c.layer_types.count("linear_attention")
    per_seq = 32 * 128 * 128 * 4 + (2 * 16 * 128 + 32 * 128) * 4 * 2  # state + conv state
    short = footprint(c, batch=2, tokens=10, weight_bytes=0.5, act_bytes=2)
    long = footprint(c, batch=2, tokens=100_000, weight_bytes=0.5, act_bytes=2)
    assert short.state == long.state == linear * 2 * per_seq
    assert long.kv_cache == 10_000 * short.kv_cache
    assert short.weights == round(param_counts(c).total * 0.5)


def test_a_model_beyond_the_gpus_memory_is_flagged_in_the_table(capsys, tmp_path):
    path = _trace(tmp_path, "qwen3.5-397b-a17b")  # about 800 GB of bf16 weights
    assert main(["run", str(path), "-t", "l4", "-t", "h200", "-t", "c950-like", "-t",
                 "x280-like", "-t", "spacemit-x60-like"]) == 0
    out, err = capsys.readouterr()
    rows = {line.split()[0]: line.split() for line in out.splitlines()[3:]}
    header = out.splitlines()[1].split()
    fits = header.index("fits")
    assert rows["l4"][fits] == "NO" and rows["h200"][fits] == "NO"
    # RISC-V presets that declare dram.capacity_gb are checked too; x280-like declares none
    assert rows["c950-like"][fits] == "NO" and rows["spacemit-x60-like"][fits] == "NO"
    assert rows["x280-like"][fits] == "-"
    assert "does not fit l4" in err and "exceed the 24 GB memory" in err
    assert "does not fit h200" in err and "does not fit c950-like" in err
    assert "exceed the 16 GB memory" in err and "x280-like" not in err


def test_riscv_capacity_is_a_config_field(capsys, tmp_path):
    path = _trace(tmp_path, "qwen3-8b")  # about 17 GB
    rows = json.loads(_out(capsys, ["run", str(path), "-t", "x280-like", "--set",
                                    "dram.capacity_gb=32", "--format", "json"]))
    assert rows[0]["fits_memory"] is True and rows[0]["capacity_gb"] == 32.0
    assert main(["run", str(path), "-t", "x280-like", "--set", "dram.capacity_gb=8",
                 "--strict-memory"]) == 2
    assert "--strict-memory: qwen3-8b does not fit x280-like" in capsys.readouterr().err


def test_a_model_that_fits_is_not_flagged(capsys, tmp_path):
    path = _trace(tmp_path, "qwen3-8b")
    rows = json.loads(_out(capsys, ["run", str(path), "-t", "h100-sxm", "--format", "json"]))
    assert rows[0]["fits_memory"] is True
    assert rows[0]["capacity_gb"] == 80.0
    assert 16 < rows[0]["memory_gb"] < 18  # 8.2 B bf16 parameters + 0.6 GB of KV cache
    assert capsys.readouterr().err == ""


def _out(capsys, argv: list[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def test_strict_memory_refuses_in_one_line_before_timing(capsys, tmp_path, monkeypatch):
    from codesign.gpu import GPUTarget

    def refuse(*_a, **_k):
        raise AssertionError("timed a pass the target cannot hold")

    monkeypatch.setattr(GPUTarget, "simulate", refuse)
    path = _trace(tmp_path, "qwen3.5-397b-a17b")
    assert main(["run", str(path), "-t", "h100-sxm", "--strict-memory"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "--strict-memory: qwen3.5-397b-a17b does not fit h100-sxm" in err
    assert "exceed the 80 GB memory" in err


def test_an_absurd_batch_trips_the_capacity_flag(capsys, tmp_path):
    # qwen3-8b decode at batch 1,000,000: 147 KB/token x 4097 tokens x 1e6 = 604 TB of KV
    path = _trace(tmp_path, "qwen3-8b", batch=1_000_000)
    assert main(["run", str(path), "-t", "h100-sxm", "--strict-memory"]) == 2
    err = capsys.readouterr().err
    assert "KV cache 604,127" in err and err.count("\n") == 1


def test_the_capacity_travels_with_a_saved_result_and_into_the_report(capsys, tmp_path):
    path = _trace(tmp_path, "qwen3.5-397b-a17b")
    out = tmp_path / "res.parquet"
    assert main(["run", str(path), "-t", "l4", "-t", "h100-sxm", "-o", str(out)]) == 0
    res = Result.load(tmp_path / "res.l4.parquet")
    assert res.capacity_bytes == 24e9
    assert res.memory is not None and res.memory.fits is False
    html_path = tmp_path / "report.html"
    assert main(["report", str(tmp_path / "res.l4.parquet"), str(tmp_path / "res.h100-sxm.parquet"),
                 "-o", str(html_path)]) == 0
    page = html_path.read_text()
    assert "Over capacity: qwen3.5-397b-a17b does not fit l4" in page
    assert "Over capacity: qwen3.5-397b-a17b does not fit h100-sxm" in page
    assert "fits memory" in page


def test_a_trace_without_a_model_config_has_no_memory_verdict(capsys, decode_parquet):
    rows = json.loads(_out(capsys, ["run", str(decode_parquet), "-t", "l4", "--format",
                                    "json"]))
    assert rows[0]["fits_memory"] is None and rows[0]["memory_gb"] is None


def test_gpt_oss_runs_in_its_release_format_by_default():
    """The released GPT-OSS checkpoint stores the routed experts in MXFP4 (17 bytes per 32
    weights: 4-bit E2M1 values and an 8-bit shared exponent) and the rest in bf16 (its
    config.json's quantization_config); --weight-dtype overrides every weight."""
    import codesign as cd
    from workloads.registry import routed_expert_params

    c = load_config("gpt-oss-120b")
    experts = routed_expert_params(c)
    assert experts == 36 * 128 * (3 * 2880 * 2880 + 2 * 2880 + 2880)
    release = cd.trace("gpt-oss-120b", phase="decode", context=64)
    sc = release.meta["scenario"]
    assert (sc["weight_dtype"], sc["expert_weight_dtype"]) == ("bf16", "mxfp4")
    g = release.ops[release.ops.kind == "gemm"]
    assert set(g[g.name.str.startswith("experts.")].weight_dtype) == {"mxfp4"}
    assert set(g[g.name.isin(["q_proj", "o_proj", "lm_head"])].weight_dtype) == {"bf16"}
    r = cd.simulate(release, "h100-sxm")
    total = param_counts(c).total
    assert r.memory.weights == round((total - experts) * 2 + experts * 17 / 32)
    assert r.memory.fits  # about 65 GB: one 80 GB H100 holds it, as OpenAI states
    bf16 = cd.simulate(cd.trace("gpt-oss-120b", phase="decode", context=64,
                                weight_dtype="bf16"), "h100-sxm")
    assert bf16.memory.weights == 2 * total and not bf16.memory.fits
    # a model released in bf16 is unchanged by the release default
    q = cd.trace("qwen3-0.6b", phase="decode", context=8).meta["scenario"]
    assert q["weight_dtype"] == "bf16" and "expert_weight_dtype" not in q


def test_a_ggufs_output_matrix_counts_at_its_own_format(capsys):
    """Qwen3-0.6B Q4_0 as llama.cpp ships it: the tied embedding / output matrix in Q6_K
    (210 bytes per 256): the weights are every parameter at 18/32 bytes but the vocab x
    hidden matrix at 210/256, the GGUF's 358 MiB less its 16-bit norms; `run` takes it as
    --output-weight-dtype and refuses an unknown format in one line."""
    rows = json.loads(_out(capsys, ["run", "qwen3-0.6b", "-t", "spacemit-k1", "--phase",
                                    "decode", "--context", "8", "--weight-dtype", "q4_0",
                                    "--output-weight-dtype", "q6_k", "--format", "json"]))
    c = load_config("qwen3-0.6b")
    head = c.vocab * c.hidden
    want = (param_counts(c).total - head) * 18 / 32 + head * 210 / 256
    kv = 2 * c.layers * 9 * c.kv_heads * c.head_dim * 2  # 9 tokens of bf16 K and V
    assert abs(rows[0]["memory_gb"] * 1e9 - (want + kv)) < 1e3
    assert abs(want / 2**20 - 358.78) < 1.0  # llama-bench's size of the file
    assert main(["run", "qwen3-0.6b", "-t", "spacemit-k1", "--weight-dtype", "q4_0",
                 "--output-weight-dtype", "q5_k"]) == 2
    assert "unknown output weight dtype 'q5_k'" in capsys.readouterr().err
