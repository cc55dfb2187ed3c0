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
BATCH, CONTEXT, PROMPT = 8, 256, 32  # a step with one 32-token prompt: 40 token rows
TARGET = ("h100-sxm", {"engine": "vllm-0.11"})


def _step_seconds(prompt: int, batch: int = BATCH) -> float:
    tr = serving.step_trace(MODEL, batch, CONTEXT, prompt, 1)
    return targets.resolve(*TARGET).simulate(tr).latency_s


@pytest.fixture(scope="module")
def mixed():
    return serving.step_trace(MODEL, BATCH, CONTEXT, PROMPT, 1)


@pytest.fixture(scope="module")
def decode():
    return api.trace(MODEL, phase="decode", batch=BATCH, context=CONTEXT)


def test_admissions_are_the_whole_counts_around_the_finishing_rate():
    # 256 / 717 requests finish per step: one prompt admitted in 35.7% of the steps
    (k0, w0), (k1, w1) = serving.admissions(256, 666, 717)
    assert (k0, k1) == (0, 1) and w1 == pytest.approx(256 / 717) == 1 - w0
    assert serving.admissions(1434, 666, 717) == [(2, 1.0)]  # exactly two a step
    assert serving.admissions(64, 0, 717) == [(0, 1.0)]  # no prompt: decode only
    with pytest.raises(CodesignError, match="output 0"):
        serving.admissions(64, 666, 0)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4096), st.integers(1, 8192), st.integers(1, 4096))
def test_admissions_average_to_the_finishing_rate(batch, prompt, output):
    steps = serving.admissions(batch, prompt, output)
    assert sum(w for _, w in steps) == pytest.approx(1.0)
    assert sum(k * w for k, w in steps) == pytest.approx(batch / output)
    assert all(w > 0 and k >= 0 for k, w in steps) and len(steps) <= 2


def test_no_prompt_is_the_decode_step(decode):
    tgt = targets.resolve(*TARGET)
    for tr in (serving.step_trace(MODEL, BATCH, CONTEXT, 0, 1),
               serving.step_trace(MODEL, BATCH, CONTEXT, PROMPT, 0)):
        assert tr.ops.equals(decode.ops)
    mean = serving.steady_state(tgt, MODEL, BATCH, CONTEXT, 0, 50)
    assert mean.seconds == tgt.simulate(decode).latency_s
    assert mean.energy_j == tgt.simulate(decode).energy_j


def test_mixed_rows_match_a_hand_count(mixed):
    """The per-token GEMMs see the batch's 8 decode tokens and the prompt's 32; the logits
    only the 8 sampled positions; attention runs per sequence: the prompt over itself."""
    cfg = load_config(MODEL).fields
    h, f, hd = cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"]
    qo, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    layer_weights = h * qo + 2 * h * kv + qo * h + 2 * h * f + f * h
    ops = mixed.ops
    gemm = ops[ops["kind"] == "gemm"]
    expected = (2 * (BATCH + PROMPT) * layer_weights * cfg["num_hidden_layers"]
                + 2 * BATCH * h * cfg["vocab_size"])
    assert int((gemm["flops"] * gemm["repeat"]).sum()) == expected
    att = ops[ops["kind"] == "attention"]
    assert sorted(zip(att["B"], att["Sq"], att["Skv"], strict=True)) == [
        (1, PROMPT, PROMPT), (BATCH, 1, CONTEXT + 1)]
    assert mixed.meta["serving"] == {"prompt": PROMPT, "admitted": 1}
    assert mixed.meta["scenario"]["batch"] == BATCH  # the engine's step: B sequences


def test_mixed_step_is_between_the_decode_step_and_decode_plus_a_separate_prefill(
        mixed, decode):
    """Never faster than the decode step, nor than the roofline of the added FLOPs; never
    slower than the decode step and the prefill run as separate passes (the mixed batch
    reads the weights once)."""
    tgt = targets.resolve(*TARGET)
    dec, mix = tgt.simulate(decode), tgt.simulate(mixed)
    pre = tgt.simulate(api.trace(MODEL, phase="prefill", batch=1, seq=PROMPT))
    added = mixed.total_flops - decode.total_flops
    peak = tgt.config.tensor_flops("bf16")
    assert mix.latency_s >= dec.latency_s + added / peak
    assert mix.latency_s <= dec.latency_s + pre.latency_s


def test_steady_state_is_the_weighted_mean_of_its_steps(mixed, decode):
    # 8 sequences of 50-token requests: a prompt admitted in 16% of the steps
    tgt = targets.resolve(*TARGET)
    mean = serving.steady_state(tgt, MODEL, BATCH, CONTEXT, PROMPT, 50)
    dec, mix = tgt.simulate(decode), tgt.simulate(mixed)
    assert mean.seconds == pytest.approx(0.84 * dec.latency_s + 0.16 * mix.latency_s)
    assert mean.energy_j == pytest.approx(0.84 * dec.energy_j + 0.16 * mix.energy_j)
    assert mean.power_w == pytest.approx(mean.energy_j / mean.seconds)


@pytest.mark.parametrize("batch", [8, 64])
def test_step_time_never_falls_as_the_prompt_grows(batch):
    times = [_step_seconds(p, batch) for p in (0, 25, 200, 800)]
    assert all(b >= a for a, b in pairwise(times)), times
    assert times[-1] > times[0]
