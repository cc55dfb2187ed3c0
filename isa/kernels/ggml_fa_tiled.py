"""llama.cpp's tiled flash attention on the CPU: ggml-cpu's
``ggml_compute_forward_flash_attn_ext_tiled`` (ggml-cpu/ops.cpp), which FLASH_ATTN_EXT takes
for prompt processing, as the ``llamacpp`` library runs it for a SpacemiT build of llama.cpp
with the rewritten backend (``Core.spacemit == "pr22863"``).

**Which code, and when.** The tiled path came with llama.cpp PR #19012 ("ggml-cpu: Use tiled
FA for prompt-processing", 2026-01-22), after the SpacemiT backend's first version (PR
#15288, measured at its own commit 6f8d979, 2025-08: one_chunk only,
:mod:`isa.kernels.ggml_attention`) and before its rewrite (PR #22863, reviewed 2026-05).
The rewrite takes FLASH_ATTN_EXT over (spacemit/ime.cpp ``tensor_traits_common::
forward_flash_attn_ext_f16``) but runs its own kernels only when ``__riscv_vlenb() == 128``
(VLEN 1024); on any other VLEN, the K1's 256 among them, it calls ggml-cpu's
``ggml_compute_forward_flash_attn_ext``, whose ``ggml_compute_forward_flash_attn_ext_f16``
takes the tiled path when Q is F32, K and V are F16 (or F32) of one type, the query rows
``neq1 >= Q_TILE_SZ`` (:data:`Q_TILE`) and ``DV % GGML_F32_EPR == 0`` (:data:`F32_EPR`);
else ``..._one_chunk``. Its threads take chunks of ``ceil(rows / (4 nth))`` query rows
(rows = queries x heads); the validated shapes (128 queries, 16 or 8 heads, 4 threads) make
a chunk one head's 128 queries, two tiles, which is the split the cluster model gives it
(whole heads per core, :func:`codesign.kinds._split_attention`). Per tile of ``Q_TILE``
query rows of one head (ops.cpp, in order):

1. VKQ32 (Q_TILE x DV) and mask32 (Q_TILE x KV_TILE) cleared (memset), the tile's Q rows
   copied (memcpy of the F32 rows; here the model's 16-bit Q widened: :data:`Q_NOTE`), the
   missing rows and the K / V tile buffers cleared; S = 0, M = -inf per row;
2. per tile of ``KV_TILE`` keys: the mask converted to F32 one element at a time
   (``slope * GGML_CPU_FP16_TO_FP32``, scalar) with a ``!= -INFINITY`` test each, the
   tile skipped when every entry is -inf (``continue``); K's rows converted to F32 and
   stored **transposed** (``K_f32[dk * KV_TILE + tk]``, one element at a time: a scalar
   load, ``fcvt.s.h``, a strided store); KQ cleared, ``simd_gemm(KQ, Q, K_f32, Q_TILE,
   DK, KV_TILE)``, ``ggml_vec_scale_f32`` by the scale (e32/m8), the padded key columns
   set to -inf, ``ggml_vec_add_f32`` of the mask (plain C: GCC's LMUL-1 loop,
   :data:`isa.kernels.ggml_kq.MASK_LMUL`); per row (every one of Q_TILE, the padding too)
   ``ggml_vec_max_f32`` (plain C: a scalar compare-and-branch per element), the row
   skipped if -inf, else ``M = fmaxf(M, max)``, the rescale ``ms = expf(Mold - Mnew)``
   (libm) with ``ggml_vec_scale_f32`` of the VKQ row, and ``S += ggml_vec_soft_max_f32``
   (RVV e32/m2: ``ggml_v_expf_m2``, one widening reduction per strip); V's rows converted
   by ``ggml_fp16_to_fp32_row`` (scalar); the skipped rows' KQ cleared;
   ``simd_gemm(VKQ32, KQ, V32, Q_TILE, KV_TILE, DV)``;
3. per valid row: ``1/S``, ``ggml_vec_scale_f32``, the row copied out.

``simd_gemm`` is simd-gemm.h's RVV kernel (PR #20627, "simd_gemm implementation for riscv
vector extension"): C blocks of ``GEMM_RM = 7`` rows x ``vlenb`` columns held in seven
e32/m4 accumulators, per k one ``vle32.v`` of B's row and seven scalar loads of A with a
``vfmacc.vf`` each; the columns past the last whole block at a shorter VL, the last rows
by the 1..6-row kernels. PR #20627 reached master before PR #22863 (a binding's changelog,
LlamaCppEx CHANGELOG.md: #20627 among llama.cpp 408225bb1..30dce2cf2, #22863 among
1e5ad35d5..834a24366), so it is the default; a build from before it ran the header's
scalar triple loop: ``Core.fa_simd_gemm = "scalar"`` (``kernel.llamacpp_simd_gemm``).

What the model does differently, and why (each close to ggml's cost):

- ``if (Mnew > Mold)`` is taken for every row of every visited tile (the data-independent
  form: its ``expf`` and VKQ rescale always run; ggml skips them when a tile does not raise
  the row's maximum, which after the first tile is data-dependent);
- ``ggml_v_expf_m2``'s special path (``vcpop`` of ``|n| > 126``) is emitted for the strips
  holding masked (-inf) scores, which the mask fixes, and not for the others (scores more
  than 87 below the row's maximum do not occur in the checked data); ``vcpop.m`` is
  modelled as ``vfirst.m`` (the same vector-to-scalar class), ``vmerge.vxm`` as a splat
  and ``vmerge.vvm``, and the FP64 ``vfwredusum.vs`` into ``ggml_float`` as an FP32
  ``vfredusum.vs`` (:data:`REDUCE_NOTE`);
- memset / memcpy (glibc) are e32/m8 vector stores / copies (:data:`MEMSET_LMUL`);
- a 16-bit element load (``lhu`` + ``fmv.h.x`` in ggml's ``GGML_CPU_FP16_TO_FP32`` under
  Zfh) is one ``flh``, then ``fcvt.s.h``.

Windows, sinks, non-causal attention, fewer than :data:`Q_TILE` queries, VLEN 1024 (the
backend's own kernels) and the other backend versions keep :mod:`isa.kernels.ggml_attention`
or the ideal kernels.
"""

