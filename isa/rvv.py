"""The RVV 1.0 subset (plus the scalar instructions loops need), as data.

Every instruction names its unit class and timing rule (:data:`isa.timing.RULES`); the
rules' constants are in :class:`isa.timing.TimingParams` (riscv.md 4.1, SiFive7/X280).
16-bit FP is BF16 in this model (see :mod:`isa.numerics`), so the Zvfbfmin/Zvfbfwma forms
(``vfwcvtbf16``, ``vfncvtbf16``, ``vfwmaccbf16``) are the natural widening instructions; the generic
``vfwcvt.f.f.v``/``vfncvt.f.f.w``/``vfwmacc`` forms are also defined.
"""

from __future__ import annotations

import numpy as np

from isa.instructions import Extension, InstrDef, define, register_extension
from isa.numerics import EST7_FRAC_BITS, rec_approx, rsqrt_approx

R = "rvv"
D: list[InstrDef] = []


def add(*a, **k) -> None:
    D.append(define(*a, **k))


def _splat(d: np.ndarray, a: float | int) -> np.ndarray:
    """A splat ignores the old destination (``a + 0*d`` would turn an old inf into NaN)."""
    return np.full(np.shape(d), a)


# ---- configuration ----------------------------------------------------------------------
add("vsetvli", "rd rs1 vtype", "scalar", "vset", "vset",
    doc="vl = min(AVL, VLMAX = LMUL*VLEN/SEW); sets vtype (riscv.md 2.1)")

# ---- FP arithmetic: .vv (vd, vs2, vs1) and .vf (vd, vs2, fs1) --------------------------
_BIN = {
    "vfadd": lambda d, a, b: b + a,
    "vfsub": lambda d, a, b: b - a,
    "vfmul": lambda d, a, b: b * a,
}
for name, fn in _BIN.items():
    add(f"{name}.vv", "vd vs2 vs1", "fma", "valu", "fp", fn)
    add(f"{name}.vf", "vd vs2 fs1", "fma", "valu", "fp", fn)
add("vfrsub.vf", "vd vs2 fs1", "fma", "valu", "fp", lambda d, a, b: a - b)
for name, fn in {"vfmin": lambda d, a, b: np.fmin(b, a),
                 "vfmax": lambda d, a, b: np.fmax(b, a)}.items():
    add(f"{name}.vv", "vd vs2 vs1", "fma", "valu", "fpminmax", fn)
    add(f"{name}.vf", "vd vs2 fs1", "fma", "valu", "fpminmax", fn)
add("vfsgnj.vv", "vd vs2 vs1", "fma", "valu", "fpmove", lambda d, a, b: np.copysign(b, a))
add("vfsgnjn.vv", "vd vs2 vs1", "fma", "valu", "fpmove", lambda d, a, b: np.copysign(b, -a),
    doc="vfneg.v vd, vs = vfsgnjn.vv vd, vs, vs")
add("vfsgnjx.vv", "vd vs2 vs1", "fma", "valu", "fpmove",
    lambda d, a, b: np.copysign(b, np.sign(a) * np.sign(b) + (a == 0) + (b == 0)),
    doc="vfabs.v vd, vs = vfsgnjx.vv vd, vs, vs")

# fused multiply-add: .vv (vd, vs1, vs2), .vf (vd, fs1, vs2); single rounding
_FMA = {
    "vfmacc": lambda d, a, b: a * b + d,
    "vfnmsac": lambda d, a, b: -(a * b) + d,
    "vfmsac": lambda d, a, b: a * b - d,
    "vfmadd": lambda d, a, b: a * d + b,
    "vfnmsub": lambda d, a, b: -(a * d) + b,
}
for name, fn in _FMA.items():
    add(f"{name}.vv", "vd vs1 vs2", "fma", "valu", "fma", fn, reads_vd=True)
    add(f"{name}.vf", "vd fs1 vs2", "fma", "valu", "fma", fn, reads_vd=True)
