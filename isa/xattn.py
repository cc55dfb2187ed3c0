"""Xattn: the proposed attention instructions (riscv.md section 6), as data.

=================  ==========================================================  =========
instruction        semantics                                                    subset
=================  ==========================================================  =========
vfexp.v            vd[i] = e^vs2[i]: Schraudolph exponent + cubic mantissa      vfexp
                   (relative error <= 1e-4 FP32, <= 4.0e-3 BF16; isa.numerics)
vfexpsub.vf        vd[i] = e^(vs2[i] - f[rs1]) (fused max-subtract)             vfexpsub
vfsegredmax.vv     vd[j] = max(vs2[j*G : (j+1)*G]), j < VL/G, G = imm (2^k)     segred
vfsegredsum.vv     vd[j] = sum(vs2[j*G : (j+1)*G])                              segred
vfwmmacc.vv        C[M,N] += A[M,K] @ B[K,N]: vd = C (FP32), vs1 = A (BF16      mmacc
                   row-major M x K), vs2 = B^T (BF16 row-major N x K); tile
                   shape from VLEN and LMUL (isa.instructions.tile_geometry)
vmtl.v / vmts.v    tile load / store of ``rows x cols`` elements with a row     mmacc
                   pitch (IME vmtl.v/vmts.v, riscv.md 2.3) for vfwmmacc tiles
vfrec.v            vd[i] ~ 1/vs2[i], 12-bit (mantissa rounded to 11 bits)        vfrec
=================  ==========================================================  =========

Timing (riscv.md 6): vfexp latency 6 (BF16) / 8 (FP32), occupancy as vfmul, unit ``exp``
(as wide as the FMA datapath, VEXP's choice); vfexpsub +1 stage; segmented reductions
latency 4 + 3*log2(G), occupancy 2*LMUL; vfwmmacc occupancy M*N*K / MACs-per-cycle,
latency 4 + occupancy; vfrec latency 6 (4-8 proposed). Constants: isa.timing.TimingParams.
"""

from __future__ import annotations

from isa.instructions import Extension, define, register_extension
from isa.numerics import exp_approx, rec_approx

X = "xattn"

def _exp_fn(sew: int):
    return lambda d, a, b: exp_approx(b, sew)


def _expsub_fn(sew: int):
    # the subtraction is exact-then-rounded to SEW, as a fused pre-stage would compute it
    from isa.numerics import round_to
    return lambda d, a, b: exp_approx(round_to(b - a, sew), sew)


XATTN_DEFS = (
    define("vfexp.v", "vd vs2", "exp", "valu", "exp", None, extension=X,
           attrs={"semantics_by_sew": _exp_fn},
           doc="e^x (Schraudolph + cubic mantissa correction)"),
    define("vfexpsub.vf", "vd vs2 fs1", "exp", "valu", "expsub", None, extension=X,
           attrs={"semantics_by_sew": _expsub_fn}, doc="e^(x - f[rs1])"),
    define("vfsegredmax.vv", "vd vs2 imm", "reduction", "segred", "segred", extension=X,
           attrs={"op": "max"}, doc="segmented max over groups of G elements"),
    define("vfsegredsum.vv", "vd vs2 imm", "reduction", "segred", "segred", extension=X,
           attrs={"op": "sum"}, doc="segmented sum over groups of G elements"),
    define("vfwmmacc.vv", "vd vs1 vs2", "matrix", "mmacc", "mmacc", extension=X,
           reads_vd=True, widths={"vd": 2}, doc="BF16 tile multiply, FP32 accumulate"),
    define("vmtl.v", "vd mem imm", "load", "tload", "tload", extension=X, types={"*": "u"},
           doc="tile load: imm = (rows, cols); mem.stride = row pitch in elements"),
    define("vmts.v", "vs3 mem imm", "store", "tstore", "tstore", extension=X, types={"*": "u"},
           doc="tile store: imm = (rows, cols); mem.stride = row pitch in elements"),
    define("vfrec.v", "vd vs2", "fma", "valu", "rec", lambda d, a, b: rec_approx(b),
           extension=X, doc="~12-bit reciprocal"),
)


XATTN = register_extension(Extension(
    X, XATTN_DEFS,
    {
        "vfexp": ("vfexp.v",),
        "vfexpsub": ("vfexpsub.vf",),
        "segred": ("vfsegredmax.vv", "vfsegredsum.vv"),
        "mmacc": ("vfwmmacc.vv", "vmtl.v", "vmts.v"),
        "vfrec": ("vfrec.v",),
    },
    "Proposed attention extension (riscv.md section 6)",
))
