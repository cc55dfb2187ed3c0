"""Floating-point formats and the precision models of approximate instructions.

BF16: the model's 16-bit FP format is BF16 everywhere (vector BF16 arithmetic as in the
Zvfbfa "altfmt" proposal, Zvfbfmin conversions, Zvfbfwma widening FMA; riscv.md 2.1).
Values are kept as float32 numbers that are exactly representable in BF16; rounding is
round-to-nearest-even on the top 16 bits of the FP32 encoding.
"""

from __future__ import annotations

import numpy as np

# ---- formats ---------------------------------------------------------------------------


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round FP32 values to BF16 (RNE) and return the 16-bit encodings (uint16)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    r[nan] = 0x7FC0
    return r


def bf16_bits_to_f32(b: np.ndarray) -> np.ndarray:
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def round_bf16(x: np.ndarray | float) -> np.ndarray:
    """Values rounded to the nearest BF16 (as float32)."""
    return bf16_bits_to_f32(f32_to_bf16_bits(np.atleast_1d(np.asarray(x, dtype=np.float32))))


def round_to(x: np.ndarray, bits: int) -> np.ndarray:
    """Round float64 values to the FP format of ``bits`` (16 = BF16, 32 = FP32, 64)."""
    if bits == 64:
        return np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        f = np.asarray(x, dtype=np.float64).astype(np.float32)
    if bits == 32:
        return f.astype(np.float64)
    if bits == 16:
        return round_bf16(f).astype(np.float64)
    raise ValueError(f"no FP format of {bits} bits")


def round_mantissa(x: np.ndarray, frac_bits: int) -> np.ndarray:
    """Round float64 values to ``frac_bits`` fraction bits (relative error <= 2^-(frac_bits+1))."""
    m, e = np.frexp(np.asarray(x, dtype=np.float64))  # x = m * 2^e, 0.5 <= |m| < 1
    scale = float(2 ** (frac_bits + 1))
    return np.ldexp(np.round(m * scale) / scale, e)


# ---- vfexp: Schraudolph exponent construction + cubic mantissa correction --------------
# exp(x) = 2^t, t = x*log2(e) = n + f, n = floor(t), f in [0, 1).
# The exponent field is n + bias (Schraudolph 1999: write t into the exponent bits); the
# mantissa is p(f) ~ 2^f, p(f) = 1 + f*(C1 + f*(C2 + f*C3)), a cubic fitted to minimise
# the maximum relative error on [0, 1] with p(0) = 1 (riscv.md 6 #1: "2nd/3rd-order
# mantissa correction"). Hardware evaluates in FP32: the cubic alone is within 8.6e-5;
# with FP32 rounding of t the bound over |x| <= 87 is EXP_REL_ERR_FP32.
EXP_C1 = 0.69511634
EXP_C2 = 0.227647
EXP_C3 = 0.0770652
EXP_REL_ERR_FP32 = 1.0e-4  # documented bound, SEW=32 (tested in tests/isa/test_numerics.py)
# SEW=16 (BF16): the FP32 result is rounded to BF16 (8 significant bits), adding up to
# the unit roundoff 2^-8 = 3.9e-3 relative; inputs are BF16 already.
EXP_REL_ERR_BF16 = 2.0**-8 + EXP_REL_ERR_FP32
EXP_MAX_ARG = 88.72  # above: +inf (FP32 overflow)
EXP_MIN_ARG = -87.33  # below: 0 (no subnormal results, flush to zero)
LOG2E = 1.4426950408889634


def exp_approx(x: np.ndarray, sew: int) -> np.ndarray:
    """The vfexp.v result for float64 inputs (already in the SEW format), as float64."""
    x32 = np.asarray(x, dtype=np.float64).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        t = (x32 * np.float32(LOG2E)).astype(np.float32)
        tc = np.clip(t, -126.0, 128.0)
        n = np.floor(tc)
        f = (tc - n).astype(np.float32)
        c1, c2, c3 = np.float32(EXP_C1), np.float32(EXP_C2), np.float32(EXP_C3)
        p = np.float32(1) + f * (c1 + f * (c2 + f * c3))
        y = np.ldexp(p.astype(np.float64), n.astype(np.int64))
    y = np.where(x32 > EXP_MAX_ARG, np.inf, y)
    y = np.where(x32 < EXP_MIN_ARG, 0.0, y)
    y = np.where(np.isnan(x32), np.nan, y)
    return round_to(y, 16 if sew == 16 else 32)


# ---- reciprocal estimates ----------------------------------------------------------------
REC_FRAC_BITS = 11  # vfrec.v: ~12-bit reciprocal (riscv.md 6 #5): 11 fraction bits + hidden
REC_REL_ERR = 2.0 ** -(REC_FRAC_BITS + 1)  # round-to-nearest of the mantissa: <= 2^-12
EST7_FRAC_BITS = 6  # vfrec7/vfrsqrt7: 7 significant bits (riscv.md 2.1 "estimates (7-bit)")
EST7_REL_ERR = 2.0 ** -(EST7_FRAC_BITS + 1)


def rec_approx(x: np.ndarray, frac_bits: int = REC_FRAC_BITS) -> np.ndarray:
    """1/x with the mantissa rounded to ``frac_bits`` fraction bits (a precision model of a
    table-plus-refinement unit; not a bit-exact table)."""
    with np.errstate(divide="ignore"):
        r = 1.0 / np.asarray(x, dtype=np.float64)
    finite = np.isfinite(r) & (r != 0)
    return np.where(finite, round_mantissa(np.where(finite, r, 1.0), frac_bits), r)


def rsqrt_approx(x: np.ndarray, frac_bits: int = EST7_FRAC_BITS) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = 1.0 / np.sqrt(np.asarray(x, dtype=np.float64))
    finite = np.isfinite(r) & (r != 0)
    return np.where(finite, round_mantissa(np.where(finite, r, 1.0), frac_bits), r)
