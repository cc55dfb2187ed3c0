"""llama.cpp's Q6_K weights and their RVV dot product with Q8_K activations (the
``llamacpp`` library, :mod:`isa.kernels.ggml`).

llama.cpp's quantiser gives a GGUF's output matrix (``output.weight``, or the token
embedding a model with tied embeddings uses as its output) Q6_K in a Q4_0 / Q4_1 file
(src/llama-quant.cpp ``llama_tensor_get_type_impl``: the OUTPUT category, or TOKEN_EMBD
when the embeddings are tied, becomes Q6_K unless the file is Q8_0 or the row length is
not a multiple of the default type's block; ``tensor_type_fallback`` turns a Q6_K whose
rows are not a multiple of 256 into Q8_0). The SpacemiT backend's IME kernels take Q4_0,
Q4_1 and Q4_K (docs/build-riscv64-spacemit.md, "Quantization Support For Matrix"), so
that matrix runs on ggml's generic CPU path: ``ggml_vec_dot_q6_K_q8_K``.

Layout (ggml-common.h ``block_q6_K``, QK_K = 256 weights, 210 bytes): ``ql[128]`` the low
4 bits, ``qh[64]`` the high 2 bits, ``scales[16]`` one int8 per 16 weights, ``d`` an fp16
super-block scale; ``w = d x scale[j / 16] x (q - 32)`` with the 6-bit ``q`` of weight j
taken, per half of 128 (``ql`` 64 bytes, ``qh`` 32, ``scales`` 8 on), as for l < 32:
``j = l``: ``ql[l] & 15 | (qh[l] & 3) << 4``; ``l + 32``: ``ql[l + 32] & 15 | (qh[l] >> 2
& 3) << 4``; ``l + 64``: ``ql[l] >> 4 | (qh[l] >> 4 & 3) << 4``; ``l + 96``: ``ql[l + 32]
>> 4 | (qh[l] >> 6) << 4`` (ggml-quants.c ``dequantize_row_q6_K``). Here the four fields
are four arrays of weight rows (``Bql``, ``Bqh``, ``Bsc``, ``Bd``: one row per output, as
ggml stores them), 16-bit FP as BF16 (:mod:`isa.numerics`).

Activations are quantised per op to Q8_K (``quantize_row_q8_K``, ggml-cpu/arch/riscv/
quants.c): per row and block of 256, an FP32 ``d = amax / 127`` and int8 codes, in
strips of e32 m8 (a pass for the maximum, a pass to scale, convert and narrow). ggml
also writes each block's 16 sums of 16 codes (``bsums``), which the Q6_K dot product does
not read; they are not computed here (at most 16 reductions per 256 activations, once
per op).

The dot product is ggml's VLEN-256 intrinsic path (``ggml_vec_dot_q6_K_q8_K``, case 256),
per super-block and half of 128: the 32 ``qh`` bytes and two 32-byte rows of ``ql``
loaded (``vle8``, e8 m1), the low and high nibbles split (``vand`` / ``vsrl``), the four
2-bit fields of ``qh`` shifted down and masked, shifted up by 4 and or-ed in, 32
subtracted: four rows of 32 signed codes; each times 32 activation codes (``vwmul.vv`` to
int16), each half of 16 times its int8 scale (``vwmul.vx`` to int32, the scale a scalar
``lb``), pairs added (``vadd.vv``) and reduced into one running int32 (``vredsum.vs``,
chained), moved to a scalar once per half (``vmv.x.s``); per super-block ``sumf += d_x
d_y sum`` in scalar FP.
"""

from __future__ import annotations

from isa.errors import IsaError
from isa.kernels.common import Kc
from isa.kernels.q8 import FLT_MIN, RMAX_RECIPROCAL
from isa.program import Affine, F, Program, V, X

QK_K = 256  # ggml-common.h QK_K: weights per super-block
Q6_K_BYTES = 210  # block_q6_K: ql 128 + qh 64 + scales 16 + d 2 (ggml-common.h static_assert)
FORMAT = "q6_k"
HALF = 128  # the dot product's unit: half a super-block (ql 64, qh 32, scales 8 bytes)
VLEN = 256  # ggml_vec_dot_q6_K_q8_K's intrinsic path is written for VLEN 256
# scalar registers clear of the builder's (x5 vsetvli, x9 / x10.. loop control) and of
# isa.kernels.quant's masks (x21 - x23): the running int sum, a temporary, the constant 32
# and the two sub-block scales
_SUM, _TMP, _OFF, _SC0, _SC1 = X(24), X(25), X(26), X(27), X(28)


def usable(vlen: int, kk: int) -> bool:
    """Whether ggml's RVV Q6_K dot product runs here: VLEN 256 (its intrinsic case; at
    128 it has an assembly variant not expressed here), K whole super-blocks."""
    return vlen == VLEN and kk % QK_K == 0


