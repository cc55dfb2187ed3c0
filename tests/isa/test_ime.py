"""SpacemiT IME (isa.ime): the smt.vmadot family's semantics, checks and timing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Builder, IsaError, TimingParams, V, execute, parse_isa
from isa.ime import IME, SIGNEDNESS
from isa.instructions import ime_geometry

ISA = parse_isa("rvv+ime")


def _run(op: str, a: np.ndarray, bt: np.ndarray, c0: np.ndarray, vlen: int = 256,
         a_regs: int = 1) -> np.ndarray:
    """C after ``op vd=v16, vs1=v0, vs2=v2`` with A (one or two registers of int8 codes),
    B^T and C0 loaded from memory."""
    g = ime_geometry(vlen)
    b = Builder("t", ISA, vlen)
    ra = vlen // 8
    b.buffer("A", "int8", a_regs * ra, "in")
    b.buffer("B", "int8", ra, "in")
    b.buffer("C0", "int32", g.m * g.n, "in")
    b.buffer("C", "int32", g.m * g.n, "out")
    b.vsetvli(a_regs * ra, 8, a_regs)
    b.emit("vle8.v", V(0), b.mem("A", 0, 8))
    b.vsetvli(ra, 8, 1)
    b.emit("vle8.v", V(2), b.mem("B", 0, 8))
    b.vsetvli(g.m * g.n, 32, g.c_regs)
    b.emit("vle32.v", V(16), b.mem("C0", 0, 32))
    b.vsetvli(ra, 8, 1)
    b.emit(op, V(16), V(0), V(2))
    b.vsetvli(g.m * g.n, 32, g.c_regs)
    b.emit("vse32.v", V(16), b.mem("C", 0, 32))
    res = execute(b.program(), {"A": a.ravel(), "B": bt.ravel(), "C0": c0.ravel()})
    return res.buffers["C"].reshape(g.m, g.n).astype(np.int64)


def test_the_spec_example_on_the_a60():
    """ime_extension.md §5.1.6 (A60, VLEN 256): the printed 4x4 result."""
    a = np.array([[0, 1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8],
                  [2, 3, 4, 5, 6, 7, 8, 9], [4, 5, 6, 7, 8, 9, 10, 11]])
    bt = np.array([[0, 1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8],
                   [2, 3, 4, 5, 6, 7, 8, 9], [11, 4, 5, 6, 7, 8, 9, 10]])
    c = _run("smt.vmadot", a, bt, np.zeros(16, np.int64))
    assert c.tolist() == [[140, 168, 196, 224], [168, 204, 240, 284],
                          [196, 240, 284, 344], [252, 312, 372, 464]]


def test_the_spec_sliding_window_example():
    """§5.2.6: vmadot, vmadot1, vmadot2 accumulated into one C over six rows of A."""
    rows = [[0, 1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8], [2, 3, 4, 5, 6, 7, 8, 9],
            [4, 5, 6, 7, 8, 9, 10, 11], [5, 6, 7, 8, 9, 10, 11, 12],
            [6, 7, 8, 9, 10, 11, 12, 13], [0] * 8, [0] * 8]
    a = np.array(rows)
    bt = np.array([[0, 1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8],
                   [2, 3, 4, 5, 6, 7, 8, 9], [11, 4, 5, 6, 7, 8, 9, 10]])
    c = np.zeros(16, np.int64)
    for op in ("smt.vmadot", "smt.vmadot1", "smt.vmadot2"):
        c = _run(op, a, bt, c, a_regs=2).ravel()
    assert c.reshape(4, 4).tolist() == [[504, 612, 720, 852], [616, 756, 896, 1092],
                                        [728, 900, 1072, 1332], [840, 1044, 1248, 1572]]


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(sorted(SIGNEDNESS)), st.sampled_from([0, 1, 2, 3]),
       st.sampled_from([256, 512, 1024]), st.integers(0, 2**32 - 1))
def test_every_variant_is_c_plus_a_times_b_transposed(suffix, slide, vlen, seed):
    """Against torch: C0 + A[s:s+M] @ B^T with each operand's signedness."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    g = ime_geometry(vlen)
    ta, tb = SIGNEDNESS[suffix]
    raw_a = rng.integers(0, 256, (2 * g.m if slide else g.m, g.k))
    raw_b = rng.integers(0, 256, (g.n, g.k))
    c0 = rng.integers(-2**20, 2**20, (g.m, g.n))
    name = f"smt.vmadot{slide or ''}{suffix}"
    got = _run(name, raw_a.astype(np.uint8).view(np.int8), raw_b.astype(np.uint8).view(np.int8),
               c0, vlen, 2 if slide else 1)

    def value(raw, t):
        return torch.tensor(raw if t == "u" else raw.astype(np.uint8).view(np.int8).astype(
            np.int64), dtype=torch.int64)
    a = value(raw_a, ta)[slide:slide + g.m]
    want = torch.tensor(c0) + a @ value(raw_b, tb).T
    assert got.tolist() == want.tolist()


