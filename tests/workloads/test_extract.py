"""Trace extraction against independent formulas and against real-tensor runs."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from workloads.errors import WorkloadError
from workloads.extract import trace
from workloads.registry import load_config, model_names, param_counts

DATA = Path(__file__).resolve().parents[1] / "data"
TINY_DENSE = str(DATA / "tiny-qwen3.5.json")
TINY_MOE = str(DATA / "tiny-qwen3.5-moe.json")
TINY_LLAMA = str(DATA / "tiny-llama.json")
TINY_MISTRAL = str(DATA / "tiny-mistral.json")  # sliding window 16
TINY_MIXTRAL = str(DATA / "tiny-mixtral.json")

SEQ, CONTEXT, BATCH = 24, 40, 2


def _gemm_flops(tr) -> int:
    o = tr.ops
    return int((o.flops * o.repeat)[o.kind == "gemm"].sum())


@pytest.mark.parametrize("name", model_names())
def test_every_model_traces_and_gemm_flops_follow_its_active_parameters(name: str) -> None:
    """2 x (active params outside embedding and lm_head) x new tokens + 2 x lm_head x batch.

    Prefill computes logits for the last position only, as serving engines do. The
    parameter counts come from the config analytically (workloads.registry), not from the
    trace, and include norms and conv weights, which are not GEMMs: hence 1%.
    """
    cfg = load_config(name)
    pc = param_counts(cfg)
    body = pc.active - pc.embedding - (0 if cfg.tied else pc.lm_head)
    for phase, kw, new_tokens in (("prefill", {"seq": SEQ}, BATCH * SEQ),
                                  ("decode", {"context": CONTEXT}, BATCH)):
        tr = trace(name, phase=phase, batch=BATCH, **kw)
        expected = 2 * body * new_tokens + 2 * pc.lm_head * BATCH
        assert _gemm_flops(tr) == pytest.approx(expected, rel=0.01), (name, phase)
        layers = tr.ops[tr.ops.layer >= 0]
        # every decoder layer is accounted for exactly once by the collapsed bodies
        counted = sorted(int(x) for s in layers.layers.unique() for x in s.split(","))
        assert counted == list(range(cfg.layers))


def test_attention_flops_follow_the_causal_prefill_formula(trace_9b_prefill) -> None:
    att = trace_9b_prefill.ops[trace_9b_prefill.ops.kind == "attention"]
    assert len(att) == 1 and int(att.repeat.iloc[0]) == 8  # 8 full-attention layers
    r = att.iloc[0]
    assert (r.B, r.Hq, r.Hkv, r.Sq, r.Skv, r.D, r.causal) == (1, 16, 4, 256, 256, 256, True)
    s = 256
    # QK^T and PV over the lower triangle (diagonal included): 2 * 2 * D per kept pair
    assert r.flops == 4 * 16 * 256 * (s * (s + 1) // 2)


def test_attention_flops_follow_the_decode_formula(trace_35b_decode) -> None:
    att = trace_35b_decode.ops[trace_35b_decode.ops.kind == "attention"].iloc[0]
    ctx = 300
    assert (att.B, att.Hq, att.Hkv, att.Sq, att.Skv, att.D) == (2, 16, 2, 1, ctx + 1, 256)
    assert att.flops == 4 * 2 * 16 * 256 * (ctx + 1)  # one query against ctx + 1 keys


def test_deltanet_is_captured_as_conv_and_delta_rule_ops(trace_9b_prefill,
                                                         trace_35b_decode) -> None:
    pre = trace_9b_prefill.ops
    la = pre[pre.kind == "linear_attention"].iloc[0]
    # qwen.md §1.2: 9B has 32 value heads of dim 128, 16 key heads; chunk 64 (§4.2)
    assert (la.op, la.B, la.Hq, la.Sq, la.D, la.Dv, la.chunk, la["repeat"]) == (
        "chunk_gated_delta_rule", 1, 32, 256, 128, 128, 64, 24)
    conv = pre[pre.kind == "conv1d"].iloc[0]
    assert (conv.op, conv.N, conv.Sq, conv.W) == ("causal_conv1d", 8192, 256, 4)
    dec = trace_35b_decode.ops
    la = dec[dec.kind == "linear_attention"].iloc[0]
    assert (la.op, la.B, la.Sq, la.Skv, la.chunk) == ("recurrent_gated_delta_rule", 2, 1, 300, 0)
    assert dec[dec.kind == "conv1d"].iloc[0].op == "causal_conv1d_update"
    assert set(dec[dec.kind == "norm"].op) >= {"l2norm", "gated_rmsnorm", "rmsnorm_1p"}


def test_moe_block_is_router_plus_grouped_expert_gemms(trace_35b_decode) -> None:
    o = trace_35b_decode.ops
    layer0 = o[o.layer == 0]
    router = layer0[layer0.kind == "router"].iloc[0]
    assert (router.M, router.N, router.topk) == (2, 256, 8)
    gate_up = layer0[layer0.name == "experts.gate_up_proj"]
    # balanced routing of 2 tokens x top-8: 16 experts get one token each
    assert gate_up[["M", "N", "K", "G"]].values.tolist() == [[1, 1024, 2048, 16]]


def test_views_disappear_and_every_row_has_a_known_kind(trace_9b_prefill) -> None:
    from workloads.schema import KINDS, OPS

    o = trace_9b_prefill.ops
    assert set(o.kind) <= set(KINDS)
    assert not o.name.isin(["view", "reshape", "transpose", "permute", "expand"]).any()
    for kind, op in zip(o.kind, o.op, strict=True):
        assert op in OPS[kind]


def test_weight_dtype_changes_weight_bytes_only() -> None:
    kw = dict(phase="decode", context=16)
    bf16 = trace("qwen3.5-0.8b", weight_dtype="bf16", **kw).ops
    int4 = trace("qwen3.5-0.8b", weight_dtype="int4", **kw).ops
    g16, g4 = bf16[bf16.kind == "gemm"], int4[int4.kind == "gemm"]
    assert (g16.flops.values == g4.flops.values).all()
    weights16 = g16.N * g16.K * 2
    activ = g16.bytes_read - weights16
    assert (g4.bytes_read.values == (activ + g16.N * g16.K // 2).values).all()
    assert set(g4.weight_dtype) == {"int4"}


def test_output_weight_dtype_changes_the_output_matrix_only() -> None:
    """A GGUF's Q6_K output matrix in a Q4_0 file: lm_head moves 210 bytes per 256 weights
    (block_q6_K) beside its activations, every other GEMM stays Q4_0, the FLOPs do not move,
    and the scenario records it."""
    kw = dict(phase="decode", context=16, weight_dtype="q4_0")
    plain = trace("qwen3.5-0.8b", **kw)
    mixed = trace("qwen3.5-0.8b", output_weight_dtype="q6_k", **kw)
    a, b = plain.ops, mixed.ops
    head = b.name == "lm_head"
    assert head.sum() == 1 and set(b.weight_dtype[head]) == {"q6_k"}
    assert set(b.weight_dtype[~head & (b.kind == "gemm")]) == {"q4_0"}
    assert (a.flops.values == b.flops.values).all()
    assert (a.bytes_read[~head].values == b.bytes_read[~head].values).all()
    row = b[head].iloc[0]
    act = a[head].iloc[0].bytes_read - math.ceil(row.N * row.K * 18 / 32)
    assert row.bytes_read == act + math.ceil(row.N * row.K * 210 / 256)
    assert mixed.scenario.output_dtype == "q6_k" and plain.scenario.output_dtype == "q4_0"
    with pytest.raises(WorkloadError, match=r"unknown output weight dtype 'q5_k'; valid: .*q6_k"):
        trace("qwen3.5-0.8b", output_weight_dtype="q5_k", **kw)


def test_zipf_routing_is_skewed_seeded_and_keeps_total_expert_work() -> None:
    kw = dict(phase="prefill", seq=64, batch=2)
    bal = trace("qwen3.5-35b-a3b", **kw).ops
    z1 = trace("qwen3.5-35b-a3b", routing="zipf:1.2:3", **kw).ops
    z2 = trace("qwen3.5-35b-a3b", routing="zipf:1.2:3", **kw).ops
    assert z1.equals(z2)
    e = "experts.gate_up_proj"
    assert (bal[bal.name == e].flops * bal[bal.name == e].repeat).sum() == \
        (z1[z1.name == e].flops * z1[z1.name == e].repeat).sum()
    assert z1[z1.name == e].M.max() > 4 * bal[bal.name == e].M.max()


@pytest.mark.parametrize("cfg", [TINY_DENSE, TINY_MOE, TINY_LLAMA, TINY_MISTRAL, TINY_MIXTRAL])
@pytest.mark.parametrize(("phase", "kw"), [("prefill", {"seq": 70}), ("decode", {"context": 9}),
                                           ("decode", {"context": 40})])
def test_shape_only_trace_equals_a_real_tensor_run(cfg: str, phase: str, kw: dict) -> None:
    """Real CPU tensors and random weights give the same ops and shapes, routing aside."""
    fake = trace(cfg, phase=phase, batch=2, collapse=False, **kw).ops
    real = trace(cfg, phase=phase, batch=2, collapse=False, fake=False, **kw).ops
    experts = ("experts.gate_up_proj", "experts.down_proj")
    key = ["module", "kind", "op", "name", "dtype", "M", "N", "K", "G", "B", "Hq", "Hkv",
           "Sq", "Skv", "D", "Dv", "chunk", "W", "topk", "window", "flops", "bytes_read",
           "bytes_written"]
    a = fake[~fake.name.isin(experts)][key].reset_index(drop=True)
    b = real[~real.name.isin(experts)][key].reset_index(drop=True)
    assert len(a) > 50
    assert a.equals(b)
    # routing aside: the expert GEMMs carry the same total work, T*k token-expert pairs
    fe, re_ = fake[fake.name.isin(experts)], real[real.name.isin(experts)]
    assert (fe.flops.sum(), (fe.M * fe.G).sum()) == (re_.flops.sum(), (re_.M * re_.G).sum())


def test_collapsed_and_expanded_traces_have_equal_totals(trace_35b_decode) -> None:
    collapsed = trace_35b_decode
    expanded = collapsed.expand()
    assert len(expanded.ops) > len(collapsed.ops)
    assert (expanded.ops.repeat == 1).all()
    assert collapsed.totals().equals(expanded.totals())
    assert collapsed.total_flops == expanded.total_flops
    assert collapsed.total_bytes == expanded.total_bytes
    direct = trace("qwen3.5-35b-a3b", phase="decode", batch=2, context=300, collapse=False)
    assert direct.totals().equals(collapsed.totals())
    assert sorted(direct.ops.module) == sorted(expanded.ops.module)


@pytest.mark.parametrize(("kw", "message"), [
    ({"phase": "prefill", "seq": 0}, "seq must be a positive integer, got 0"),
    ({"phase": "decode", "context": -1}, "context must be a non-negative integer, got -1"),
    ({"phase": "decode", "seq": 5}, "decode takes --context"),
    ({"phase": "train"}, "unknown phase 'train'; valid: prefill, decode"),
    ({"phase": "prefill", "batch": 0}, "batch must be a positive integer"),
    ({"phase": "prefill", "weight_dtype": "fp6"}, "unknown weight dtype 'fp6'; valid: .*fp8"),
    ({"phase": "prefill", "routing": "skewed"}, "unknown routing policy 'skewed'"),
])
def test_impossible_scenarios_are_refused(kw: dict, message: str) -> None:
    with pytest.raises(WorkloadError, match=message):
        trace("qwen3.5-0.8b", **kw)


def test_in_place_copies_read_only_their_source(trace_35b_decode) -> None:
    """copy_ (the recurrent-state write-back) reads the source, not the destination it
    overwrites."""
    o = trace_35b_decode.ops
    copies = o[(o.kind == "copy") & (o.name == "copy")]
    assert len(copies) > 0
    same = copies[copies.bytes_read == copies.bytes_written]
    assert len(same) == len(copies)


# ---- the families beside Qwen (issue #13) ---------------------------------------------
def test_llama_and_mixtral_layers_are_what_their_modeling_code_builds() -> None:
    """No QKV bias and no q/k norm (Llama, unlike qwen2/qwen3); Mixtral's MoE goes through
    the router + grouped-expert path with its 8 experts and top-2."""
    llama = trace("llama-3.1-8b", phase="decode", context=16).ops
    body = llama[llama.layer == 0]
    gemms = body[body.kind == "gemm"]
    assert gemms[["name", "N", "K"]].values.tolist() == [
        ["q_proj", 4096, 4096], ["k_proj", 1024, 4096], ["v_proj", 1024, 4096],
        ["o_proj", 4096, 4096], ["gate_proj", 14336, 4096], ["up_proj", 14336, 4096],
        ["down_proj", 4096, 14336]]
    assert (gemms.flops == 2 * gemms.N * gemms.K).all()  # no bias adds
    assert set(body[body.kind == "norm"].name) == {"input_layernorm",
                                                    "post_attention_layernorm"}
    mix = trace("mixtral-8x7b", phase="decode", batch=2, context=16).ops
    layer0 = mix[mix.layer == 0]
    router = layer0[layer0.kind == "router"].iloc[0]
    assert (router.M, router.N, router.topk) == (2, 8, 2)
    gate_up = layer0[layer0.name == "experts.gate_up_proj"]
    # balanced routing of 2 tokens x top-2 over 8 experts: 4 experts get one token each
    assert gate_up[["M", "N", "K", "G"]].values.tolist() == [[1, 2 * 14336, 4096, 4]]


def _pairs_by_mask(sq: int, skv: int, window: int) -> int:
    """Kept (query, key) pairs counted on an explicit boolean mask."""
    import numpy as np

    q = np.arange(skv - sq, skv)[:, None]
    k = np.arange(skv)[None, :]
    keep = k <= q
    if window:
        keep &= k > q - window
    return int(keep.sum())


def test_sliding_window_prefill_counts_only_the_keys_in_the_window() -> None:
    tr = trace(TINY_MISTRAL, phase="prefill", batch=2, seq=70)
    att = tr.ops[tr.ops.kind == "attention"]
    assert set(att.layer_type) == {"sliding_attention"}
    r = att.iloc[0]
    assert (r.Sq, r.Skv, r.window, r.Hq, r.D) == (70, 70, 16, 4, 16)
    assert r.flops == 4 * 2 * 4 * 16 * _pairs_by_mask(70, 70, 16)
    assert r.flops < 4 * 2 * 4 * 16 * _pairs_by_mask(70, 70, 0)


def test_sliding_window_decode_reads_a_window_of_kv_cache() -> None:
    """Past the window the sliding cache holds window - 1 tokens: the step attends to 16
    keys and reads 16 rows of K and V, however long the context."""
    for context in (40, 400):
        att = trace(TINY_MISTRAL, phase="decode", batch=2, context=context).ops
        r = att[att.kind == "attention"].iloc[0]
        assert (r.Sq, r.Skv, r.window) == (1, 16, 16)
        assert r.flops == 4 * 2 * 4 * 16 * 16
        q_bytes, kv_bytes = 2 * 4 * 1 * 16 * 2, 2 * (2 * 2 * 16 * 16 * 2)  # bf16
        assert r.bytes_read == q_bytes + kv_bytes
    short = trace(TINY_MISTRAL, phase="decode", batch=2, context=9).ops
    assert short[short.kind == "attention"].iloc[0].Skv == 10  # inside the window: all of it


def test_mistral_7b_decode_beyond_its_4096_window() -> None:
    o = trace("mistral-7b", phase="decode", context=5000).ops
    r = o[o.kind == "attention"].iloc[0]
    assert (r.Sq, r.Skv, r.window, r["repeat"]) == (1, 4096, 4096, 32)
    assert r.bytes_read == 32 * 128 * 2 + 2 * 8 * 4096 * 128 * 2


def test_window_pairs_equal_the_mask_transformers_builds(monkeypatch) -> None:
    """The trace's windowed FLOPs count exactly the pairs of the mask that transformers'
    masking_utils hands the attention function (a real-tensor run)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    kept: list[int] = []
    orig = ALL_ATTENTION_FUNCTIONS["sdpa"]

    def counting(module, query, key, value, attention_mask, *args, **kwargs):
        kept.append(int(attention_mask[0, 0].sum()))  # one sequence, one head
        return orig(module, query, key, value, attention_mask, *args, **kwargs)

    monkeypatch.setitem(ALL_ATTENTION_FUNCTIONS, "sdpa", counting)
    tr = trace(TINY_MISTRAL, phase="prefill", batch=1, seq=50, fake=False, collapse=False)
    att = tr.ops[tr.ops.kind == "attention"]
    assert kept == [_pairs_by_mask(50, 50, 16)] * 3
    assert (att.flops == 4 * 4 * 16 * kept[0]).all()