from __future__ import annotations

import math

from isa.core import Core
from isa.kernels import snitch
from isa.kernels.attention.schedule import heads
from isa.kernels.common import Kc
from isa.kernels.ggml import _blocks
from isa.kernels.ggml_attention import causal_mask
from isa.kernels.ggml_kq import MASK_LMUL
from isa.program import Affine, F, Program, Reg, V, X

KERNEL = "ggml flash_attn_ext_tiled"
NEG_INF = float("-inf")
# ggml-cpu/common.h ggml_fa_tile_config: GGML_FA_TILE_Q / GGML_FA_TILE_KV (PR #19012)
Q_TILE = 64
KV_TILE = 64
# simd-gemm.h, RVV branch (PR #20627): rows of C per micro-kernel (7 e32/m4 accumulators
# and B's row fill the 32 vector registers), columns per block = vlenb (e32/m4's VLMAX)
GEMM_RM = 7
GEMM_LMUL = 4
# simd-mappings.h, __riscv_v_intrinsic branch ("compatible with vlen >= 128"):
# GGML_F32_EPR = 4; ops.cpp ggml_compute_forward_flash_attn_ext_f16: use_tiled &= DV % EPR == 0
F32_EPR = 4
# vec.h ggml_vec_scale_f32 (RVV: __riscv_vsetvl_e32m8 loop) and vec.cpp
# ggml_vec_soft_max_f32 (RVV: e32/m2 with ggml_v_expf_m2)
SCALE_LMUL = 8
SOFTMAX_LMUL = 2
# glibc memset / memcpy stand-in (the K1's glibc routine is not modelled instruction for
# instruction): e32/m8 vector stores / copies
MEMSET_LMUL = 8
# The SpacemiT backend runs its own FA kernels at this VLEN (spacemit/ime.cpp:
# __riscv_vlenb() == 128), ggml-cpu's below it
SPACEMIT_OWN_FA_VLEN = 1024
BACKEND = "pr22863"
Q_NOTE = "memcpy of Q's F32 row (here the model's 16-bit Q, widened)"
REDUCE_NOTE = "vfwredusum.vs into ggml_float (FP64): FP32 stand-in"
# ggml_v_expf_m2 (vec.h, RVV; ARM optimized-routines' expf)
EXP_SHIFT = float.fromhex("0x1.8p23")
EXP_LOG2E = float.fromhex("0x1.715476p+0")
EXP_LN2_HI = float.fromhex("0x1.62e4p-1")
EXP_LN2_LO = float.fromhex("0x1.7f7d1cp-20")
EXP_C = (float.fromhex("0x1.ffffecp-1"), float.fromhex("0x1.fffdb6p-2"),
         float.fromhex("0x1.555e66p-3"), float.fromhex("0x1.573e2ep-5"),
         float.fromhex("0x1.0e4020p-7"))
