"""Op kinds: every registry covers every kind, typed op records, and a kind added from
outside the package is timed by replay and the GPU model with no edit to them."""

from __future__ import annotations

import pandas as pd
import pytest

from codesign import kinds
from codesign.gpu import make as make_gpu
from codesign.gpu.model import op_kernels
from isa import kernels
from isa.kernels.common import Kc
from isa.program import V
from workloads import costs, schema
from workloads.schema import KIND_FIELDS, KINDS, OPS, SHAPE_FIELDS, Op


def test_every_registry_covers_every_kind():
    assert set(KINDS) == set(OPS) == set(KIND_FIELDS)  # the trace's vocabulary
    assert set(KINDS) == set(kernels.KERNELS)  # a RISC-V lowering for each
    assert set(KINDS) <= set(kinds.names())  # a core split and GPU kernels for each
    assert {k for k in kinds.names() if kinds.get(k).matrix} == \
        {"gemm", "attention", "linear_attention"}
    assert all(set(KIND_FIELDS[k]) <= set(SHAPE_FIELDS) for k in KINDS)


def test_an_op_record_reads_like_its_row_and_is_hashable():
    row = {"kind": "gemm", "op": "matmul", "M": 4, "N": 64, "K": 8, "G": 1,
           "dtype": "bf16", "causal": False, "flops": 4096, "bytes_read": 10,
           "bytes_written": 5, "repeat": 3, "layer": 2, "module": "x", "exponent": 2.0}
    op = Op.from_row(row)
    assert (op.M, op["N"], op.get("K"), op.get("exponent"), op.nbytes) == (4, 64, 8, 2.0, 15)
    assert op.get("nothing", 7) == 7 and "module" not in op
    assert hash(op) == hash(Op.from_row(row)) and op.replace(M=5).M == 5
    with pytest.raises(KeyError):
        op["nothing"]


def _lower_scale(row, isa, core=None):
    """y = 2 x: one strip loop (a toy kind's lowering)."""
    m, n = int(row["M"]), int(row["N"])
    kc = Kc(f"toy_scale M={m} N={n}", isa, core)
    b = kc.b
    b.buffer("x", kc.core.dtype, m * n, "in", (m, n))
    b.buffer("y", kc.core.dtype, m * n, "out", (m, n))
    two = kc.fconst(2.0)
    kc.set32(min(m * n, kc.vlmax))

    def body(off, vl):
        kc.load(V(4), "x", off)
        b.emit("vfmul.vf", V(4), V(4), two)
        kc.store(V(4), "y", off)

    kc.strips(m * n, "i", body)
    return kc.program(kind="toy_scale")


def test_a_new_kind_is_one_registration_per_layer(tmp_path):
    """A kind defined outside the package, with no edit to it: its trace vocabulary
    (workloads.schema), its lowering (isa) and its split and GPU kernels (codesign.kinds).
    A trace holding it saves, loads and is timed on both families through the public API."""
    import codesign as cd
    from codesign.gpu import kernels as K
    from workloads.schema import Trace, register_kind, validate_ops

    register_kind("toy_scale", ("M", "N"), ("scale",), flops=lambda r: r["M"] * r["N"])
    kinds.register(kinds.OpKind(
        "toy_scale", kinds.get("activation").split,
        lambda cfg, op: K.streaming_op(cfg, "elementwise", "mul", op.M, op.N, op.dtype,
                                       op.flops, op.nbytes)), replace=True)
    previous = kernels.register_kernel("toy_scale", _lower_scale)
    try:
        assert previous is None
        assert costs.op_flops({"kind": "toy_scale", "M": 64, "N": 4096}) == 64 * 4096
        row = {"kind": "toy_scale", "op": "scale", "name": "toy", "dtype": "bf16",
               "weight_dtype": "", "M": 64, "N": 4096, "flops": 64 * 4096,
               "bytes_read": 64 * 4096 * 2, "bytes_written": 64 * 4096 * 2, "repeat": 1,
               "causal": False, "sinks": False, "layer": 0, "layers": "0", "layer_type": "model",
               "module": "toy", "op_id": 0,
               **{f: 0 for f in SHAPE_FIELDS if f not in ("M", "N")}}
        meta = {"model": "toy", "scenario": {"phase": "decode", "batch": 1, "seq": 1,
                                             "context": 64}}
        trace = Trace.load(Trace(validate_ops(pd.DataFrame([row])), meta)
                           .save(tmp_path / "toy.parquet"))
        riscv = cd.simulate(trace, "c950-like").ops
        assert bool(riscv["modelled"].iloc[0]) and riscv["cycles"].iloc[0] > 0
        gpu = cd.simulate(trace, "h100-sxm")
        (k,) = op_kernels(make_gpu("h100-sxm").config, Op.from_row(row))
        assert gpu.latency_s >= k.seconds > 0
        with pytest.raises(ValueError, match=r"unknown shape fields \['Q'\]"):
            register_kind("toy_bad", ("M", "Q"), ("x",), flops=lambda r: 0)
        with pytest.raises(ValueError, match="already in the trace vocabulary"):
            register_kind("gemm", ("M",), ("matmul",), flops=lambda r: 0)
    finally:
        kinds._REGISTRY.pop("toy_scale", None)
        kernels.KERNELS.pop("toy_scale", None)
        for table in (schema.OPS, schema.KIND_FIELDS, costs.KIND_FLOPS):
            table.pop("toy_scale", None)
        if "toy_scale" in schema.KINDS:
            schema.KINDS.remove("toy_scale")