@pytest.mark.parametrize("name", ["llama-2-7b", "llama-2-70b", "llama-3.1-8b", "mistral-7b",
                                  "mixtral-8x7b", "qwen3-0.6b", "qwen3.5-35b-a3b"])
def test_decode_weight_bytes_follow_the_active_parameters(name: str) -> None:
    """One token reads every weight it uses once: 2 bytes x (active params - embedding
    table, + the lm_head when it is the tied table); norms are not GEMMs, hence 1%."""
    cfg = load_config(name)
    pc = param_counts(cfg)
    o = trace(name, phase="decode", batch=1, context=8).ops
    g = o[(o.kind == "gemm") & (o.weight_dtype != "")]
    weights = ((g.bytes_read - g.G * g.M * g.K * 2) * g.repeat).sum()  # minus bf16 inputs
    expected = 2 * (pc.active - pc.embedding + (pc.lm_head if cfg.tied else 0))
    assert weights == pytest.approx(expected, rel=0.01)


def test_a_mixtral_config_with_a_window_traces_sliding_layers(tmp_path) -> None:
    """Mixtral's modeling code passes its config's sliding_window too (8x7B has none)."""
    import json

    fields = {**load_config(TINY_MIXTRAL).hf_dict(), "sliding_window": 16}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(fields))
    o = trace(str(path), phase="prefill", seq=40).ops
    att = o[o.kind == "attention"]
    assert att[["layer_type", "Sq", "Skv", "window"]].values.tolist() == [
        ["sliding_attention", 40, 40, 16]]
    assert att.flops.iloc[0] == 4 * 4 * 16 * _pairs_by_mask(40, 40, 16)