EXP_SPECIAL = 126.0  # |n| above it: the special path
EXP_HUGE = 192.0  # |n| above it: s1 * s1 (over/underflow)
ONE_BITS = 0x3F800000
SPECIAL_BITS = (0x82000000, 0x7F000000)

# f registers (constants from f10 up: Kc.fconst; expf's temporaries f29..f31)
FM, FS, FT, FX, FMS, FN = (F(i) for i in range(1, 7))
EXP_TMPS = (F(29), F(30), F(31))
# x registers: shift / bit constants (loop counters use x9..x1x, expf x29..x31, x1, x2)
XSH, XONE, XD, XS1, XCMP = X(21), X(22), X(23), X(24), X(28)


def usable(core: Core, sq: int, d: int, causal: bool, window: int, sinks: bool) -> bool:
    """Whether ggml's tiled path is the one this build runs (module doc)."""
    return (core.library == "llamacpp" and core.flash_attn and core.spacemit == BACKEND
            and core.vlen != SPACEMIT_OWN_FA_VLEN and causal and not window and not sinks
            and sq >= Q_TILE and d % F32_EPR == 0)


def lower(kc: Kc, bsz: int, hq: int, hkv: int, sq: int, skv: int, d: int) -> Program:
    """ggml_compute_forward_flash_attn_ext_tiled (module doc) on Q, K, V and O."""
    b = kc.b
    b.name += " " + KERNEL
    causal_mask(kc, sq, skv)
    for name, size in (("q32", Q_TILE * d), ("kq", Q_TILE * KV_TILE),
                       ("mask32", Q_TILE * KV_TILE), ("vkq", Q_TILE * d),
                       ("v32", KV_TILE * d), ("k32", d * KV_TILE), ("ms", 2 * Q_TILE)):
        b.buffer(name, "fp32", size, "scratch")
    b.buffer("skip", "int32", Q_TILE, "scratch")
    snitch.expf_setup(kc)
    t = _Tiled(kc, sq, skv, d)
    stack, qh, kvh, _ = heads(kc, bsz, hq, hkv)
    with stack:
        t.qh, t.kvh = qh, kvh
        for q0 in range(0, sq, Q_TILE):
            t.q_tile(q0, min(Q_TILE, sq - q0))
    return kc.program(kind="attention", phase="prefill", kernel=KERNEL, kv_dtype="f16")


def visible_keys(off: int, q0: int, tr: int, k0: int, kt: int) -> tuple[int, ...]:
    """Per row of a Q tile (rows q0.. of which tr are queries), how many of the KV tile's
    kt keys from k0 it sees (a prefix: causal); padded rows see all kt (their scores are
    0, only the padded key columns -inf)."""
    return tuple(min(kt, max(0, off + q0 + tq - k0 + 1)) if tq < tr else kt
                 for tq in range(Q_TILE))