# widening FMA: FP32 accumulators += BF16 x BF16 (Zvfbfwma) / generic vfwmacc
for name in ("vfwmaccbf16", "vfwmacc"):
    add(f"{name}.vv", "vd vs1 vs2", "fma", "valu", "fma", _FMA["vfmacc"], reads_vd=True,
        widths={"vd": 2})
    add(f"{name}.vf", "vd fs1 vs2", "fma", "valu", "fma", _FMA["vfmacc"], reads_vd=True,
        widths={"vd": 2})

# divide, sqrt, estimates
add("vfdiv.vv", "vd vs2 vs1", "fdiv", "valu", "fdiv", lambda d, a, b: b / a)
add("vfdiv.vf", "vd vs2 fs1", "fdiv", "valu", "fdiv", lambda d, a, b: b / a)
add("vfrdiv.vf", "vd vs2 fs1", "fdiv", "valu", "fdiv", lambda d, a, b: a / b)
add("vfsqrt.v", "vd vs2", "fdiv", "valu", "fdiv", lambda d, a, b: np.sqrt(b))
add("vfrec7.v", "vd vs2", "fma", "valu", "fpcvt", lambda d, a, b: rec_approx(b, EST7_FRAC_BITS),
    doc="7-bit reciprocal estimate (precision model: mantissa rounded to 7 bits)")
add("vfrsqrt7.v", "vd vs2", "fma", "valu", "fpcvt", lambda d, a, b: rsqrt_approx(b, EST7_FRAC_BITS),
    doc="7-bit reciprocal square-root estimate (precision model)")

# compares into masks (riscv.md 4.1: latency 2*LMUL+3, mask results do not chain)
def _cmp(c):
    return lambda d, a, b: c(b, a)


_CMP = {"vmflt": np.less, "vmfle": np.less_equal, "vmfeq": np.equal, "vmfne": np.not_equal,
        "vmfgt": np.greater, "vmfge": np.greater_equal}
for name, cmp in _CMP.items():
    if name not in ("vmfgt", "vmfge"):
        add(f"{name}.vv", "vd vs2 vs1", "fma", "vcmp", "cmp",
            _cmp(cmp), mask_result=True, widths={"vd": "m"})
    add(f"{name}.vf", "vd vs2 fs1", "fma", "vcmp", "cmp",
        _cmp(cmp), mask_result=True, widths={"vd": "m"})
add("vmseq.vx", "vd vs2 rs1", "int", "vcmp", "cmp", lambda d, a, b: b == a, mask_result=True,
    types={"*": "i"}, widths={"vd": "m"})
add("vmslt.vx", "vd vs2 rs1", "int", "vcmp", "cmp", lambda d, a, b: b < a, mask_result=True,
    types={"*": "i"}, widths={"vd": "m"})
add("vmsne.vi", "vd vs2 imm", "int", "vcmp", "cmp", lambda d, a, b: b != a, mask_result=True,
    types={"*": "i"}, widths={"vd": "m"})
add("vmsgt.vx", "vd vs2 rs1", "int", "vcmp", "cmp", lambda d, a, b: b > a, mask_result=True,
    types={"*": "i"}, widths={"vd": "m"})

# merges (v0 selects op1)
add("vmerge.vvm", "vd vs2 vs1", "int", "vmerge", "int", types={"*": "u"})
add("vfmerge.vfm", "vd vs2 fs1", "fma", "vmerge", "fpmove")

# conversions (riscv.md 4.1: conversions share the FP latency 8 on SiFive7; their own class
# on the SpacemiT X60, where they run at DLEN while FP arithmetic has a wider path)
add("vfcvt.x.f.v", "vd vs2", "fma", "valu", "fpcvt", lambda d, a, b: np.rint(b),
    types={"vd": "i", "vs2": "f"}, doc="round to nearest even (frm=RNE)")
add("vfcvt.rtz.x.f.v", "vd vs2", "fma", "valu", "fpcvt", lambda d, a, b: np.trunc(b),
    types={"vd": "i", "vs2": "f"})
