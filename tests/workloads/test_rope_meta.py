"""The RoPE variant is kept in the trace (issue #13: GPT-OSS's YaRN, not silently plain
RoPE): meta["rope"] records what the built transformers model runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from workloads.extract import trace
from workloads.schema import Trace

DATA = Path(__file__).resolve().parents[1] / "data"


def test_gpt_oss_trace_records_yarn_with_its_scaling(tmp_path) -> None:
    """GPT-OSS config.json: rope_scaling yarn, factor 32 over 4096 original positions. YaRN
    multiplies cos and sin by 0.1 ln(s) + 1 (Peng et al. 2023, arXiv 2309.00071, eq. 22's
    sqrt(1/t)), 1.3466 for s = 32; the trace survives a save and load with it."""
    t = trace(str(DATA / "tiny-gpt-oss.json"), phase="decode", batch=1, context=16)
    rope = t.meta["rope"]
    assert rope["type"] == "yarn"
    assert rope["attention_scaling"] == pytest.approx(0.1 * math.log(32) + 1, rel=1e-9)
    p = rope["parameters"]
    assert (p["factor"], p["original_max_position_embeddings"], p["beta_fast"],
            p["beta_slow"]) == (32.0, 4096, 32.0, 1.0)
    assert Trace.load(t.save(tmp_path / "oss.parquet")).meta["rope"] == rope
    # the rope rows themselves are the same rotation on precomputed (scaled) tables
    assert set(t.ops[t.ops.kind == "rope"].op) == {"rope"}


@pytest.mark.parametrize(("model", "rope_type"), [
    ("tiny-llama.json", "llama3"), ("tiny-mistral.json", "default"),
    ("tiny-qwen3.5.json", "default")])
def test_other_variants_are_recorded_with_no_attention_scaling(model, rope_type) -> None:
    """Plain RoPE (Mistral, Qwen3.5's M-RoPE on text) and Llama 3's frequency scaling leave
    cos and sin unscaled."""
    t = trace(str(DATA / model), phase="decode", batch=1, context=8)
    assert t.meta["rope"]["type"] == rope_type
    assert t.meta["rope"]["attention_scaling"] == 1.0


def test_llama_3_1_records_its_llama3_frequency_scaling() -> None:
    """Llama 3.1's config.json: rope_type llama3 (factor 8, low/high frequency factors 1 and
    4 over 8192 original positions); its attention scaling stays 1."""
    t = trace("llama-3.1-8b", phase="decode", batch=1, context=8)
    rope = t.meta["rope"]
    assert rope["type"] == "llama3" and rope["attention_scaling"] == 1.0
    assert (rope["parameters"]["factor"], rope["parameters"]["high_freq_factor"]) == (8.0, 4.0)