TINY_GPT_OSS = str(DATA / "tiny-gpt-oss.json")


def test_gpt_oss_layers_alternate_windows_and_carry_sinks() -> None:
    """GPT-OSS (modeling_gpt_oss.py, eager attention): sliding layers attend to the last
    `window` keys, full layers to all; every attention row has sinks; q/k/v/o have biases;
    the MoE goes through its top-k router (with bias) and biased experts."""
    o = trace(TINY_GPT_OSS, phase="decode", batch=1, context=32).ops
    att = o[o.kind == "attention"]
    assert att[["layer_type", "Skv", "window", "sinks"]].values.tolist() == [
        ["sliding_attention", 8, 8, True], ["full_attention", 33, 0, True]]
    assert (att["repeat"] == 2).all()
    body = o[o.layer == 0]
    router = body[body.kind == "router"].iloc[0]
    assert (router.N, router.topk) == (8, 2)
    gate_up = body[body.name == "experts.gate_up_proj"].iloc[0]
    assert (gate_up.N, gate_up.K) == (2 * 64, 64)
    # a prefill longer than the window keeps Skv = Sq and counts only the window's pairs
    p = trace(TINY_GPT_OSS, phase="prefill", batch=1, seq=20).ops
    sliding = p[(p.kind == "attention") & (p.layer_type == "sliding_attention")].iloc[0]
    assert (sliding.Sq, sliding.Skv, sliding.window, sliding.sinks) == (20, 20, 8, True)
    assert sliding.flops == 4 * 8 * 16 * _pairs_by_mask(20, 20, 8)