add("vfcvt.f.x.v", "vd vs2", "fma", "valu", "fpcvt", lambda d, a, b: b.astype(np.float64),
    types={"vd": "f", "vs2": "i"})
# integer -> float, widening (RVV 1.0 section 13.18): SEW=8 signed bytes to 16-bit FP (BF16
# in this model, as Zvfbfa's altfmt form), the int8 / int4 weight unpacking step
add("vfwcvt.f.x.v", "vd vs2", "fma", "valu", "fpcvt", lambda d, a, b: b.astype(np.float64),
    types={"vd": "f", "vs2": "i"}, widths={"vd": 2})
for name in ("vfwcvtbf16.f.f.v", "vfwcvt.f.f.v"):
    add(name, "vd vs2", "fma", "valu", "fpcvt", lambda d, a, b: b, widths={"vd": 2})
for name in ("vfncvtbf16.f.f.w", "vfncvt.f.f.w"):
    add(name, "vd vs2", "fma", "valu", "fpcvt", lambda d, a, b: b, widths={"vs2": 2})

# integer ALU: vx/vi forms take the scalar/immediate as op1
_INT = {
    "vadd": lambda d, a, b: b + a,
    "vsub": lambda d, a, b: b - a,
    "vmul": lambda d, a, b: b * a,
    "vand": lambda d, a, b: b & a,
    "vor": lambda d, a, b: b | a,
    "vsll": lambda d, a, b: b << (np.asarray(a) & 63),
    "vsra": lambda d, a, b: b >> (np.asarray(a) & 63),
    "vminu": lambda d, a, b: np.minimum(b, a),
    "vxor": lambda d, a, b: b ^ a,
}
# Timing classes (llvm-mca 22, SiFive7 and SpacemiT X60 models): multiplies and shifts have
# latencies of their own.
_INT_PROFILE = {"vmul": "imul", "vsll": "ishift", "vsra": "ishift"}
for name, fn in _INT.items():
    typ = "u" if name == "vminu" else "i"  # vminu compares unsigned (RVV 1.0)
    prof = _INT_PROFILE.get(name, "int")
    add(f"{name}.vv", "vd vs2 vs1", "int", "valu", prof, fn, types={"*": typ})
    add(f"{name}.vx", "vd vs2 rs1", "int", "valu", prof, fn, types={"*": typ})
    if name not in ("vmul", "vminu", "vxor", "vsub"):  # RVV 1.0 has no vsub.vi (vrsub.vi)
        add(f"{name}.vi", "vd vs2 imm", "int", "valu", prof, fn, types={"*": "i"})
add("vsrl.vi", "vd vs2 imm", "int", "valu", "ishift", lambda d, a, b: b >> a, types={"*": "u"})
add("vsrl.vx", "vd vs2 rs1", "int", "valu", "ishift", lambda d, a, b: b >> (np.asarray(a) & 63),
    types={"*": "u"}, doc="the high nibble of a byte (ggml's Q4_0 unpacking: x >> 4)")
# narrowing (RVV 1.0 sections 11.7, 13.19): vncvt.x.x.w is vnsrl.wx/wi by 0; the FP32 ->
# int16 convert rounds to nearest-even (frm = RNE), as ggml's quantize_row_q8_0 uses it
add("vnsrl.wi", "vd vs2 imm", "int", "valu", "ishift", lambda d, a, b: b >> a,
    types={"*": "u"}, widths={"vs2": 2}, doc="vncvt.x.x.w vd, vs2 = vnsrl.wi vd, vs2, 0")
add("vfncvt.x.f.w", "vd vs2", "fma", "valu", "fpcvt", lambda d, a, b: np.rint(b),
    types={"vd": "i", "vs2": "f"}, widths={"vs2": 2}, doc="round to nearest even (frm=RNE)")
