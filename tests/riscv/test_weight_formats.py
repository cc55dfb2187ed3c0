"""Quantised weights on the RISC-V model: a decode step's GEMMs move the bytes of their
format (the trace's weight bytes, plus the scales the trace does not count), and no
quantised GEMV is simulated faster than its roofline."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign.riscv import make
from codesign.riscv.replay import lower
from isa.kernels.quant import IDEAL_FORMATS
from workloads.schema import DTYPE_BYTES, trace_from_rows

from .conftest import DATA

QUANTISED = sorted(IDEAL_FORMATS)


@pytest.fixture(scope="module", params=["int4", "q4_0", "mxfp4"])
def tiny_quantised_decode(request, tmp_path_factory):
    from codesign.api import trace
    return request.param, trace(model=str(DATA / "tiny-qwen3.5.json"), phase="decode",
                                context=64, weight_dtype=request.param)


def _weight_bytes_moved(prog) -> int:
    return sum(n * ins.vector_length * ins.mem.eew // 8 for ins, n in prog.walk()
               if ins.mem is not None and ins.defn.vector and ins.mem.buf in ("Bq", "Bs"))


def test_decode_moves_the_formats_bytes(tiny_quantised_decode):
    """Every weight GEMM of a decode step reads its packed weights once: the trace's
    weight bytes (bytes_read less the activations), plus for int4 one 16-bit scale per
    group of 128 (of K when shorter; the q4_0 and mxfp4 bytes already count theirs)."""
    wd, tr = tiny_quantised_decode
    cfg = make("c950-like").config
    gemms = tr.ops[(tr.ops.kind == "gemm") & (tr.ops.weight_dtype == wd)]
    assert len(gemms) >= 5
    for rec in gemms.to_dict("records"):
        n, k = rec["N"], rec["K"]
        trace_weight = rec["bytes_read"] - rec["M"] * k * 2
        assert trace_weight == math.ceil(n * k * DTYPE_BYTES[wd])
        scales = 2 * n * (k // min(128, k)) if wd == "int4" else 0
        assert _weight_bytes_moved(lower(rec, cfg)) == trace_weight + scales, rec["name"]


@pytest.mark.parametrize("target", ["c950-like", "c950-like+xattn"])
def test_quantised_decode_step_never_beats_its_roofline(tiny_quantised_decode, target):
    _, tr = tiny_quantised_decode
    ops = make(target).simulate(tr).ops
    ops = ops[ops["modelled"]]
    assert (ops.kind == "gemm").sum() >= 5
    slack = ops["seconds"] / ops["roofline_seconds"]
    assert (slack >= 1 - 1e-9).all(), ops.loc[slack < 1, ["kind", "name"]]


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wd=st.sampled_from(QUANTISED), n=st.sampled_from([64, 320, 1024, 4096]),
       k=st.sampled_from([256, 1024, 4096]),
       target=st.sampled_from(["c950-like", "x280-like", "spacemit-x60-like+xattn"]),
       cores=st.sampled_from([1, 8]))
def test_quantised_gemv_never_beats_its_roofline(wd, n, k, target, cores):
    """A GEMV (decode) with weights in each format, bytes as the trace counts them."""
    row = {"kind": "gemm", "op": "matmul", "name": "proj", "M": 1, "N": n, "K": k, "G": 1,
           "dtype": "bf16", "weight_dtype": wd, "flops": 2 * n * k,
           "bytes_read": k * 2 + math.ceil(n * k * DTYPE_BYTES[wd]), "bytes_written": 2 * n}
    tr = trace_from_rows([row], {"model": "gemv"})
    op = make(target, {"cluster.cores": cores}).simulate(tr).ops.iloc[0]
    assert op["modelled"]
    assert op["seconds"] >= op["roofline_seconds"] * (1 - 1e-9)


@pytest.mark.parametrize("target", ["spacemit-k1", "spacemit-k1+ime"])
@pytest.mark.parametrize("m", [1, 64])
def test_q4_1_in_llamacpps_kernels_never_beats_its_roofline(target, m):
    """Q4_1 (llama.cpp's kernels: ggml's vec-dot on RVV, the SpacemiT path on the IME),
    its bytes as the trace counts them (20 per 32 weights)."""
    n, k = 1024, 2048
    row = {"kind": "gemm", "op": "matmul", "name": "proj", "M": m, "N": n, "K": k, "G": 1,
           "dtype": "bf16", "weight_dtype": "q4_1", "flops": 2 * m * n * k,
           "bytes_read": m * k * 2 + n * k * 20 // 32, "bytes_written": 2 * m * n}
    tr = trace_from_rows([row], {"model": "gemm"})
    op = make(target, {"kernel.library": "llamacpp"}).simulate(tr).ops.iloc[0]
    assert op["modelled"]
    assert op["seconds"] >= op["roofline_seconds"] * (1 - 1e-9)
