"""Vector libm sequences beyond exp (riscv.md 2.1: RVV has no log/sin/cos instruction, so
they are range reduction + polynomial, as in Cephes and the vector libms built from it;
riscv.md 4.3 shows the same structure for exp).

=========  ==================================================  ============  ============
function   method                                              vector instr  accuracy
=========  ==================================================  ============  ============
log        Cephes logf: exponent/mantissa split by integer     33            ~2 ulp FP32
           ops, m in [sqrt(1/2), sqrt(2)), degree-8 poly,                    (x > 0 normal)
           Cody-Waite ln2 = 0.693359375 - 2.12194440e-4
sin, cos   Cephes sinf/cosf polynomials on |r| <= pi/4 after   29 (cos 30)   ~2e-7 abs for
           r = x - j*pi/2 (j = round(2x/pi), 3-term                          |x| <= 8192
           Cody-Waite); quadrant j selects sin/cos (merge)                   (Cephes sinf
           and the sign (xor into the sign bit)                              domain)
erf        Abramowitz & Stegun 7.1.26: 1 - t*P4(t) e^(-a^2),   14 + exp +    1.5e-7 abs
           t = 1/(1 + 0.3275911 a); odd via vfsgnj             reciprocal    (A&S bound)
=========  ==================================================  ============  ============

Counts are per strip, constants hoisted (f registers via ``Kc.fconst``; integer masks in
x26-x28 set once by :func:`setup`).
"""

from __future__ import annotations

from isa.kernels.common import Kc
from isa.program import Reg, V, X

# Cephes logf (cephes/single/logf.c)
SQRTHF = 0.707106781186547524
LOG_P = (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
         1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
         3.3333331174e-1)
LOG_Q1 = -2.12194440e-4
LOG_Q2 = 0.693359375
# Cephes sinf/cosf (cephes/single/sinf.c): pi/2 split in three, polynomials on [-pi/4, pi/4]
TWO_OVER_PI = 0.636619772367581343
PIO2 = (1.5703125, 4.837512969970703125e-4, 7.54978995489188216e-8)
SIN_P = (-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1)
COS_P = (2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2)
# Abramowitz & Stegun 7.1.26
ERF_P = 0.3275911
ERF_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)


def setup(kc: Kc, log: bool = False, trig: bool = False, erf: bool = False) -> None:
    """Hoist the constants of the sequences a kernel uses (call before its loops)."""
    b = kc.b
    if log:
        b.emit("addi", X(26), X(0), 126, comment="log: exponent bias - 1")
        b.emit("addi", X(27), X(0), 0x807FFFFF, comment="log: sign + mantissa mask (li)")
        b.emit("addi", X(28), X(0), 0x3F000000, comment="log: exponent of 0.5 (li)")
        for c in (SQRTHF, 1.0, *LOG_P, LOG_Q1, -0.5, LOG_Q2):
            kc.fconst(c)
    if trig:
        for c in (TWO_OVER_PI, *PIO2, *SIN_P, *COS_P, -0.5, 1.0):
            kc.fconst(c)
    if erf:
        for c in (ERF_P, *ERF_A, 1.0):
            kc.fconst(c)


def log(kc: Kc, dst: Reg, x: Reg, tmps: tuple[Reg, Reg, Reg]) -> None:
    """dst = ln(x) for x > 0 (x clobbered; dst may be x). Uses v0."""
    b, c = kc.b, kc.fconst
    e, z, y = tmps
    b.emit("vsrl.vi", e, x, 23, comment="log: biased exponent")
    b.emit("vsub.vx", e, e, X(26))
    b.emit("vfcvt.f.x.v", e, e)
    b.emit("vand.vx", x, x, X(27))
    b.emit("vor.vx", x, x, X(28), comment="m in [0.5, 1)")
    b.emit("vmflt.vf", V(0), x, c(SQRTHF))
    b.emit("vfsub.vf", e, e, c(1.0), masked=True)
    b.emit("vfadd.vv", x, x, x, masked=True, comment="m in [sqrt(1/2), sqrt(2))")
    b.emit("vfsub.vf", x, x, c(1.0))
    b.emit("vfmul.vv", z, x, x)
    b.emit("vfmv.v.f", y, c(LOG_P[0]))
    for cf in LOG_P[1:]:
        b.emit("vfmul.vv", y, y, x)
        b.emit("vfadd.vf", y, y, c(cf))
    b.emit("vfmul.vv", y, y, z)
    b.emit("vfmul.vv", y, y, x)
    b.emit("vfmacc.vf", y, c(LOG_Q1), e)
    b.emit("vfmacc.vf", y, c(-0.5), z)
    b.emit("vfadd.vv", dst, x, y)
    b.emit("vfmacc.vf", dst, c(LOG_Q2), e, comment="+ e*ln2")


