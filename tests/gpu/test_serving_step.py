"""A continuously batched server's steady-state step (codesign.serving): the decode of the
running sequences plus the prefill of the admitted prompts in one mixed batch, its rows
against hand counts and its time against the decode step and the roofline."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import api, serving, targets
from codesign.errors import CodesignError
from workloads.registry import load_config

MODEL = "qwen3-0.6b"
BATCH, CONTEXT, PROMPT, OUTPUT = 8, 256, 200, 50  # 8 x 200 / 50 = 32 prompt tokens a step
TARGET = ("h100-sxm", {"engine": "vllm-0.11"})


def _step_seconds(prompt: int, batch: int = BATCH) -> float:
    tr = serving.step_trace(MODEL, batch, CONTEXT, prompt, OUTPUT)
    return targets.resolve(*TARGET).simulate(tr).latency_s


@pytest.fixture(scope="module")
def mixed():
    return serving.step_trace(MODEL, BATCH, CONTEXT, PROMPT, OUTPUT)


def test_prefill_tokens_per_step_are_the_admitted_prompts_tokens():
    # batch / output requests finish per step; each is replaced by a prompt
    assert serving.prefill_tokens_per_step(256, 666, 717) == 238  # 237.8
    assert serving.prefill_tokens_per_step(16, 666, 717) == 15
    assert serving.prefill_tokens_per_step(64, 0, 717) == 0
    with pytest.raises(CodesignError, match="output 0"):
        serving.prefill_tokens_per_step(64, 666, 0)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4096), st.integers(1, 8192))
def test_prefill_chunks_hold_the_tokens_none_longer_than_a_prompt(tokens, prompt):
    n, size = serving.prefill_chunks(tokens, prompt)
    assert size <= prompt and n * size >= tokens and n * size - tokens < n
    assert n == -(-tokens // prompt)  # as few as hold them


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 1024), st.integers(1, 4096), st.integers(1, 4096),
       st.integers(1, 1000))
def test_prefill_tokens_grow_with_the_prompt_and_the_batch(batch, prompt, more, output):
    base = serving.prefill_tokens_per_step(batch, prompt, output)
    assert serving.prefill_tokens_per_step(batch, prompt + more, output) >= base
    assert serving.prefill_tokens_per_step(batch + 1, prompt, output) >= base


def test_chunk_attention_is_the_chunk_at_the_end_of_its_prompt():
    # a prefill chunk of 32 tokens (B 2, 16 query and 8 KV heads of 128) behind 468 more
    b, hq, hkv, c, d, L = 2, 16, 8, 32, 128, 500
    q = 2 * b * hq * c * d
    row = {"kind": "attention", "B": b, "Hq": hq, "Hkv": hkv, "Sq": c, "Skv": c, "D": d,
           "causal": True, "window": 0, "flops": 0, "bytes_read": q + 2 * 2 * b * hkv * c * d,
           "bytes_written": q}
    out = serving.chunk_attention(row, L)
    pairs = c * (L - c) + c * (c + 1) // 2  # each query sees the prompt up to itself
    assert out["flops"] == 4 * b * hq * d * pairs
    assert out["bytes_read"] == q + 2 * 2 * b * hkv * L * d
    assert (out["Sq"], out["Skv"]) == (c, L)
    assert serving.chunk_attention(row, c) == row  # a whole prompt: as traced


def test_no_prompt_is_the_decode_step():
    tr = serving.step_trace(MODEL, BATCH, CONTEXT, 0, OUTPUT)
    dec = api.trace(MODEL, phase="decode", batch=BATCH, context=CONTEXT)
    assert tr.ops.equals(dec.ops)
    tgt = targets.resolve(*TARGET)
    assert tgt.simulate(tr).latency_s == tgt.simulate(dec).latency_s


def test_mixed_rows_match_a_hand_count(mixed):
    """The per-token GEMMs see the batch's 8 decode tokens and 32 prompt tokens; the logits
    only the 8 sampled positions; attention runs per sequence."""
    cfg = load_config(MODEL).fields
    h, f, hd = cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"]
    qo, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    layer_weights = h * qo + 2 * h * kv + qo * h + 2 * h * f + f * h
    tokens = BATCH + 32
    ops = mixed.ops
    gemm = ops[ops["kind"] == "gemm"]
    expected = (2 * tokens * layer_weights * cfg["num_hidden_layers"]
                + 2 * BATCH * h * cfg["vocab_size"])
    assert int((gemm["flops"] * gemm["repeat"]).sum()) == expected
    att = ops[ops["kind"] == "attention"]
    assert sorted(zip(att["B"], att["Sq"], att["Skv"], strict=True)) == [
        (1, 32, PROMPT), (BATCH, 1, CONTEXT + 1)]
    assert mixed.meta["serving"] == {"prompt": PROMPT, "output": OUTPUT,
                                     "prefill_tokens": 32, "prefill_chunks": 1}
    assert mixed.meta["scenario"]["batch"] == BATCH  # the engine's step: B sequences


def test_mixed_step_is_between_the_decode_step_and_decode_plus_a_separate_prefill(mixed):
    """Never faster than the decode step, nor than the roofline of the added FLOPs; never
    slower than the decode step and the prefill chunk run as separate passes (the mixed
    batch reads the weights once)."""
    tgt = targets.resolve(*TARGET)
    decode = api.trace(MODEL, phase="decode", batch=BATCH, context=CONTEXT)
    dec, mix = tgt.simulate(decode), tgt.simulate(mixed)
    pre = tgt.simulate(api.trace(MODEL, phase="prefill", batch=1, seq=32))
    added = mixed.total_flops - decode.total_flops
    peak = tgt.config.tensor_flops("bf16")
    assert mix.latency_s >= dec.latency_s + added / peak
    assert mix.latency_s <= dec.latency_s + pre.latency_s


@pytest.mark.parametrize("batch", [8, 64])
def test_step_time_never_falls_as_the_prompt_grows(batch):
    times = [_step_seconds(p, batch) for p in (0, 25, 200, 800)]
    assert all(b >= a for a, b in pairwise(times)), times
    assert times[-1] > times[0]