class _Tiled:
    """The pieces of ggml's tiled loop (:func:`lower`)."""

    def __init__(self, kc: Kc, sq: int, skv: int, d: int) -> None:
        self.kc, self.b = kc, kc.b
        self.sq, self.skv, self.d = sq, skv, d
        self.off = skv - sq
        self.ninf = kc.fconst(NEG_INF)
        self.low = kc.fconst(-3.0e38)  # below it: -inf (ggml: == -INFINITY)
        self.one = kc.fconst(1.0)
        self.zero = kc.fconst(0.0)
        self.scale = kc.fconst(1.0 / math.sqrt(d))
        self.exp = tuple(kc.fconst(c) for c in (EXP_SHIFT, EXP_LOG2E, EXP_LN2_HI,
                                                EXP_LN2_LO, *EXP_C, EXP_SPECIAL, EXP_HUGE))
        b = self.b
        b.emit("addi", XSH, X(0), 23)
        for reg, bits in ((XONE, ONE_BITS), (XD, SPECIAL_BITS[0]), (XS1, SPECIAL_BITS[1])):
            top = bits >> 20  # as a signed 12-bit immediate, then shifted into place
            b.emit("addi", reg, X(0), top - 0x1000 if top & 0x800 else top,
                   comment=f"{bits:#x}")
            b.emit("slli", reg, reg, 20)
        self.qh: Affine = Affine(0)
        self.kvh: Affine = Affine(0)

    # -- library routines ----------------------------------------------------------------
    def strips(self, n: int, lmul: int, var: str, body, ptrs: int = 2) -> None:
        """A ``vsetvl_e32m<lmul>(n - i)`` loop: ``body(offset, vl)`` per strip."""
        vm = self.kc.core.vlmax(32, lmul)
        for count, width, base in _blocks(n, vm):
            with self.kc.rep(var, count, ptrs) as j:
                self.b.vsetvli(width, 32, lmul)
                body(j * width + base, width)

    def memset(self, buf: str, at: Affine | int, n: int) -> None:
        """memset(buf + at, 0, n floats) (:data:`MEMSET_LMUL`)."""
        b = self.b
        self.b.vsetvli(self.kc.core.vlmax(32, MEMSET_LMUL), 32, MEMSET_LMUL)
        b.emit("vmv.v.i", V(8), 0)
        self.strips(n, MEMSET_LMUL, "z",
                    lambda o, w: b.emit("vse32.v", V(8), b.mem(buf, Affine.of(at) + o, 32)))

    def vec_scale(self, buf: str, at: Affine | int, n: int, f: Reg) -> None:
        """ggml_vec_scale_f32 (vec.h RVV: e32/m8 load, vfmul.vf, store)."""
        b = self.b

        def body(o: Affine, w: int) -> None:
            b.emit("vle32.v", V(16), b.mem(buf, Affine.of(at) + o, 32))
            b.emit("vfmul.vf", V(16), V(16), f)
            b.emit("vse32.v", V(16), b.mem(buf, Affine.of(at) + o, 32))
        self.strips(n, SCALE_LMUL, "s", body)

    def simd_gemm(self, c: str, a: str, bm: str, m: int, k: int, n: int) -> None:
        """simd-gemm.h RVV: C[m x n] += A[m x k] B[k x n] (module doc); the scalar loop
        with ``Core.fa_simd_gemm == "scalar"`` (:meth:`simd_gemm_scalar`)."""
        b, kc = self.b, self.kc
        if kc.core.fa_simd_gemm == "scalar":
            self.simd_gemm_scalar(c, a, bm, m, k, n)
            return
        kn = kc.core.vlmax(32, GEMM_LMUL)  # __riscv_vlenb() floats = e32/m4's VLMAX
        accs = [V(4 * i) for i in range(GEMM_RM)]
        bv = V(28)

        def ukernel(rm: int, row: Affine, col: Affine | int, vl: int) -> None:
            b.vsetvli(vl, 32, GEMM_LMUL)
            for i in range(rm):
                b.emit("vle32.v", accs[i], b.mem(c, (row + i) * n + col, 32))
            with kc.rep("kk", k, ptrs=2) as kk:
                b.emit("vle32.v", bv, b.mem(bm, kk * n + col, 32))
                for i in range(rm):
                    b.emit("flw", FX, b.mem(a, (row + i) * k + kk, 32))
                    b.emit("vfmacc.vf", accs[i], FX, bv)
            for i in range(rm):
                b.emit("vse32.v", accs[i], b.mem(c, (row + i) * n + col, 32))

        def columns(rm: int, row: Affine) -> None:
            for count, width, base in _blocks(n, kn):
                with kc.rep("jj", count, ptrs=3) as jj:
                    ukernel(rm, row, jj * width + base, width)

        blocks, tail = divmod(m, GEMM_RM)
        if blocks:
            with kc.rep("ii", blocks, ptrs=2) as ii:
                columns(GEMM_RM, ii * GEMM_RM)
        if tail:
            columns(tail, Affine(blocks * GEMM_RM))

    def simd_gemm_scalar(self, c: str, a: str, bm: str, m: int, k: int, n: int) -> None:
        """simd-gemm.h's scalar path (RISC-V before PR #20627): per output ``sum =
        C[i*N + j]; for kk: sum += A[i*K + kk] * B[kk*N + j]``, one FMA per step (GCC
        contracts it: -ffp-contract=fast, its default outside ISO C); the ordered FP sum
        over kk is not vectorised (no -ffast-math) and B is read down a column (stride N)."""
        b, kc = self.b, self.kc
        with kc.rep("i", m, ptrs=2) as i, kc.rep("j", n, ptrs=2) as j:
            b.emit("flw", FS, b.mem(c, i * n + j, 32))
            with kc.rep("kk", k, ptrs=3) as kk:
                b.emit("flw", FX, b.mem(a, i * k + kk, 32))
                b.emit("flw", FT, b.mem(bm, kk * n + j, 32))
                b.emit("fmadd.s", FS, FX, FT, FS)
            b.emit("fsw", FS, b.mem(c, i * n + j, 32))

    def expf_m2(self, x: Reg, special: bool) -> None:
        """ggml_v_expf_m2 on ``x`` (e32/m2, in place): the main path, and its special path
        (:data:`EXP_SPECIAL`) where ``special``."""
        b = self.b
        sh, l2e, hi, lo, c1, c2, c3, c4, c5, big, huge = self.exp
        r, z, n, bb, u, j, t, an = (V(i) for i in (4, 6, 8, 10, 12, 14, 16, 18))
        e, k = V(20), V(22)
        b.emit("vfmv.v.f", r, sh)
        b.emit("vfmv.v.f", z, sh)
        b.emit("vfmacc.vf", z, l2e, x, comment="z = r + x log2e")
        b.emit("vfsub.vv", n, z, r)
        b.emit("vmv.v.v", bb, x)
        b.emit("vfnmsac.vf", bb, hi, n)
        b.emit("vfnmsac.vf", bb, lo, n, comment="b = x - n ln2")
        b.emit("vsll.vx", e, z, XSH)
        b.emit("vadd.vx", k, e, XONE, comment="k = 2^n")
        b.emit("vfsgnjx.vv", an, n, n, comment="|n|")
        b.emit("vmfgt.vf", V(0), an, big, comment="c = |n| > 126")
        b.emit("vfmul.vv", u, bb, bb)
        b.emit("vfmv.v.f", j, c2)
        b.emit("vfmacc.vf", j, c3, bb)
        b.emit("vfmv.v.f", t, c4)
        b.emit("vfmacc.vf", t, c5, bb)
        b.emit("vfmacc.vv", j, t, u)
        b.emit("vfmul.vf", t, bb, c1)
        b.emit("vfmacc.vv", t, j, u, comment="j")
        b.emit("vfirst.m", XCMP, V(0), comment="vcpop.m c (stand-in)")
        b.emit("bne", XCMP, X(0), "expf_special", comment="any |n| > 126")
        if not special:
            b.emit("vfmacc.vv", k, k, t, comment="k + k j")
            b.emit("vmv.v.v", x, k)
            return
        s1, s2, dv = V(24), V(26), V(28)
        b.emit("vmfle.vf", V(0), n, self.zero, comment="dm = n <= 0")
        b.emit("vmv.v.x", dv, X(0))
        b.emit("vmv.v.x", s1, XD)
        b.emit("vmerge.vvm", dv, dv, s1, comment="d (vmerge.vxm stand-in)")
        b.emit("vadd.vx", s1, dv, XS1, comment="s1")
        b.emit("vsub.vv", s2, e, dv, comment="s2")
        b.emit("vmv.v.v", j, k)
        b.emit("vfmacc.vv", j, k, t, comment="k + k j")
        b.emit("vmv.v.v", u, s2)
        b.emit("vfmacc.vv", u, s2, t)
        b.emit("vfmul.vv", u, u, s1, comment="(s2 + s2 j) s1")
        b.emit("vmfgt.vf", V(0), an, big, comment="c back in v0")
        b.emit("vmerge.vvm", j, j, u, comment="r1")
        b.emit("vfmul.vv", u, s1, s1)
        b.emit("vmfgt.vf", V(0), an, huge)
        b.emit("vmerge.vvm", x, j, u)

    # -- the tile loops --------------------------------------------------------------------
    def q_tile(self, q0: int, tr: int) -> None:
        """One tile of ``tr`` query rows from ``q0`` of the current head."""
        b, kc, d = self.b, self.kc, self.d
        self.memset("vkq", 0, Q_TILE * d)
        self.memset("mask32", 0, Q_TILE * KV_TILE)
        with kc.rep("tq", tr, ptrs=2) as tq:
            def copy(o: Affine, w: int) -> None:
                b.vsetvli(w, 16, MEMSET_LMUL // 2)
                b.emit("vle16.v", V(0), b.mem("Q", (self.qh * self.sq + q0 + tq) * d + o, 16))
                b.emit("vfwcvtbf16.f.f.v", V(8), V(0), comment=Q_NOTE)
                b.vsetvli(w, 32, MEMSET_LMUL)
                b.emit("vse32.v", V(8), b.mem("q32", tq * d + o, 32))
            self.strips(d, MEMSET_LMUL, "c", copy)
        if tr < Q_TILE:
            self.memset("q32", tr * d, (Q_TILE - tr) * d)
        self.memset("k32", 0, d * KV_TILE)
        self.memset("v32", 0, KV_TILE * d)
        with kc.rep("tq", Q_TILE, ptrs=2) as tq:
            b.emit("fsw", self.zero, b.mem("ms", tq * 2 + 1, 32), comment="S = 0")
            b.emit("fsw", self.ninf, b.mem("ms", tq * 2, 32), comment="M = -inf")
        runs: list[tuple[int, int, int, tuple[int, ...]]] = []  # (k0, count, kt, visible)
        for k0 in range(0, self.skv, KV_TILE):
            kt = min(KV_TILE, self.skv - k0)
            vis = visible_keys(self.off, q0, tr, k0, kt)
            if runs and runs[-1][2] == kt == KV_TILE and runs[-1][3] == vis:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1, kt, vis)
            else:
                runs.append((k0, 1, kt, vis))
        for k0, count, kt, vis in runs:
            with kc.rep("ic", count, ptrs=3) as ic:
                self.kv_tile(q0, tr, ic * KV_TILE + k0, kt, vis)
        with kc.rep("tq", tr, ptrs=2) as tq:
            b.emit("flw", FS, b.mem("ms", tq * 2 + 1, 32))
            b.emit("flt.s", XCMP, self.zero, FS, comment="S == 0 ?")
            b.emit("fdiv.s", FS, self.one, FS, comment="S_inv = 1/S")
            self.vec_scale("vkq", tq * d, d, FS)

            def out(o: Affine, w: int) -> None:  # memcpy of the row to dst
                b.emit("vle32.v", V(8), b.mem("vkq", tq * d + o, 32))
                b.vsetvli(w, 16, MEMSET_LMUL // 2)
                b.emit("vfncvtbf16.f.f.w", V(0), V(8), comment="(16-bit O: stand-in)")
                b.emit("vse16.v", V(0), b.mem("O", (self.qh * self.sq + q0 + tq) * d + o, 16))
                b.vsetvli(w, 32, MEMSET_LMUL)
            self.strips(d, MEMSET_LMUL, "c", out)

    def kv_tile(self, q0: int, tr: int, k0: Affine, kt: int, vis: tuple[int, ...]) -> None:
        """One tile of ``kt`` keys from ``k0`` for the Q tile at ``q0`` (module doc, 2.)."""
        b, kc, d, skv = self.b, self.kc, self.d, self.skv
        with kc.rep("tq", tr, ptrs=2) as tq, kc.rep("tk", kt, ptrs=3) as tk:
            b.emit("flh", FX, b.mem("kq_mask", (q0 + tq) * skv + k0 + tk, 16))
            b.emit("fcvt.s.h", FX, FX)
            b.emit("fmul.s", FX, FX, self.one, comment="slope x mask (slope 1)")
            b.emit("fsw", FX, b.mem("mask32", tq * KV_TILE + tk, 32))
            b.emit("flt.s", XCMP, self.low, FX, comment="!= -INFINITY: can_skip = false")
        if kt < KV_TILE:
            with kc.rep("tq", tr, ptrs=2) as tq, kc.rep("tk", KV_TILE - kt, ptrs=2) as tk:
                b.emit("fsw", self.ninf, b.mem("mask32", tq * KV_TILE + kt + tk, 32))
        b.emit("bne", XCMP, X(0), "fa_tile_skip", comment="if (can_skip) continue")
        if not any(vis[:tr]):
            return
        with kc.rep("tk", kt, ptrs=2) as tk, kc.rep("dk", d, ptrs=3) as dk:
            b.emit("flh", FX, b.mem("K", (self.kvh * skv + k0 + tk) * d + dk, 16))
            b.emit("fcvt.s.h", FX, FX)
            b.emit("fsw", FX, b.mem("k32", dk * KV_TILE + tk, 32), comment="transposed")
        self.memset("kq", 0, Q_TILE * KV_TILE)
        self.simd_gemm("kq", "q32", "k32", Q_TILE, d, KV_TILE)
        self.vec_scale("kq", 0, Q_TILE * KV_TILE, self.scale)
        if kt < KV_TILE:
            with kc.rep("tq", Q_TILE, ptrs=2) as tq, kc.rep("tk", KV_TILE - kt, ptrs=2) as tk:
                b.emit("fsw", self.ninf, b.mem("kq", tq * KV_TILE + kt + tk, 32))

        def add_mask(o: Affine, w: int) -> None:  # ggml_vec_add_f32: plain C, GCC LMUL 1
            b.emit("vle32.v", V(16), b.mem("kq", o, 32))
            b.emit("vle32.v", V(17), b.mem("mask32", o, 32))
            b.emit("vfadd.vv", V(16), V(16), V(17))
            b.emit("vse32.v", V(16), b.mem("kq", o, 32))
        self.strips(tr * KV_TILE, MASK_LMUL, "m", add_mask)
        start = 0
        while start < Q_TILE:  # runs of rows alike: skipped or with the same special strips
            sig = self.row_kind(vis[start], start < tr)
            end = start + 1
            while end < Q_TILE and self.row_kind(vis[end], end < tr) == sig:
                end += 1
            with kc.rep("tq", end - start, ptrs=3) as tq:
                self.row(tq + start, sig)
            start = end
        with kc.rep("tk", kt, ptrs=2) as tk, kc.rep("dv", d, ptrs=3) as dv:
            b.emit("flh", FX, b.mem("V", (self.kvh * skv + k0 + tk) * d + dv, 16))
            b.emit("fcvt.s.h", FX, FX, comment="ggml_fp16_to_fp32_row (scalar)")
            b.emit("fsw", FX, b.mem("v32", tk * d + dv, 32))
        first = 0
        for count, skipped in self.skip_runs(vis, tr):
            with kc.rep("tq", count, ptrs=2) as tq:
                b.emit("lw", XCMP, b.mem("skip", tq + first, 32), comment="if (skip[tq])")
                b.emit("bne", XCMP, X(0), "fa_noskip")
                if skipped:
                    self.memset("kq", (tq + first) * KV_TILE, KV_TILE)
            first += count
        self.simd_gemm("vkq", "kq", "v32", Q_TILE, KV_TILE, d)

    @staticmethod
    def skip_runs(vis: tuple[int, ...], tr: int) -> list[tuple[int, bool]]:
        """The rows of the skip-clearing loop in runs (count, skipped): skipped rows are a
        prefix (causal)."""
        n = sum(1 for tq in range(tr) if not vis[tq])
        return [r for r in ((n, True), (Q_TILE - n, False)) if r[0]]

    def row_kind(self, visible: int, real: bool) -> tuple[bool, ...] | None:
        """None for a skipped row, else per soft_max strip whether it holds masked keys."""
        if real and not visible:
            return None
        return tuple(base + width > visible for base, width in self.softmax_strips())

    def softmax_strips(self) -> list[tuple[int, int]]:
        """(first key, VL) of ggml_vec_soft_max_f32's e32/m2 strips over a KQ row."""
        vl = self.kc.core.vlmax(32, SOFTMAX_LMUL)
        return [(base, width) for count, width, base0 in _blocks(KV_TILE, vl)
                for base in range(base0, base0 + count * width, width)]

    def row(self, tq: Affine, kind: tuple[bool, ...] | None) -> None:
        """One KQ row: max, skip or rescale, soft_max into S (module doc, 2.)."""
        b, kc = self.b, self.kc
        b.emit("fmv.s", FT, self.ninf)
        with kc.rep("tk", KV_TILE, ptrs=2) as tk:
            b.emit("flw", FX, b.mem("kq", tq * KV_TILE + tk, 32))
            snitch.c_max(kc, FT, FX)
        b.emit("flt.s", XCMP, FT, self.low, comment="tile_max == -INFINITY")
        b.emit("sw", XCMP, b.mem("skip", tq, 32), comment="skip[tq]")
        b.emit("bne", XCMP, X(0), "fa_row_skip")
        if kind is None:
            return
        b.emit("flw", FM, b.mem("ms", tq * 2, 32))
        b.emit("flw", FS, b.mem("ms", tq * 2 + 1, 32))
        b.emit("fmax.s", FN, FM, FT, comment="Mnew = fmaxf(Mold, tile_max)")
        b.emit("flt.s", XCMP, FM, FN, comment="Mnew > Mold (taken: module doc)")
        b.emit("fsub.s", FMS, FM, FN)
        snitch.expf(kc, FMS, FMS, EXP_TMPS)
        self.vec_scale("vkq", tq * self.d, self.d, FMS)
        b.emit("fmul.s", FS, FS, FMS, comment="S *= ms")
        b.emit("fsw", FN, b.mem("ms", tq * 2, 32), comment="M = Mnew")
        b.vsetvli(1, 32, 1)
        b.emit("vfmv.s.f", V(30), self.zero, comment="vsum = 0 (f64m1: FP32 stand-in)")
        for (base, width), special in zip(self.softmax_strips(), kind, strict=True):
            b.vsetvli(width, 32, SOFTMAX_LMUL)
            at = tq * KV_TILE + base
            b.emit("vle32.v", V(2), b.mem("kq", at, 32))
            b.emit("vfsub.vf", V(2), V(2), FN, comment="x - max")
            self.expf_m2(V(2), special)
            b.emit("vse32.v", V(2), b.mem("kq", at, 32))
            b.emit("vfredusum.vs", V(30), V(2), V(30), comment=REDUCE_NOTE)
        b.emit("vfmv.f.s", FX, V(30))
        b.emit("fadd.s", FS, FS, FX, comment="S += soft_max sum")
        b.emit("fsw", FS, b.mem("ms", tq * 2 + 1, 32))