# widening signed integer multiply(-add) of two vectors (RVV 1.0 section 11.12, 11.14): the
# int8 x int8 -> int16 products of ggml's RVV block dot products
add("vwmul.vv", "vd vs2 vs1", "int", "valu", "intw", lambda d, a, b: b * a,
    types={"*": "i"}, widths={"vd": 2})
add("vwmacc.vv", "vd vs1 vs2", "int", "valu", "intw", lambda d, a, b: a * b + d,
    types={"*": "i"}, widths={"vd": 2}, reads_vd=True)
# widening signed multiply (RVV 1.0 section 11.12): 2*SEW-bit products; a multiply by a
# power of two is a widening shift (unpacking 4-bit codes into 16-bit lanes). Timed as
# vwmul.vv: both vendor models give the .vx and .vv forms one class (llvm-mca 22
# spacemit-x60: e8/e16 m1 latency 4, occupancy 2, the source's element groups;
# sifive-x280: latency 8, 2*LMUL of the source)
add("vwmul.vx", "vd vs2 rs1", "int", "valu", "intw", lambda d, a, b: b * a,
    types={"*": "i"}, widths={"vd": 2})
# sign/zero extension from EEW = SEW/2 (RVV 1.0 section 11.3): packed 8-bit weights widened to
# 16-bit lanes; timed as integer ALU ops at the destination EEW (llvm-mca 22 sifive-x280:
# vsext.vf2 e16 m2 latency 4, occupancy 4)
add("vsext.vf2", "vd vs2", "int", "valu", "int", lambda d, a, b: b,
    types={"*": "i"}, widths={"vs2": 0.5})
add("vzext.vf2", "vd vs2", "int", "valu", "int", lambda d, a, b: b,
    types={"*": "u"}, widths={"vs2": 0.5})
add("vid.v", "vd", "int", "vid", "slide", types={"*": "u"}, doc="vd[i] = i")

# moves and splats
add("vmv.v.v", "vd vs2", "int", "valu", "int", lambda d, a, b: b, types={"*": "u"})
add("vmv.v.x", "vd rs1", "int", "valu", "int", lambda d, a, b: _splat(d, a), types={"*": "i"},
    reads_vd=False)
add("vmv.v.i", "vd imm", "int", "valu", "int", lambda d, a, b: _splat(d, a), types={"*": "i"})
add("vfmv.v.f", "vd fs1", "fma", "valu", "fpmove", lambda d, a, b: _splat(d, a),
    doc="splat f[rs1] (riscv.md 4.1: vfmv latency 4)")
add("vfmv.f.s", "fd vs2", "permute", "vtos", "tos", widths={"vs2": "s"})
add("vmv.x.s", "rd vs2", "permute", "vtos", "tos", types={"*": "i"}, widths={"vs2": "s"})
add("vfmv.s.f", "vd fs1", "permute", "stov", "mvs", widths={"vd": "s"})
add("vmv.s.x", "vd rs1", "permute", "stov", "mvs", types={"*": "i"}, widths={"vd": "s"})
add("vfirst.m", "rd vs2", "permute", "vtos", "tos", types={"*": "m"}, widths={"vs2": "m"},
    doc="index of the first set mask bit among the first VL, or -1")

# reductions: vd[0] = op(vs1[0], vs2[0..vl-1]) (riscv.md 2.1: scalar into element 0)
for name, prof in (("vfredusum", "red"), ("vfredosum", "redo"), ("vfredmax", "red"),
                   ("vfredmin", "red")):
    add(f"{name}.vs", "vd vs2 vs1", "reduction", "vred", prof,
        widths={"vd": "s", "vs1": "s"}, attrs={"op": name[5:]})
# integer reduction (riscv.md 2.1 "integer vred*"; SiFive7 times it like vfredmax, 4.1; the
# X60 faster: TimingParams.int_red_*)
add("vredminu.vs", "vd vs2 vs1", "reduction", "vred", "ired", types={"*": "u"},
    widths={"vd": "s", "vs1": "s"}, attrs={"op": "minu"})