def test_gpt_oss_shape_only_trace_is_the_real_tensor_run() -> None:
    fake = trace(TINY_GPT_OSS, phase="prefill", batch=1, seq=12, collapse=False).ops
    real = trace(TINY_GPT_OSS, phase="prefill", batch=1, seq=12, collapse=False,
                 fake=False).ops
    cols = ["kind", "op", "name", "M", "N", "K", "Sq", "Skv", "window", "sinks"]
    dense = ~fake.name.str.startswith("experts.")  # expert token counts: routing's own
    assert fake[dense][cols].values.tolist() == real[~real.name.str.startswith(
        "experts.")][cols].values.tolist()



def test_gpt_oss_decode_weight_bytes_follow_its_active_parameters_and_formats() -> None:
    """One token reads the bf16 weights it uses (attention, router, lm_head) and its 4
    experts in MXFP4 (17 bytes per 32 weights): the analytic count within 1%."""
    from workloads.registry import _expert_params

    cfg = load_config("gpt-oss-120b")
    pc = param_counts(cfg)
    o = trace("gpt-oss-120b", phase="decode", batch=1, context=8).ops
    g = o[(o.kind == "gemm") & (o.weight_dtype != "")]
    weights = ((g.bytes_read - g.G * g.M * g.K * 2) * g.repeat).sum()
    experts = 36 * 4 * _expert_params(cfg)
    bf16 = pc.active - pc.embedding - experts
    assert weights == pytest.approx(2 * bf16 + experts * 17 / 32, rel=0.01)
    flops = (g.flops * g.repeat).sum()
    assert flops == pytest.approx(2 * (pc.active - pc.embedding), rel=0.01)


