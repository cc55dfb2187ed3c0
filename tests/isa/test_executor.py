"""The functional executor: semantics of special instructions and refusal of bad programs."""

import numpy as np
import pytest

from isa import Builder, Core, IsaError, V, X, execute, parse_isa, tile_geometry
from isa.program import Affine, Instr, Mem, Program, VType


def _prog(body, vlen=256, isa="rvv", buffers=None):
    b = Builder("t", parse_isa(isa), vlen)
    for name, (dt, n, role) in (buffers or {"x": ("fp32", 64, "in"),
                                            "y": ("fp32", 64, "out")}).items():
        b.buffer(name, dt, n, role)
    body(b)
    return b.program()


def test_refuses_vl_beyond_vlmax():
    def body(b):
        b.vsetvli(8, 32, 1)
        b.emit("vle32.v", V(1), b.mem("x", 0))
    p = _prog(body, vlen=256)
    with pytest.raises(IsaError, match="exceeds VLMAX=4"):
        execute(p, {"x": np.zeros(64)}, vlen=128)
    bad = Program("bad", (Instr("vle32.v", (V(1), Mem("x", Affine(0), 32)), 9, VType(32, 1)),),
                  256, p.buffers)
    with pytest.raises(IsaError, match="VL=9 exceeds VLMAX=8"):
        execute(bad, {"x": np.zeros(64)})


def test_refuses_misaligned_register_group():
    def body(b):
        b.vsetvli(16, 32, 4)
        b.emit("vle32.v", V(6), b.mem("x", 0))
    with pytest.raises(IsaError, match="not aligned to its group of 4"):
        execute(_prog(body), {"x": np.zeros(64)})


def test_refuses_unknown_and_disabled_instructions():
    p = _prog(lambda b: b.vsetvli(4, 32, 1))
    unknown = Program("u", (*p.body, Instr("vfoo.vv", (), 4, VType(32, 1))), 256, p.buffers)
    with pytest.raises(IsaError, match=r"unknown instruction 'vfoo\.vv'"):
        execute(unknown, {"x": np.zeros(64)})
    xp = _prog(lambda b: (b.vsetvli(4, 32, 1), b.emit("vfexp.v", V(1), V(2))), isa="rvv+xattn")
    xp.isa = parse_isa("rvv+xattn:-vfexp")
    with pytest.raises(IsaError, match=r"vfexp\.v \(xattn\) is not enabled"):
        execute(xp, {"x": np.zeros(64)})
    with pytest.raises(IsaError, match="not enabled"):
        _prog(lambda b: (b.vsetvli(4, 32, 1), b.emit("vfexp.v", V(1), V(2))))


def test_refuses_stamp_that_disagrees_with_vsetvli_state():
    body = (Instr("vsetvli", (X(5), 4, VType(32, 1)), 4, VType(32, 1)),
            Instr("vle32.v", (V(1), Mem("x", Affine(0), 32)), 2, VType(32, 1)))
    p = Program("p", body, 256, _prog(lambda b: None).buffers)
    with pytest.raises(IsaError, match="vsetvli state is VL=4"):
        execute(p, {"x": np.zeros(64)})


def test_out_of_bounds_access_is_refused():
    def body(b):
        b.vsetvli(8, 32, 1)
        b.emit("vle32.v", V(1), b.mem("x", 60))
    with pytest.raises(IsaError, match="outside the buffer"):
        execute(_prog(body), {"x": np.zeros(64)})


def test_masked_tail_undisturbed_and_segmented_reduction():
    def body(b):
        b.vsetvli(8, 32, 1)
        b.emit("vle32.v", V(1), b.mem("x", 0))
        b.emit("vfmv.v.f", V(2), b.emit("flw", X(0).__class__("f", 3), b.const(0.0)).args[0])
        b.emit("vmflt.vf", V(0), V(1), X(0).__class__("f", 3))  # negative lanes
        b.emit("vfsgnjn.vv", V(2), V(1), V(1), masked=True)  # -x where x < 0
        b.emit("vse32.v", V(2), b.mem("y", 0))
        b.emit("vfsegredmax.vv", V(3), V(1), 4)
        b.vsetvli(2, 32, 1)
        b.emit("vse32.v", V(3), b.mem("y", 8))
    p = _prog(body, isa="rvv+xattn")
    x = np.array([1, -2, 3, -4, 5, 6, -7, 0] + [0] * 56, dtype=np.float64)
    y = execute(p, {"x": x}).buffers["y"]
    assert y[:8].tolist() == [0, 2, 0, 4, 0, 0, 7, 0]
    assert y[8:10].tolist() == [3, 6]
    assert np.isnan(y[10:]).all()  # never written


def test_vfwmmacc_is_a_tile_matmul():
    g = tile_geometry(512, 1)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((g.m, g.k))
    bt = rng.standard_normal((g.n, g.k))

    def body(b):
        b.vsetvli(g.m * g.n, 32, 1)
        b.emit("vmv.v.i", V(8), 0)
        b.vsetvli(32, 16, 1)
        b.emit("vmtl.v", V(1), b.mem("a", 0, 16, "strided", g.k), (g.m, g.k))
        b.emit("vmtl.v", V(2), b.mem("bt", 0, 16, "strided", g.k), (g.n, g.k))
        b.emit("vfwmmacc.vv", V(8), V(1), V(2))
        b.vsetvli(g.m * g.n, 32, 1)
        b.emit("vse32.v", V(8), b.mem("c", 0))
    p = _prog(body, 512, "rvv+xattn", {"a": ("bf16", 32, "in"), "bt": ("bf16", 32, "in"),
                                       "c": ("fp32", 16, "out")})
    r = execute(p, {"a": a, "bt": bt})
    want = r.buffers["a"].reshape(g.m, g.k).astype(np.float64) @ \
        r.buffers["bt"].reshape(g.n, g.k).T.astype(np.float64)
    np.testing.assert_allclose(r.buffers["c"].reshape(g.m, g.n), want, rtol=1e-6, atol=1e-6)


def test_missing_input_is_a_clear_error():
    with pytest.raises(IsaError, match="needs input buffer 'x'"):
        execute(_prog(lambda b: None), {})


def test_core_validation():
    with pytest.raises(IsaError, match="VLEN"):
        Core(vlen=100)
    with pytest.raises(IsaError, match="dtype"):
        Core(dtype="int8")