# signed integer sum (RVV 1.0 section 14.1): vd[0] = vs1[0] + sum(vs2), at SEW (wrapping);
# ggml_vec_dot_q6_K_q8_K's sum of the scaled int32 sub-block products
add("vredsum.vs", "vd vs2 vs1", "reduction", "vred", "ired", types={"*": "i"},
    widths={"vd": "s", "vs1": "s"}, attrs={"op": "sum"})
# widening integer sum (RVV 1.0 section 14.2): vd[0] (2*SEW) = vs1[0] (2*SEW) + sum(vs2),
# ggml's reduction of each block's int16 products to an int32
add("vwredsum.vs", "vd vs2 vs1", "reduction", "vred", "ired", types={"*": "i"},
    widths={"vd": "s", "vs1": "s"}, attrs={"op": "wsum"})

# permutes
add("vslidedown.vx", "vd vs2 rs1", "permute", "vslide", "slide", types={"*": "u"},
    attrs={"dir": "down"})
add("vslidedown.vi", "vd vs2 imm", "permute", "vslide", "slide", types={"*": "u"},
    attrs={"dir": "down"})
add("vslideup.vx", "vd vs2 rs1", "permute", "vslide", "slide", types={"*": "u"},
    attrs={"dir": "up"})
add("vslideup.vi", "vd vs2 imm", "permute", "vslide", "slide", types={"*": "u"},
    attrs={"dir": "up"})
add("vrgather.vv", "vd vs2 vs1", "permute", "vgather", "gather", types={"*": "u"})
add("vrgather.vx", "vd vs2 rs1", "permute", "vgather", "gatherx", types={"*": "u"})

# memory: data EEW = SEW; indexed loads take byte offsets in an index register (EEW in name)
add("vle8.v", "vd mem", "load", "vload", "load", types={"*": "u"},
    doc="byte loads (boolean masks of where/masked_fill, packed quantised weights)")
add("vse8.v", "vs3 mem", "store", "vstore", "store", types={"*": "u"},
    doc="byte stores (int8 codes of quantised activations)")
for e in (16, 32, 64):
    add(f"vle{e}.v", "vd mem", "load", "vload", "load", types={"*": "u"})
    add(f"vse{e}.v", "vs3 mem", "store", "vstore", "store", types={"*": "u"})
    add(f"vlse{e}.v", "vd mem", "load", "vload", "load", types={"*": "u"})
    add(f"vsse{e}.v", "vs3 mem", "store", "vstore", "store", types={"*": "u"})
for e in (32,):
    add(f"vluxei{e}.v", "vd mem", "load", "vload", "load", types={"*": "u"},
        attrs={"index_eew": e})
    add(f"vsuxei{e}.v", "vs3 mem", "store", "vstore", "store", types={"*": "u"},
        attrs={"index_eew": e})

# ---- scalar instructions (loop control, addresses, scalar FP) -----------------------------
add("flw", "fd mem", "scalar", "sload", "sload")
add("flh", "fd mem", "scalar", "sload", "sload", doc="BF16 scalar load (Zfbfmin)")
add("fsw", "fs2 mem", "scalar", "sstore", "sstore")
add("fsh", "fs2 mem", "scalar", "sstore", "sstore")
add("lw", "rd mem", "scalar", "sload", "sload", types={"*": "i"})
add("lb", "rd mem", "scalar", "sload", "sload", types={"*": "i"},
    doc="signed byte load (a block_q6_K's int8 sub-block scale, ggml's vec_dot_q6_K_q8_K)")