def sincos(kc: Kc, dst: Reg, x: Reg, tmps: tuple[Reg, Reg, Reg, Reg], cos: bool) -> None:
    """dst = sin(x) or cos(x) (x clobbered; dst may be x). Uses v0."""
    b, c = kc.b, kc.fconst
    j, z, s, cc = tmps
    b.emit("vfmul.vf", z, x, c(TWO_OVER_PI))
    b.emit("vfcvt.x.f.v", j, z, comment="quadrant j = round(2x/pi)")
    b.emit("vfcvt.f.x.v", z, j)
    for p in PIO2:
        b.emit("vfnmsac.vf", x, c(p), z, comment="r = x - j*pi/2 (Cody-Waite)")
    b.emit("vfmul.vv", z, x, x)
    b.emit("vfmv.v.f", s, c(SIN_P[0]))
    for cf in SIN_P[1:]:
        b.emit("vfmul.vv", s, s, z)
        b.emit("vfadd.vf", s, s, c(cf))
    b.emit("vfmul.vv", s, s, z)
    b.emit("vfmadd.vv", s, x, x, comment="sin(r)")
    b.emit("vfmv.v.f", cc, c(COS_P[0]))
    for cf in COS_P[1:]:
        b.emit("vfmul.vv", cc, cc, z)
        b.emit("vfadd.vf", cc, cc, c(cf))
    b.emit("vfmul.vv", cc, cc, z)
    b.emit("vfmul.vv", cc, cc, z)
    b.emit("vfmacc.vf", cc, c(-0.5), z)
    b.emit("vfadd.vf", cc, cc, c(1.0), comment="cos(r)")
    if cos:
        b.emit("vadd.vi", j, j, 1, comment="cos(x) = sin(x + pi/2)")
    b.emit("vand.vi", z, j, 1)
    b.emit("vmsne.vi", V(0), z, 0)
    b.emit("vmerge.vvm", dst, s, cc, comment="odd quadrant: cos(r)")
    b.emit("vand.vi", z, j, 2)
    b.emit("vsll.vi", z, z, 30)
    b.emit("vxor.vv", dst, dst, z, comment="quadrants 2, 3: negate")


def erf(kc: Kc, dst: Reg, x: Reg, tmps: tuple[Reg, Reg, Reg], sign: Reg | None = None) -> None:
    """dst = erf(x) (dst distinct from x and tmps). The sign is taken from ``sign``
    (default x; then x must survive, i.e. not be one of tmps). Uses the exp sequence's
    temporaries and v0 (kc.exp_setup must have run)."""
    b, c = kc.b, kc.fconst
    a, t, e = tmps
    b.emit("vfsgnjx.vv", a, x, x, comment="|x|")
    b.emit("vfmul.vv", e, a, a)
    b.emit("vfsgnjn.vv", e, e, e, comment="-x^2")
    kc.exp(e, e)
    b.emit("vfmul.vf", t, a, c(ERF_P))
    b.emit("vfadd.vf", t, t, c(1.0))
    kc.recip(t, t)
    b.emit("vfmv.v.f", dst, c(ERF_A[0]))
    for cf in ERF_A[1:]:
        b.emit("vfmul.vv", dst, dst, t)
        b.emit("vfadd.vf", dst, dst, c(cf))
    b.emit("vfmul.vv", dst, dst, t)
    b.emit("vfmul.vv", dst, dst, e)
    b.emit("vfrsub.vf", dst, dst, c(1.0), comment="erf(|x|)")
    b.emit("vfsgnj.vv", dst, dst, sign or x, comment="odd")
