"""Instruction definitions, ISA strings, extensions and timing formulas (riscv.md 4.1, 6)."""

import numpy as np
import pytest

from isa import (
    EXTENSIONS,
    UNITS,
    Builder,
    Extension,
    IsaError,
    TimingParams,
    V,
    define,
    execute,
    lookup,
    parse_isa,
    register_extension,
    tile_geometry,
)
from isa.instructions import all_instructions
from isa.program import Affine, Instr, Mem, VType

X280 = TimingParams()  # VLEN=512, DLEN=256


def t(op, sew, lmul, vl=None, args=None, vlen=512):
    vt = VType(sew, lmul)
    d = lookup(op)
    if args is None:
        args = tuple(V(8) if r.startswith("v") else 0 for r in d.operands)
    return Instr(op, args, vl if vl is not None else vt.vlmax(vlen), vt).timing(X280)


def test_every_instruction_has_a_valid_unit_and_timing():
    from isa.instructions import units
    for name, d in all_instructions().items():
        # built-in instructions on built-in units; a user's may be on a unit it registered
        assert d.unit in (UNITS if d.extension in ("rvv", "xattn") else units()), name
        assert callable(d.rule), name
    assert {"rvv", "xattn"} <= set(EXTENSIONS)


@pytest.mark.parametrize(("sew", "lmul", "lat"), [(32, 1, 37), (32, 8, 51), (16, 1, 42),
                                                  (64, 1, 32)])
def test_vfredusum_latency_matches_sifive7_table(sew, lmul, lat):
    r = t("vfredusum.vs", sew, lmul)
    assert (r.latency, r.occupancy, r.unit) == (lat, lat, "reduction")


def test_x280_rows():
    assert t("vfredosum.vs", 32, 1).latency == 96
    assert t("vfredosum.vs", 32, 8).latency == 768
    assert t("vfdiv.vv", 32, 1).latency == 112  # 7 cycles/element
    fma = t("vfmacc.vv", 32, 4)
    assert (fma.latency, fma.occupancy) == (8, 8)  # 2*LMUL chunks
    cmp = t("vmflt.vv", 32, 2)
    assert cmp.is_mask and cmp.latency == 2 * 2 + 3  # 2*LMUL + 3
    assert t("vfmax.vv", 32, 1).latency == 4
    m = Mem("x", Affine(0), 32, "strided", 4)
    s = Instr("vlse32.v", (V(8), m), 16, VType(32, 1)).timing(X280)
    assert (s.latency, s.occupancy, s.mem_pattern, s.mem_bytes) == (19, 16, "strided", 64)
    u = Instr("vle32.v", (V(8), Mem("x", Affine(0), 32)), 16, VType(32, 1)).timing(X280)
    assert (u.latency, u.occupancy, u.mem, u.vdst) == (4, 2, "load", (8,))


def test_xattn_timing_from_section_6():
    assert t("vfexp.v", 16, 1).latency == 6
    assert t("vfexp.v", 32, 1).latency == 8
    assert t("vfexpsub.vf", 32, 1, args=(V(8), V(16), V(0).__class__("f", 1))).latency == 9
    seg = t("vfsegredsum.vv", 32, 8, args=(V(8), V(16), 16))
    assert (seg.latency, seg.occupancy) == (4 + 3 * 4, 16)
    g = tile_geometry(512, 1)
    assert (g.m, g.n, g.k, g.c_regs) == (4, 4, 8, 1)
    mm = t("vfwmmacc.vv", 16, 1, args=(V(8), V(1), V(2)))
    assert mm.unit == "matrix" and mm.occupancy == 2 and mm.latency == 6  # 128 MAC / 64


def test_parse_isa_subsets_and_errors():
    assert parse_isa("rvv").has("vfredusum.vs") and not parse_isa("rvv").has("vfexp.v")
    full = parse_isa("rvv+xattn")
    assert all(full.has(m) for m in EXTENSIONS["xattn"].mnemonics)
    sub = parse_isa("rvv+xattn:vfexp,segred")
    assert sub.has("vfexp.v") and sub.has("vfsegredmax.vv") and not sub.has("vfexpsub.vf")
    assert sub.name == "rvv+xattn:vfexp,segred"
    one = parse_isa("rvv+xattn:vfsegredmax.vv")
    assert one.has("vfsegredmax.vv") and not one.has("vfsegredsum.vv")
    neg = parse_isa("rvv+xattn:-mmacc")
    assert neg.has("vfexp.v") and not neg.has("vfwmmacc.vv")
    for m in EXTENSIONS["xattn"].mnemonics:  # every Xattn instruction can be disabled alone
        assert not parse_isa(f"rvv+xattn:-{m}").has(m)
    for bad, msg in [("xattn", "must start with 'rvv'"), ("rvv+foo", "unknown extension"),
                     ("rvv+xattn:vfoo", "unknown xattn item"),
                     ("rvv+xattn:vfexp,-segred", "either")]:
        with pytest.raises(IsaError, match=msg):
            parse_isa(bad)


def test_user_extension_without_editing_the_package():
    dbl = define("vfdbl.v", "vd vs2", "fma", "valu", "fp", lambda d, a, b: 2 * b,
                 extension="testdbl")
    register_extension(Extension("testdbl", (dbl,)), replace=True)
    isa = parse_isa("rvv+testdbl")
    b = Builder("dbl", isa, 128)
    b.buffer("x", "fp32", 4)
    b.buffer("y", "fp32", 4, role="out")
    b.vsetvli(4, 32, 1)
    b.emit("vle32.v", V(1), b.mem("x", 0))
    b.emit("vfdbl.v", V(2), V(1))
    b.emit("vse32.v", V(2), b.mem("y", 0))
    out = execute(b.program(), {"x": np.array([1.0, -2.0, 3.5, 0.0])})
    assert out.buffers["y"].tolist() == [2.0, -4.0, 7.0, 0.0]
    plain = Builder("x", parse_isa("rvv"), 128)
    plain.vsetvli(4, 32, 1)
    with pytest.raises(IsaError, match="not enabled"):
        plain.emit("vfdbl.v", V(2), V(1))
    with pytest.raises(IsaError, match="already defined"):
        register_extension(Extension("other", (define("vfadd.vv", "vd vs2 vs1", "fma", "valu",
                                                      "fp", extension="other"),)))
