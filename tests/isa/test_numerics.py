"""Precision of the approximate instructions: vfexp (FP32 and BF16), vfrec, BF16 rounding."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from isa.numerics import (
    EXP_REL_ERR_BF16,
    EXP_REL_ERR_FP32,
    REC_REL_ERR,
    exp_approx,
    rec_approx,
    round_bf16,
    round_to,
)


def test_vfexp_fp32_bound_dense():
    x = np.linspace(-87.0, 88.0, 400_001)
    x = round_to(x, 32)
    rel = np.abs(exp_approx(x, 32) / np.exp(x) - 1)
    assert rel.max() <= EXP_REL_ERR_FP32
    assert rel.max() > 1e-6  # it is an approximation, not libm


def test_vfexp_bf16_bound_over_every_bf16_input():
    bits = np.arange(0, 1 << 16, dtype=np.uint32)
    x = (bits << 16).view(np.float32)
    x = x[np.isfinite(x)].astype(np.float64)
    x = x[np.isfinite(x) & (x > -87.0) & (x < 88.0)]
    rel = np.abs(exp_approx(x, 16) / np.exp(x) - 1)
    assert rel.max() <= EXP_REL_ERR_BF16


@settings(max_examples=200, deadline=None)
@given(st.floats(-87.0, 88.0))
def test_vfexp_fp32_bound_random(x):
    xr = round_to(np.array([x]), 32)
    assert abs(exp_approx(xr, 32)[0] / np.exp(xr[0]) - 1) <= EXP_REL_ERR_FP32


def test_vfexp_limits():
    y = exp_approx(np.array([-200.0, 100.0, np.nan, 0.0]), 32)
    assert y[0] == 0 and np.isinf(y[1]) and np.isnan(y[2]) and abs(y[3] - 1) < 1e-4


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-30, 1e30) | st.floats(-1e30, -1e-30))
def test_vfrec_is_12_bit(x):
    assert abs(rec_approx(np.array([x]))[0] * x - 1) <= REC_REL_ERR * (1 + 1e-12)


def test_bf16_round_to_nearest_even():
    # 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0)
    assert round_bf16(1 + 2 ** -8)[0] == 1.0
    assert round_bf16(1 + 3 * 2 ** -8)[0] == 1 + 2 ** -6
    assert round_bf16(1 + 2 ** -8 + 2 ** -12)[0] == 1 + 2 ** -7
