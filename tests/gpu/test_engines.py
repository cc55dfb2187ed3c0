"""Engine profiles (codesign/presets/engines): fusion as rules over the trace, launch mode
per phase, the engine's step (host a + b x batch, sampler), unknown names refused."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import gpu
from codesign.errors import CodesignError
from codesign.gpu import fusion
from codesign.gpu import kernels as K
from codesign.gpu.model import (
    alone_seconds,
    engine_rows,
    launched_seconds,
    visible_host_seconds,
)
from workloads.schema import trace_from_rows

ENGINES = ("gpt-fast", "hf-transformers", "llama.cpp", "mlc-llm", "pytorch-eager", "tensorrt-llm",
           "vllm", "vllm-0.11")
H = 4096
LAYERS = ",".join(str(i) for i in range(4))


def _row(op_id: int, kind: str, name: str, **shape: int) -> dict:
    """One row of a Llama-style decode layer body (batch 1), bytes as the trace counts."""
    row = {"op_id": op_id, "layer": 0, "layers": LAYERS, "layer_type": "full_attention",
           "module": f"model.layers.0.{name}", "kind": kind, "op": {
               "gemm": "matmul", "norm": "rmsnorm", "rope": "rope", "copy": "scatter",
               "attention": "sdpa", "elementwise": "add", "activation": "swiglu"}[kind],
           "name": name, "dtype": "bf16", "repeat": 4, "flops": 0, "bytes_read": 0,
           "bytes_written": 0, **shape}
    if kind == "gemm":
        row.update(weight_dtype="bf16", G=1, flops=2 * shape["M"] * shape["N"] * shape["K"],
                   bytes_read=2 * (shape["K"] * shape["N"] + shape["M"] * shape["K"]),
                   bytes_written=2 * shape["M"] * shape["N"])
    elif kind == "attention":
        row.update(bytes_read=2 * 2 * shape["Hkv"] * shape["Skv"] * shape["D"],
                   bytes_written=2 * shape["Hq"] * shape["D"], flops=4 * 32 * 129 * 128)
    else:
        n = shape.get("M", 1) * shape.get("N", 1)
        row.update(bytes_read=2 * n, bytes_written=2 * n, flops=n)
    return row


def layer_rows() -> list[dict]:
    """The rows of one Llama-2-7B decode layer body as the HF modeling code runs it."""
    gemm = {"M": 1, "K": H}
    names = [
        ("norm", "input_layernorm", {"M": 1, "N": H}),
        ("gemm", "q_proj", {**gemm, "N": H}), ("gemm", "k_proj", {**gemm, "N": H}),
        ("gemm", "v_proj", {**gemm, "N": H}),
        ("rope", "q_rope", {"M": 32, "N": 128}), ("rope", "k_rope", {"M": 32, "N": 128}),
        ("copy", "k_cache_write", {"M": 32, "N": 128}),
        ("copy", "v_cache_write", {"M": 32, "N": 128}),
        ("attention", "attention", {"B": 1, "Hq": 32, "Hkv": 32, "Sq": 1, "Skv": 129,
                                    "D": 128}),
        ("gemm", "o_proj", {**gemm, "N": H}), ("elementwise", "add", {"M": 1, "N": H}),
        ("norm", "post_attention_layernorm", {"M": 1, "N": H}),
        ("gemm", "gate_proj", {**gemm, "N": 11008}), ("gemm", "up_proj", {**gemm, "N": 11008}),
        ("activation", "act_fn", {"M": 1, "N": 11008}),
        ("gemm", "down_proj", {"M": 1, "K": 11008, "N": H}),
        ("elementwise", "add", {"M": 1, "N": H}),
    ]
    return [_row(i, kind, name, **shape) for i, (kind, name, shape) in enumerate(names)]


def decode_trace():
    return trace_from_rows(layer_rows(), {"model": "llama-layer",
                                          "scenario": {"phase": "decode", "batch": 1}})


def _kernels(engine: str) -> int:
    res = gpu.make("h100-sxm", {"engine": engine}).simulate(decode_trace())
    return int(res.ops["kernels"].sum())


def test_every_engine_preset_loads_and_names_itself():
    assert tuple(gpu.engines()) == ENGINES
    for name in ENGINES:
        t = gpu.make("a100-80gb", {"engine": name})
        assert t.config.engine.name == name
        _, meta = gpu.engine_profile(name)
        assert meta["description"] and meta["sources"]


def test_unknown_engine_is_one_line_naming_the_choices():
    with pytest.raises(CodesignError) as exc:
        gpu.make("h100-sxm", {"engine": "tgi"})
    msg = str(exc.value)
    assert "'tgi'" in msg and "vllm" in msg and "\n" not in msg


def test_fusion_counts_the_kernels_each_engine_launches():
    # attention at Skv 129 is one split-KV kernel (no combine: one 256-key chunk)
    # HF: every traced op is a kernel (17 rows)
    assert _kernels("hf-transformers") == 17
    assert _kernels("llama.cpp") == 17
    # vLLM: QKV and gate+up GEMMs, q+k RoPE, K+V cache write concatenated; the two
    # residual adds run inside the next norm (the last one wraps to the first norm)
    assert _kernels("vllm") == 17 - 2 - 1 - 1 - 1 - 2
    # TensorRT-LLM also runs RoPE and the cache write inside attention
    assert _kernels("tensorrt-llm") == 17 - 2 - 1 - 2 - 2 - 2
    # gpt-fast: wqkv only (gate and up stay separate), RoPE of q and k in one kernel that
    # also writes the cache, adds inside the norms
    assert _kernels("gpt-fast") == 17 - 2 - 1 - 2 - 2


def test_absorb_wraps_around_the_layer_body_only_for_collapsed_layers():
    eng = gpu.make("h100-sxm", {"engine": "vllm"}).config.engine
    rows = layer_rows()
    p = fusion.plan(eng, rows)
    assert p.absorbed == {10: 11, 16: 0}  # the last add feeds the next repetition's norm
    lone = [dict(r, layers="") for r in rows]
    assert fusion.plan(eng, lone).absorbed == {10: 11}


def test_a_concatenated_gemm_is_one_gemm_with_the_outputs_side_by_side():
    t = gpu.make("h100-sxm", {"engine": "vllm", "launch.mode": "graph"})
    res = t.simulate(decode_trace())
    qkv = res.ops[res.ops["name"].isin(["q_proj", "k_proj", "v_proj"])]
    one = K.gemm(t.config, 1, 3 * H, H, 1, "bf16", "bf16",
                 min_flops=3 * 2 * H * H, min_bytes=3 * (2 * H * H + 2 * H + 2 * H))
    assert qkv["seconds"].sum() == pytest.approx(launched_seconds(t.config, one.seconds))
    assert list(qkv["kernels"]) == [1, 0, 0]
    # the rows share it by bytes: equal shapes, equal shares
    assert qkv["seconds"].nunique() == 1


def test_launch_mode_follows_the_phase():
    t = gpu.make("h100-sxm", {"engine": "vllm"})
    assert t.phase_config("decode").launch.mode == "graph"
    assert t.phase_config("prefill").launch.mode == "eager"
    forced = gpu.make("h100-sxm", {"engine": "vllm", "launch.mode": "eager"})
    assert forced.phase_config("decode").launch.mode == "eager"
    hf = gpu.make("h100-sxm", {"engine": "hf-transformers"})
    assert hf.phase_config("decode").launch.mode == "eager"


def test_engine_step_is_a_plus_b_batch_and_the_sampler_streams_the_logits():
    cfg = gpu.make("a100-80gb", {"engine": "vllm"}).phase_config("decode")
    e = cfg.engine
    for batch in (1, 8, 60):
        rows = engine_rows(cfg, "decode", batch, 152064, 100)
        host = rows[rows["kind"] == "host"].iloc[0]
        assert host["seconds"] == pytest.approx((e.step_us + e.step_us_per_seq * batch) * 1e-6)
        sampler = rows[rows["op"] == "sampler"].iloc[0]
        logits = batch * 152064 * 4.0 * e.sampler_passes
        assert sampler["bytes"] == logits
        one = K.stream(cfg, "s", logits / e.sampler_kernels, 0.0, ctas=float(batch))
        assert sampler["seconds"] == pytest.approx(
            e.sampler_kernels * alone_seconds(cfg, one.seconds))
    pre = engine_rows(cfg, "prefill", 1, 1000, 0)
    dec = engine_rows(cfg, "decode", 1, 1000, 0)
    assert pre["seconds"].iloc[0] - dec["seconds"].iloc[0] == pytest.approx(
        e.prefill_step_us * 1e-6)


def test_a_model_pass_pays_the_engine_step_and_a_kernel_case_does_not():
    t = gpu.make("h100-sxm", {"engine": "vllm"})
    bare = t.simulate(decode_trace())
    meta = {"model": "llama-layer", "scenario": {"phase": "decode", "batch": 1},
            "config": {"vocab_size": 32000}}
    model = t.simulate(trace_from_rows(layer_rows(), meta))
    assert "host" not in set(bare.ops["kind"])
    extra = model.latency_s - bare.latency_s
    steps = engine_rows(t.phase_config("decode"), "decode", 1, 32000, 0)
    assert extra == pytest.approx(float(steps["total_seconds"].sum()))
    assert math.isclose(model.seconds_by_kind()["host"], t.config.engine.step_us * 1e-6
                        + t.config.engine.step_us_per_seq * 1e-6)


def test_engine_rules_refuse_malformed_values():
    with pytest.raises(CodesignError, match="X>Y"):
        gpu.make("h100-sxm", {"engine.absorb": "rope"})
    with pytest.raises(CodesignError, match="engine launch mode 'lazy'"):
        gpu.make("h100-sxm", {"engine.decode_launch": "lazy"})


def test_engine_changes_the_target_fingerprint():
    a = gpu.make("h100-sxm", {"engine": "vllm"}).fingerprint
    b = gpu.make("h100-sxm", {"engine": "hf-transformers"}).fingerprint
    assert a != b


def test_matches_kind_and_name_globs():
    row = pd.Series({"kind": "copy", "name": "k_cache_write"})
    assert fusion.matches("copy", row)
    assert fusion.matches("copy:*cache_write", row)
    assert fusion.matches("copy:v_*,k_*", row)
    assert not fusion.matches("copy:v_*", row)
    assert not fusion.matches("rope", row)


def test_rules_fuse_a_gated_deltanet_layer_without_model_specific_code():
    """Qwen3.5's Gated DeltaNet layer as vLLM runs it: in_proj_qkv/z/b/a one GEMM, SiLU in
    the conv kernel, the gating's pointwise ops one kernel, the q/k L2 norms and the
    gating's add inside the delta rule, the residual adds inside the norms."""
    from codesign import api

    tr = api.trace("qwen3.5-9b", phase="decode", context=64)
    rows = int((tr.ops["layer_type"] == "linear_attention").sum())
    counts = {}
    for engine in ("hf-transformers", "vllm"):
        ops = gpu.make("h100-sxm", {"engine": engine}).simulate(tr).ops
        counts[engine] = int(ops.loc[ops["layer_type"] == "linear_attention", "kernels"].sum())
    assert counts["hf-transformers"] == rows == 28
    # norm, in_proj, conv1d, gating, delta rule, copy, gated norm, out_proj, norm,
    # gate+up, act, down
    assert counts["vllm"] == 12