def declare(kc: Kc, g: int, n: int, kk: int) -> None:
    """The block_q6_K fields of N weight rows: ``Bql`` [G, N, K/2], ``Bqh`` [G, N, K/4],
    ``Bsc`` [G, N, K/16] (int8), ``Bd`` [G, N, K/256] (16-bit)."""
    b = kc.b
    b.buffer("Bql", "int8", g * n * kk // 2, "in", (g, n, kk // 2))
    b.buffer("Bqh", "int8", g * n * kk // 4, "in", (g, n, kk // 4))
    b.buffer("Bsc", "int8", g * n * kk // 16, "in", (g, n, kk // 16))
    b.buffer("Bd", "bf16", g * n * kk // QK_K, "in", (g, n, kk // QK_K))


def quantize_q8_k(kc: Kc, g: int, m: int, kk: int) -> None:
    """``Aq`` [G, M, K] int8 and ``Ad`` [G, M, K/256] FP32: every row of ``A`` quantised to
    Q8_K blocks (``quantize_row_q8_K``'s two passes over e32 m8 strips)."""
    b = kc.b
    b.buffer("Aq", "int8", g * m * kk, "scratch", (g, m, kk))
    b.buffer("Ad", "fp32", g * m * (kk // QK_K), "scratch", (g, m, kk // QK_K))
    vl = kc.core.vlmax(32, 8)
    if QK_K % vl:
        raise IsaError(f"VLEN {kc.core.vlen}: e32 m8 strips of {vl} do not tile a Q8_K block")
    strips = QK_K // vl
    zero = kc.fconst(0.0)
    kc.fconst(RMAX_RECIPROCAL)
    kc.fconst(FLT_MIN)
    kc.fconst(1.0)
    x, acc, a16, q16, q8 = V(8), V(16), V(4), V(24), V(28)
    fa, fd, fdd, fid = F(1), F(2), F(3), F(4)
    b.vsetvli(1, 32, 1)
    b.emit("vfmv.s.f", V(1), zero, comment="max(|x|) starts at 0")

    def load(at: Affine) -> None:
        if b.buffers["A"].dtype == "bf16":
            b.vsetvli(vl, 16, 4)
            b.emit("vle16.v", a16, b.mem("A", at, 16))
            b.emit("vfwcvtbf16.f.f.v", x, a16)
            b.vsetvli(vl, 32, 8)
        else:
            b.emit("vle32.v", x, b.mem("A", at, 32))

    with kc.rep("g", g) as gi, kc.rep("r", m, ptrs=3) as r, \
            kc.rep("q", kk // QK_K, ptrs=3) as q:
        row = (gi * m + r) * kk + q * QK_K
        b.vsetvli(vl, 32, 8)
        b.emit("vmv.v.i", acc, 0)
        with kc.rep("s", strips, ptrs=2) as s:
            load(row + s * vl)
            b.emit("vfsgnjx.vv", x, x, x, comment="|x|")
            b.emit("vfmax.vv", acc, acc, x)
        b.emit("vfredmax.vs", V(2), acc, V(1))
        b.emit("vfmv.f.s", fa, V(2), comment="amax")
        b.emit("fmul.s", fd, fa, kc.fconst(RMAX_RECIPROCAL), comment="d = amax / 127")
        b.emit("fmax.s", fdd, fd, kc.fconst(FLT_MIN))
        b.emit("fdiv.s", fid, kc.fconst(1.0), fdd, comment="1/d")
        b.emit("fsw", fd, b.mem("Ad", (gi * m + r) * (kk // QK_K) + q, 32))
        with kc.rep("s", strips, ptrs=2) as s:
            load(row + s * vl)
            b.emit("vfmul.vf", x, x, fid)
            b.vsetvli(vl, 16, 4)
            b.emit("vfncvt.x.f.w", q16, x, comment="round to nearest even")
            b.vsetvli(vl, 8, 2)
            b.emit("vnsrl.wi", q8, q16, 0, comment="int16 -> int8")
            b.emit("vse8.v", q8, b.mem("Aq", row + s * vl, 8))


def vec_dot(kc: Kc, g: int, m: int, n: int, kk: int) -> Program:
    """ggml's vec-dot GEMM on Q6_K weights: A quantised to Q8_K rows, then every output one
    ``ggml_vec_dot_q6_K_q8_K`` (VLEN 256), in ggml's 16 x 16 output blocks."""
    from isa.kernels.ggml import output_blocks

    if not usable(kc.core.vlen, kk):
        raise IsaError(f"Q6_K: ggml's RVV dot product needs VLEN {VLEN} and K a multiple of "
                       f"{QK_K} (VLEN {kc.core.vlen}, K {kk})")
    b = kc.b
    b.name += " B=q6_k ggml vec_dot"
    b.buffer("A", "bf16", g * m * kk, "in", (g, m, kk))
    b.buffer("C", "bf16", g * m * n, "out", (g, m, n))
    declare(kc, g, n, kk)
    quantize_q8_k(kc, g, m, kk)
    zero = kc.fconst(0.0)
    b.emit("addi", _OFF, X(0), 32, comment="the codes' offset")
    nb = kk // QK_K
    qh, ql0, ql1 = V(1), V(2), V(3)
    a = [V(4), V(5), V(6), V(7)]  # the four rows of 32 signed codes of a half
    h = [V(8), V(9), V(10), V(11)]  # qh's four 2-bit fields
    y = [V(12), V(13), V(14), V(15)]  # 32 activation codes each
    p = [V(16), V(18), V(20), V(22)]  # int16 products (m2: two halves of 16)
    w0, w1, t, red, vzero = V(24), V(26), V(28), V(30), V(0)
    sumf, fdx, fdy, fsum = F(5), F(6), F(7), F(8)

    def dot(gi: Affine, r: Affine, c: Affine) -> None:
        b.emit("fmv.s", sumf, zero, comment="sumf = 0")
        wrow, arow = gi * n + c, gi * m + r
        with kc.rep("q", nb, ptrs=3) as q:
            b.emit("flh", fdx, b.mem("Bd", wrow * nb + q, 16))
            b.emit("fcvt.s.h", fdx, fdx)
            b.emit("flw", fdy, b.mem("Ad", arow * nb + q, 32))
            b.emit("fmul.s", fdx, fdx, fdy, comment="d = d_x d_y")
            b.vsetvli(1, 32, 1)
            b.emit("vmv.v.i", vzero, 0)
            b.emit("addi", _SUM, X(0), 0, comment="sum_t = 0")
            with kc.rep("j", QK_K // HALF, ptrs=4) as j:
                _half(kc, wrow * (kk // 2) + q * (QK_K // 2) + j * (HALF // 2),
                      wrow * (kk // 4) + q * (QK_K // 4) + j * (HALF // 4),
                      wrow * (kk // 16) + q * (QK_K // 16) + j * (HALF // 16),
                      arow * kk + q * QK_K + j * HALF,
                      (qh, ql0, ql1, a, h, y, p, (w0, w1, t, red, vzero)))
            b.emit("fcvt.s.w", fsum, _SUM)
            b.emit("fmadd.s", sumf, fdx, fsum, sumf, comment="sumf += d sum_t")
        b.emit("fsh", sumf, b.mem("C", (gi * m + r) * n + c, 16))

    output_blocks(kc, g, m, n, dot)
    return kc.program(kind="gemm", b_layout="Bq6k", weight_format=FORMAT,
                      weight_group=16, kernel="ggml vec_dot q6_K", activations="q8_K")


def _half(kc: Kc, ql_at: Affine, qh_at: Affine, sc_at: Affine, q8_at: Affine,
          regs: tuple) -> None:
    """One half (128 weights) of a super-block into the scalar running sum x24, the
    intrinsics in the order of ggml's source."""
    b = kc.b
    qh, ql0, ql1, a, h, y, p, (w0, w1, t, red, vzero) = regs
    b.vsetvli(32, 8, 1)
    b.emit("vle8.v", qh, b.mem("Bqh", qh_at, 8))
    b.emit("vle8.v", ql0, b.mem("Bql", ql_at, 8))
    b.emit("vle8.v", ql1, b.mem("Bql", ql_at + 32, 8))
    b.emit("vand.vi", a[0], ql0, 15)
    b.emit("vand.vi", a[1], ql1, 15)
    b.emit("vsrl.vi", a[2], ql0, 4)
    b.emit("vsrl.vi", a[3], ql1, 4)
    b.emit("vand.vi", h[0], qh, 3)
    for i in (1, 2, 3):
        b.emit("vsrl.vi", h[i], qh, 2 * i)
        b.emit("vand.vi", h[i], h[i], 3)
    for i in range(4):
        b.emit("vsll.vi", h[i], h[i], 4)
        b.emit("vor.vv", a[i], a[i], h[i])
    for i in range(4):
        b.emit("vsub.vx", a[i], a[i], _OFF, comment="q - 32")
    for i in range(4):
        b.emit("vle8.v", y[i], b.mem("Aq", q8_at + 32 * i, 8))
        b.emit("vwmul.vv", p[i], a[i], y[i])
    for i in range(4):  # rows i: sub-blocks 2i and 2i + 1 (each 16 products)
        b.emit("lb", _SC0, b.mem("Bsc", sc_at + 2 * i, 8))
        b.emit("lb", _SC1, b.mem("Bsc", sc_at + 2 * i + 1, 8))
        b.vsetvli(16, 16, 1)
        b.emit("vwmul.vx", w0, p[i], _SC0)
        b.emit("vwmul.vx", w1, V(p[i].n + 1), _SC1)
        b.vsetvli(16, 32, 2)
        b.emit("vadd.vv", t, w0, w1)
        b.emit("vredsum.vs", red, t, vzero if i == 0 else red)
    b.emit("vmv.x.s", _TMP, red)
    b.emit("add", _SUM, _SUM, _TMP, comment="sum_t += the half's sum")