def test_the_accumulator_wraps_at_32_bits():
    a = np.full((4, 8), 127)
    bt = np.full((4, 8), 127)
    got = _run("smt.vmadot", a, bt, np.full(16, 2**31 - 1000, np.int64))
    assert int(got[0, 0]) == (2**31 - 1000 + 8 * 127 * 127) - 2**32


@pytest.mark.parametrize("vlen,shape,c_regs", [(256, (4, 4, 8), 2), (1024, (8, 8, 16), 2),
                                               (512, (4, 4, 16), 1)])
def test_tile_geometry_is_the_a60s_and_the_a100s(vlen, shape, c_regs):
    """§2.5: A60 (VLEN 256) 4x8x4, A100 (VLEN 1024) 8x16x8, C in MUL_C = 2 registers."""
    g = ime_geometry(vlen)
    assert (g.m, g.n, g.k) == shape and g.c_regs == c_regs


def _one(op: str, vd: int, vs1: int, vs2: int, sew: int = 8, lmul: int = 1):
    b = Builder("t", ISA, 256)
    b.vsetvli(256 // sew * lmul, sew, lmul)
    b.emit(op, V(vd), V(vs1), V(vs2))
    return b.program()


@pytest.mark.parametrize("vd,vs1,vs2,sew,why", [
    (17, 0, 2, 8, "aligned"), (16, 17, 2, 8, "overlaps"), (16, 0, 2, 16, "SEW=8")])
def test_illegal_forms_are_refused(vd, vs1, vs2, sew, why):
    """§5.1.4: vd even (MUL_C = 2), vd:vd+1 not overlapping a source, SEW 8 / LMUL 1."""
    with pytest.raises(IsaError, match=why):
        execute(_one("smt.vmadot", vd, vs1, vs2, sew), {})


def test_a_sliding_form_needs_an_even_a_pair():
    with pytest.raises(IsaError, match="aligned"):
        execute(_one("smt.vmadot1", 16, 1, 4), {})


def test_it_is_refused_where_the_isa_lacks_it():
    b = Builder("t", parse_isa("rvv"), 256)
    b.vsetvli(32, 8, 1)
    with pytest.raises(IsaError, match="not enabled"):
        b.emit("smt.vmadot", V(16), V(0), V(2))
        execute(b.program(), {})


@pytest.mark.parametrize("vlen,macs,occ", [(256, 128, 1), (256, 32, 4), (1024, 128, 8),
                                           (512, 64, 4)])
def test_occupancy_is_the_tile_macs_over_the_units_rate(vlen, macs, occ):
    """A60: one 4x4x8 tile (128 MACs) per cycle; latency = base + occupancy."""
    ins = next(i for i, _ in _one("smt.vmadot", 16, 0, 2).walk() if i.op == "smt.vmadot")
    tp = TimingParams(vlen=vlen, dlen=min(vlen, 256), ime_macs_per_cycle=macs)
    t = ins.timing(tp)
    assert (t.occupancy, t.latency) == (occ, tp.ime_latency_base + occ)
    c = set(range(16, 16 + ime_geometry(vlen).c_regs))
    assert t.unit == "ime" and set(t.vdst) == c and {0, 2} | c <= set(t.vsrc)


def test_subsets_ablate_like_xattns():
    assert parse_isa("rvv+ime:vmadot").has("smt.vmadot")
    assert not parse_isa("rvv+ime:vmadot").has("smt.vmadot1")
    assert not parse_isa("rvv+ime:-vmadot").has("smt.vmadotu")
    assert parse_isa("rvv+xattn+ime").name == "rvv+xattn+ime"
    assert len(IME.mnemonics) == 16