# ---- host overlap (vLLM 0.11 async scheduling, issue #17) ------------------------------

def test_visible_host_time_by_hand():
    assert visible_host_seconds(2.0, 0.0, 5.0) == 2.0  # host and GPU take turns
    assert visible_host_seconds(2.0, 1.0, 5.0) == 0.0  # hidden under a longer GPU step
    assert visible_host_seconds(7.0, 1.0, 5.0) == pytest.approx(2.0)  # the host's excess
    # half overlapped: 1 s in turn, and the other 1 s hides under 0.4 s of GPU but for 0.6
    assert visible_host_seconds(2.0, 0.5, 0.4) == pytest.approx(1.0 + 0.6)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(host=st.floats(0.0, 1.0), gpu=st.floats(0.0, 1.0), a=st.floats(0.0, 1.0),
       b=st.floats(0.0, 1.0))
def test_more_overlap_never_shows_more_host_and_never_less_than_its_excess(host, gpu, a, b):
    lo, hi = sorted((a, b))
    v_lo, v_hi = visible_host_seconds(host, lo, gpu), visible_host_seconds(host, hi, gpu)
    assert v_hi <= v_lo + 1e-12
    for v in (v_lo, v_hi):
        assert max(host - gpu, 0.0) - 1e-12 <= v <= host + 1e-12