def test_a_batched_matmul_outside_a_module_is_g_gemms_with_their_flops() -> None:
    """An aten bmm of [G, M, K] @ [G, K, N] is a G-GEMM row whose FLOPs the kind's count
    (workloads.costs) gives: 2·G·M·N·K."""
    import torch

    from workloads.extract import _Emitter
    from workloads.routing import parse_routing
    from workloads.schema import Scenario

    em = _Emitter(cfg=load_config(TINY_DENSE), routing=parse_routing("balanced"), fake=False,
                  scenario=Scenario(phase="prefill", batch=1, seq=4, context=0,
                                    weight_dtype="bf16", routing="balanced"))
    a, b = torch.randn(3, 4, 5), torch.randn(3, 5, 6)
    em.aten(torch.ops.aten.bmm.default, (a, b), {}, torch.bmm(a, b))
    (row,) = em.rows
    assert (row["kind"], row["G"], row["M"], row["N"], row["K"]) == ("gemm", 3, 4, 6, 5)
    assert row["flops"] == 2 * 3 * 4 * 6 * 5


# ---- one period of the layer pattern (issue #12) ---------------------------------------
PREFILL, DECODE = {"phase": "prefill", "seq": 48}, {"phase": "decode", "context": 96}


@pytest.mark.parametrize(("model", "kw"), [
    ("qwen3.5-0.8b", PREFILL), ("qwen3.5-0.8b", DECODE),  # 3 linear + 1 full attention
    ("qwen3.5-35b-a3b", PREFILL), ("qwen3.5-35b-a3b", DECODE),  # the same, MoE
    ("qwen3-next-80b-a3b", DECODE),
    ("gpt-oss-20b", PREFILL), ("gpt-oss-20b", DECODE),  # sliding and full alternate
    ("qwen3-0.6b", DECODE), ("qwen3-30b-a3b", DECODE), ("qwen2.5-7b", DECODE),
    ("llama-2-7b", DECODE), ("mistral-7b", DECODE), ("mixtral-8x7b", DECODE),
])
def test_one_period_of_the_layers_gives_the_rows_of_every_layer(model: str, kw: dict) -> None:
    import pandas as pd

    full = trace(model, **kw, periodic=False)
    short = trace(model, **kw)
    pd.testing.assert_frame_equal(short.ops, full.ops, check_exact=True)
    assert short.meta == full.meta
    expanded = trace(model, **kw, collapse=False)
    pd.testing.assert_frame_equal(expanded.ops, full.expand().ops, check_exact=True)


def test_the_layer_period_is_the_pattern_and_the_whole_model_when_rows_depend_on_the_layer(
) -> None:
    from workloads.extract import layer_period
    from workloads.routing import parse_routing

    balanced, zipf = parse_routing("balanced"), parse_routing("zipf:1.0")
    assert layer_period(load_config("qwen3.5-9b"), balanced, fake=True) == 4
    assert layer_period(load_config("gpt-oss-20b"), balanced, fake=True) == 2
    assert layer_period(load_config("llama-2-7b"), balanced, fake=True) == 1
    moe = load_config("qwen3.5-35b-a3b")
    assert layer_period(moe, zipf, fake=True) == moe.layers  # routing drawn per layer
    assert layer_period(moe, balanced, fake=False) == moe.layers  # real tensors
    sparse = dataclasses.replace(moe, fields={**moe.fields, "decoder_sparse_step": 2})
    assert layer_period(sparse, balanced, fake=True) == moe.layers
