"""The llamacpp kernel library (isa.kernels.ggml): ggml's vec-dot GEMV on Q4_0 x Q8_0 /
Q8_0 x Q8_0 blocks, vec_dot_f16 and tinyBLAS, against torch on the block formats."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Core
from isa.executor import decode_buffer, encode_buffer, execute
from isa.kernels import check, lower, random_inputs
from isa.kernels.ggml import BLOCK, TINYBLAS_TILE
from isa.kernels.reference import dequantise, gemm_q8_0

LIB = Core(vlen=256, library="llamacpp")


def _row(fmt: str, m: int, n: int, kk: int, g: int = 1) -> dict:
    return {"kind": "gemm", "M": m, "N": n, "K": kk, "G": g, "weight_dtype": fmt}


@settings(max_examples=25, deadline=None)
@given(fmt=st.sampled_from(["q4_0", "q8_0"]), g=st.integers(1, 2), m=st.integers(1, 20),
       n=st.integers(1, 40), blocks=st.integers(1, 4), vlen=st.sampled_from([128, 256, 512]),
       seed=st.integers(0, 2**16))
def test_vec_dot_is_ggmls_block_arithmetic(fmt, g, m, n, blocks, vlen, seed):
    """Against torch on A quantised to Q8_0 with 16-bit scales (a block_q8_0's d) and the
    block_q4_0 / block_q8_0 weights: equal to the output's BF16 rounding."""
    core = Core(vlen=vlen, library="llamacpp")
    row = _row(fmt, m, n, 32 * blocks, g)
    prog = lower(row, "rvv", core)
    assert prog.meta["kernel"] == "ggml vec_dot" and prog.meta["b_layout"] == "Bqt"
    inp = random_inputs(prog, row, np.random.default_rng(seed))
    res = execute(prog, inp)
    seen = {k: decode_buffer(prog.buffers[k].dtype, encode_buffer(prog.buffers[k].dtype, x))
            .reshape(np.shape(x)) for k, x in inp.items()}
    b = dequantise(fmt, np.swapaxes(seen["Bqt"], 1, 2), np.swapaxes(seen["Bst"], 1, 2))
    want = gemm_q8_0(seen["A"], b, scale_bits=16)
    got = np.asarray(res.buffers["C"], dtype=np.float64)
    assert np.abs(got - want).max() <= 2.0 ** -8 * (np.abs(want).max() or 1.0) + 1e-6


@pytest.mark.parametrize("fmt,m", [("q4_0", 1), ("q8_0", 3), ("", 1), ("", 5)])
def test_every_ggml_kernel_passes_the_library_check(fmt, m):
    r = check(_row(fmt, m, 21, 96), "rvv", LIB)
    assert r.ok and r.counts_match, r


def test_one_reduction_and_scalar_round_trip_per_block():
    """ggml_vec_dot_q4_0_q8_0: per block of 32, one vwredsum and one vmv.x.s (the in-order
    front end waits for it), 2 fp16 scale conversions; outputs in 16 x 16 blocks."""
    m, n, kk = 3, 40, 256
    by = lower(_row("q4_0", m, n, kk), "rvv", LIB).counts().by_mnemonic
    blocks = m * n * kk // 32
    assert by["vwredsum.vs"] == by["vmv.x.s"] == blocks
    assert by["fcvt.s.h"] == 2 * blocks and by["vwmul.vv"] == by["vwmacc.vv"] == blocks
    assert by["vle8.v"] == 3 * blocks  # 16 code bytes, two halves of the activations


def test_outputs_are_visited_in_ggml_blocks():
    prog = lower(_row("q8_0", 40, 40, 64), "rvv", LIB)
    loops = {node.var: node.trip for node, _ in prog.loops()}
    assert loops["nb"] == 40 // BLOCK and loops["mb"] == 40 // BLOCK


def test_tinyblas_tiles_and_reduces_once_per_output():
    m, n, kk = 6, 10, 200
    prog = lower(_row("", m, n, kk), "rvv", LIB)
    assert prog.meta["kernel"] == f"ggml tinyBLAS {TINYBLAS_TILE[0]}x{TINYBLAS_TILE[1]}"
    by = prog.counts().by_mnemonic
    assert by["vfredusum.vs"] == m * n
    assert check(_row("", m, n, kk), "rvv", LIB).ok


def test_formats_ggml_has_no_cpu_kernel_for_take_the_ideal_ones():
    for fmt in ("int4", "mxfp4"):
        prog = lower(_row(fmt, 1, 16, 256), "rvv", LIB)
        assert "ggml" not in str(prog.meta.get("kernel", ""))
        assert prog.counts().by_mnemonic == lower(_row(fmt, 1, 16, 256), "rvv",
                                                  Core(vlen=256)).counts().by_mnemonic


def test_with_the_ime_llamacpp_runs_the_spacemit_path():
    prog = lower(_row("q4_0", 8, 32, 256), "rvv+ime", LIB)
    assert prog.meta["kernel"] == "ime" and prog.meta["loop_order"] == "ggml"


def test_an_unknown_library_is_refused():
    from isa.errors import IsaError
    with pytest.raises(IsaError, match="ideal, llamacpp"):
        Core(library="openblas")