def test_vllm_011_fuses_as_vllm_and_overlaps_its_host_step():
    assert _kernels("vllm-0.11") == _kernels("vllm")
    meta = {"model": "llama-layer", "scenario": {"phase": "decode", "batch": 8},
            "config": {"vocab_size": 32000}}
    tr = trace_from_rows(layer_rows(), meta)
    for engine, overlap in (("vllm", 0.0), ("vllm-0.11", 1.0)):
        t = gpu.make("h100-sxm", {"engine": engine})
        assert t.config.engine.host_overlap == overlap
        res = t.simulate(tr)
        e = t.config.engine
        host = (e.step_us + e.step_us_per_seq * 8) * 1e-6
        ops = res.ops
        gpu_s = float(ops.loc[ops["kind"] != "host", "total_seconds"].sum())
        # independent: turns (host + GPU) without overlap, the longer side with it
        want = gpu_s + host if overlap == 0 else max(gpu_s, host)
        assert res.latency_s == pytest.approx(want, rel=1e-9)
    # a GPU step shorter than the host's: the host's excess shows
    slow = gpu.make("h100-sxm", {"engine": "vllm-0.11", "engine.step_us": 1e6})
    res = slow.simulate(tr)
    assert res.latency_s == pytest.approx((1e6 + 20.0 * 8) * 1e-6, rel=1e-9)
    assert res.seconds_by_kind()["host"] > 0.0


def test_host_overlap_outside_zero_to_one_is_refused():
    with pytest.raises(CodesignError, match="host_overlap"):
        gpu.make("h100-sxm", {"engine.host_overlap": 1.5})
