"""MoE routing policies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.errors import WorkloadError
from workloads.routing import Balanced, Zipf, group_counts, parse_routing


@given(tokens=st.integers(1, 5000), experts=st.integers(1, 512), k=st.integers(1, 10))
@settings(max_examples=60, deadline=None)
def test_balanced_spreads_assignments_within_one(tokens: int, experts: int, k: int) -> None:
    c = Balanced().counts(tokens, experts, k, layer=0)
    assert c.sum() == tokens * k
    assert c.max() - c.min() <= 1


@given(tokens=st.integers(1, 300), s=st.floats(0, 2), seed=st.integers(0, 100))
@settings(max_examples=30, deadline=None)
def test_zipf_gives_each_token_k_distinct_experts(tokens: int, s: float, seed: int) -> None:
    c = Zipf(s, seed).counts(tokens, 64, 8, layer=1)
    assert c.sum() == tokens * 8
    assert c.max() <= tokens  # distinct experts per token: no expert twice for one token
    assert (c == Zipf(s, seed).counts(tokens, 64, 8, layer=1)).all()


def test_zipf_skew_grows_with_its_exponent() -> None:
    flat = Zipf(0.0, 1).counts(4096, 128, 8, layer=0)
    skew = Zipf(1.5, 1).counts(4096, 128, 8, layer=0)
    assert skew.max() > 3 * flat.max()
    assert np.count_nonzero(skew) < np.count_nonzero(flat) + 1


def test_group_counts_pairs_token_counts_with_expert_multiplicity() -> None:
    assert group_counts(np.array([0, 3, 1, 3, 0, 1, 1])) == [(3, 2), (1, 3)]


@pytest.mark.parametrize("spec", ["zipf", "zipf:x", "zipf:-1", "zipf:1:2:3", "uniform",
                                  "zipf:nan", "zipf:inf", "zipf:-inf:3"])
def test_bad_policies_are_refused(spec: str) -> None:
    with pytest.raises(WorkloadError, match=spec.split(":")[0]):
        parse_routing(spec)


def test_policy_names_round_trip() -> None:
    assert parse_routing("balanced").name == "balanced"
    assert parse_routing("zipf:1.0").name == "zipf:1.0:0"
    assert parse_routing("zipf:2").name == "zipf:2.0:0"
    assert parse_routing(parse_routing("zipf:1.2:7").name) == Zipf(1.2, 7)