add("sw", "rs2 mem", "scalar", "sstore", "sstore", types={"*": "i"})
add("fadd.s", "fd fs1 fs2", "scalar", "salu", "sfp", lambda a, b: a + b)
add("fsub.s", "fd fs1 fs2", "scalar", "salu", "sfp", lambda a, b: a - b)
add("fmul.s", "fd fs1 fs2", "scalar", "salu", "sfp", lambda a, b: a * b)
add("fmax.s", "fd fs1 fs2", "scalar", "salu", "sfpn", max)
add("fmin.s", "fd fs1 fs2", "scalar", "salu", "sfpn", min)
add("fmadd.s", "fd fs1 fs2 fs3", "scalar", "salu", "sfp", lambda a, b, c: a * b + c)
add("fnmsub.s", "fd fs1 fs2 fs3", "scalar", "salu", "sfp", lambda a, b, c: -(a * b) + c)
add("fdiv.s", "fd fs1 fs2", "scalar", "salu", "sfdiv",
    lambda a, b: a / b if b else float(np.copysign(np.inf, a) if a else np.nan))
add("fsqrt.s", "fd fs1", "scalar", "salu", "sfdiv", lambda a: float(np.sqrt(a)))
add("fmv.s", "fd fs1", "scalar", "salu", "sfpn", lambda a: a, doc="fsgnj.s fd, fs, fs")
add("fcvt.s.w", "fd rs1", "scalar", "salu", "sfp", float,
    doc="int32 -> FP32 (a block dot product's integer sum)")
add("fcvt.s.h", "fd fs1", "scalar", "salu", "sfp", lambda a: a,
    doc="16-bit FP -> FP32 (Zfh; the value model keeps f registers as values: timing only)")
# FP <-> integer bit moves (RV F: fmv.x.w / fmv.w.x): the bit manipulation a scalar libm
# expf does (isa.kernels.scalar); they run on the FP pipe, their integer results (and
# flt.s's) ready after timing.scalar_fp_to_int_latency (rule "sfpx"; "sfpn": fmin/fmax/fsgnj)
add("fmv.x.w", "rd fs1", "scalar", "salu", "sfpx",
    lambda a: int(np.array([a], np.float32).view(np.int32)[0]), types={"rd": "i"},
    doc="the bits of an FP32 register as an integer")
add("fmv.w.x", "fd rs1", "scalar", "salu", "sfp",
    lambda a: float(np.array([int(a) & 0xFFFFFFFF], np.uint32).view(np.float32)[0]),
    types={"rs1": "i"}, doc="the low 32 bits of an integer register as FP32")
add("andi", "rd rs1 imm", "scalar", "salu", "sint", lambda a, b: a & b, types={"*": "i"})
add("addi", "rd rs1 imm", "scalar", "salu", "sint", lambda a, b: a + b, types={"*": "i"})
add("add", "rd rs1 rs2", "scalar", "salu", "sint", lambda a, b: a + b, types={"*": "i"})
add("slli", "rd rs1 imm", "scalar", "salu", "sint", lambda a, b: a << b, types={"*": "i"})
add("mul", "rd rs1 rs2", "scalar", "salu", "sint", lambda a, b: a * b, types={"*": "i"},
    doc="RV64M multiply (row byte offsets of data-dependent rows)")
add("srli", "rd rs1 imm", "scalar", "salu", "sint", lambda a, b: (int(a) & 0xFFFFFFFF) >> b,
    types={"*": "i"}, doc="logical right shift of the low 32 bits (RV32I)")
add("flt.s", "rd fs1 fs2", "scalar", "salu", "sfpx", lambda a, b: int(a < b),
    types={"rd": "i"},
    doc="FP compare into an integer register (a C `if (x > m)` on FP values)")
add("bne", "rs1 rs2 label", "scalar", "branch", "branch", doc="loop back edge")
add("blt", "rs1 rs2 label", "scalar", "branch", "branch")
add("bgeu", "rs1 rs2 label", "scalar", "branch", "branch",
    doc="a not-taken guard (the program's control flow is its loop nest): timed and counted")
add("jal", "rd label", "scalar", "branch", "branch", doc="a call (rd = x1, the return address)")
add("jalr", "rd rs1 imm", "scalar", "branch", "branch", doc="ret = jalr x0, 0(x1)")

RVV = register_extension(Extension(R, tuple(D), {}, "RVV 1.0 subset + scalar RV64GF loop code"))
