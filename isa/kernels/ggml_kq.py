"""llama.cpp's attention on the CPU with flash attention off (``-fa 0``, llama-bench's
default until PR #15434, 2025-08): three ggml graph ops per layer, each threaded over its
output rows (llama.cpp src/llama-graph.cpp ``build_attn_mha``; ggml-cpu/ggml-cpu.c and
ggml-cpu/ops.cpp), which the ``llamacpp`` library (:mod:`isa.kernels.ggml`) runs for the
attention op when ``Core.flash_attn`` is false.

**Which code.** The K1 rows this kernel predicts (PR #15288's table: Qwen2.5 Q4_0 pp512 /
tg128 on the SpacemiT X60) were measured with the PR's own branch: the table is in the
``docs/build-riscv64-spacemit.md`` of its first commit, 6f8d979 ("ggml: add spacemit
backend", 2025-08-07, the description's table posted 2025-08-13), built with
``-DGGML_CPU_RISCV64_SPACEMIT=ON -DGGML_RV_ZFH=ON`` and the SpacemiT GCC toolchain, which
compiles ggml-cpu with ``-march=rv64gcv_zfh_zba_zicbop`` (that commit's
ggml/src/ggml-cpu/CMakeLists.txt, riscv64 branch). That commit also carries SpacemiT's
hand-written RVV (inline asm / intrinsics, VLEN-256 tuned) for every vector routine this
graph calls, in ggml-cpu/vec.h, vec.cpp and ggml-cpu.c; upstream master then had no RISC-V
``GGML_SIMD`` mapping (simd-mappings.h gained one with PR #15057, 2025-08-27) and the PR
dropped these files' changes before it merged (2025-09-29, ggml sync 7cca0d50). So each
loop below is the PR commit's code, instruction for instruction where it is asm:

1. ``kq = ggml_mul_mat(k, q)`` over the F16 KV cache: Q (src1) converted to F16 first
   (``from_float`` of F16's vec_dot_type; here a 16-bit copy, ``q16``, since the model's
   activations are already 16-bit), then one ``ggml_vec_dot_f16`` per output (vec.cpp,
   ``#elif defined(__riscv) && defined(__riscv_v)`` asm): per strip at e16/m2 two
   ``vle16.v``, two ``vfwcvt.f.f.v`` to FP32 and one ``vfmacc.vv`` at e32/m4 (a
   ``vsetvli`` each way), then ``vfredusum.vs`` and ``vfmv.f.s``; for **every** key of
   the cache window, the masked ones too, in ggml's blocks of 16 x 16 outputs; the FP32
   scores go to memory (``kq``).
2. ``ggml_soft_max_ext(kq, kq_mask, scale, 0)`` per row (ops.cpp
   ``ggml_compute_forward_soft_max_f32``, unchanged by the PR), into the thread's ``wp``
   row: ``ggml_vec_cpy_f32`` (vec.h: ``ggml_vec_cpy_i8``'s asm memcpy, e8/m8, four
   VLENB x 8-byte loads then four stores per 1 KiB at VLEN 256; here e32/m8, the same
   bytes per instruction), ``ggml_vec_scale_f32`` (vec.h asm: ``vle32.v``,
   ``vfmul.vf``, ``vse32.v`` at e32/m4), ``wp[i] += slope * mp_f32[i]`` (ops.cpp's plain
   C loop: the mask is F32 without flash attention, llama-graph.cpp
   ``self_kq_mask_cnv = cparams.flash_attn ? ggml_cast(.., F16) : self_kq_mask``; GCC -O3
   auto-vectorises it at its default LMUL 1, ``vfmacc.vf``: the one loop here not written
   by hand, an assumption on the toolchain's GCC: :data:`MASK_LMUL`),
   ``ggml_vec_max_f32`` (vec.h ``__riscv_v_intrinsic``: ``vfmax.vv`` at e32/m8, one
   ``vfredmax.vs``), then ``ggml_vec_soft_max_f32`` (vec.cpp asm, MLAS's
   ``MlasComputeSumExpF32Kernel``: per e32/m4 strip ``x - max`` clamped at -88.38,
   round by the 1.5 x 2^23 bias, Cody-Waite in two ``vfmacc.vf``, a degree-6 polynomial
   with each coefficient splat in the loop, 2^n built in the exponent bits, a ``vfadd.vv``
   running sum; one ordered ``vfredosum.vs`` per row) into ``dst``, one ``1/sum`` and
   ``ggml_vec_scale_f32`` again.
3. ``kqv = ggml_mul_mat(v, kq)``: src1 (the probabilities) converted to F16 by
   ``ggml_cpu_fp32_to_fp16`` (ggml-cpu.c asm under ``__riscv_zfh``: ``vle32.v`` e32/m4,
   ``vfncvt.f.f.w`` e16/m2, ``vse16.v``; ``kq16``); V is kept **transposed** in the cache
   when flash attention is off (``llama_kv_cache::get_v``: ``v_trans``), so each output
   (a query row and one of D channels) is one ``ggml_vec_dot_f16`` over the keys of a V^T
   row.

ggml's threads split these ops by rows, not heads (every row costs the same here: no key
is skipped), which the cluster replay's :func:`codesign.riscv.replay.ggml_rows_split`
expresses: each core runs this kernel on ceil(Sq / c) query rows of every head.

Scalar glue the model leaves out: ggml_vec_dot_f16's ``sumf`` is a double
(``fcvt.d.s`` / ``fadd.d`` per output) and soft_max's ``sum`` too; they are one or two
scalar instructions per dot product or row. The model's 16-bit type stands in for F16
(the K / V buffers and the converted rows are 16-bit); V comes in as ``Vt`` [B, Hkv, D,
Skv], the cache's layout. Windows and sinks return None (the ideal kernels run them).
"""

from __future__ import annotations

import math

import numpy as np

from isa.kernels.attention.schedule import heads
from isa.kernels.common import Kc
from isa.kernels.ggml import _blocks, output_blocks
from isa.program import Affine, F, Program, Reg, V, X

KERNEL = "ggml mul_mat + soft_max_ext"
GRAPH_NODES = 3  # KQ mul_mat, soft_max_ext, KQV mul_mat: each ends in ggml_barrier
NEG_INF = float("-inf")
FX, FMAX, FSUM, FNEG = (F(i) for i in range(1, 5))
# GCC's RVV auto-vectoriser picks LMUL 1 unless told otherwise (-mrvv-max-lmul, default
# m1): the LMUL of soft_max's mask-add loop, the one plain C loop of this graph
MASK_LMUL = 1
# ggml_vec_soft_max_f32's RVV asm (PR #15288 @ 6f8d979, vec.cpp; MLAS's constants)
EXP_LOWER = -88.3762626647949  # LowerRangeSumExp: the clamp of x - max
ROUNDING_BIAS = 12582912.0  # 1.5 * 2^23
LOG2_RECIPROCAL = 1.44269504088896341
LOG2_HIGH = -6.93145752e-1
LOG2_LOW = -1.42860677e-6
EXP_POLY = (float.fromhex("0x1.694000p-10"), float.fromhex("0x1.125edcp-7"),
            float.fromhex("0x1.555b5ap-5"), float.fromhex("0x1.555450p-3"),
            float.fromhex("0x1.fffff6p-2"), 1.0, 1.0)
EXP_ONE_BITS = 0x3F800000  # MaximumExponent: 1.0f's bits, added to n << 23
# ggml_vec_cpy_i8 (PR #15288 @ 6f8d979, vec.h): e8/m8 register groups per main-loop trip by
# VLENB (32: 1 KiB a trip, 128: 2 KiB; any other VLENB runs the tail loop only)
COPY_UNROLL = {32: 4, 128: 2}


def usable(causal: bool, window: int, sinks: bool) -> bool:
    """Whether ggml's graph is expressed here for this attention (else the ideal one)."""
    return not window and not sinks


def lower(kc: Kc, bsz: int, hq: int, hkv: int, sq: int, skv: int, d: int,
          causal: bool) -> Program:
    """KQ mul_mat, soft_max_ext, KQV mul_mat (module doc) on Q, K, Vt and O."""
    b = kc.b
    b.name += " " + KERNEL
    off = skv - sq
    b.buffer("kq_mask", "fp32", sq * skv, "const", (sq, skv))
    visible = np.arange(skv)[None, :] <= off + np.arange(sq)[:, None]
    mask = np.where(visible | (not causal), 0.0, NEG_INF)
    b.consts["kq_mask"] = mask.astype(np.float32)
    b.buffer("q16", "bf16", sq * d, "scratch", (sq, d))
    b.buffer("kq", "fp32", sq * skv, "scratch", (sq, skv))
    b.buffer("wp", "fp32", skv, "scratch")  # the thread's soft_max work row (wdata)
    b.buffer("kqs", "fp32", sq * skv, "scratch", (sq, skv))  # soft_max's dst
    b.buffer("kq16", "bf16", sq * skv, "scratch", (sq, skv))
    consts = _SoftMaxConsts(kc, 1.0 / math.sqrt(d))
    vl16 = kc.core.vlmax(16, 2)  # vec_dot_f16's e16/m2 strip, widened to e32/m4
    stack, qh, kvh, _ = heads(kc, bsz, hq, hkv)

    def vec_dot_f16(x: str, xrow: Affine, y: str, yrow: Affine, n: int) -> None:
        """ggml_vec_dot_f16, PR #15288 @ 6f8d979 vec.cpp RVV asm (module doc, 1.)."""
        b.vsetvli(vl16, 32, 4)
        b.emit("vmv.v.i", V(16), 0, comment="vxor.vv v16: sum = 0")
        for count, width, base in _blocks(n, vl16):
            with kc.rep("i", count, ptrs=3) as i:
                o = i * width + base
                b.vsetvli(width, 16, 2)
                b.emit("vle16.v", V(0), b.mem(x, xrow + o, 16))
                b.emit("vle16.v", V(2), b.mem(y, yrow + o, 16))
                b.emit("vfwcvt.f.f.v", V(4), V(0))
                b.emit("vfwcvt.f.f.v", V(8), V(2))
                b.vsetvli(width, 32, 4)
                b.emit("vfmacc.vv", V(16), V(4), V(8))
        b.vsetvli(vl16, 32, 4)
        b.emit("vmv.v.i", V(24), 0)
        b.emit("vfredusum.vs", V(24), V(16), V(24))
        b.emit("vfmv.f.s", FX, V(24))

    with stack:
        # 1. KQ = mul_mat(K, Q): src1 to F16, then vec_dot_f16 per (query row, key)
        for count, width, base in _blocks(d, vl16):
            with kc.rep("r", sq, ptrs=2) as r, kc.rep("c", count, ptrs=2) as c:
                o = c * width + base
                b.vsetvli(width, 16, 2)
                b.emit("vle16.v", V(2), b.mem("Q", (qh * sq + r) * d + o, 16))
                b.emit("vse16.v", V(2), b.mem("q16", r * d + o, 16))

        def kq(gi: Affine, r: Affine, key: Affine) -> None:
            vec_dot_f16("K", (kvh * skv + key) * d, "q16", r * d, d)
            b.emit("fsw", FX, b.mem("kq", r * skv + key, 32))
        output_blocks(kc, 1, sq, skv, kq)

        # 2. soft_max_ext per row, then 3.'s src1 conversion of the row to F16
        with kc.rep("r", sq, ptrs=4) as r:
            _soft_max_row(kc, r * skv, skv, consts)

        # 3. KQV = mul_mat(V^T, KQ): vec_dot_f16 over the keys per (query row, channel)
        def kqv(gi: Affine, r: Affine, ch: Affine) -> None:
            vec_dot_f16("Vt", (kvh * d + ch) * skv, "kq16", r * skv, skv)
            b.emit("fsh", FX, b.mem("O", (qh * sq + r) * d + ch, 16))
        output_blocks(kc, 1, sq, d, kqv)
    return kc.program(kind="attention", phase="decode" if sq == 1 else "prefill",
                      kernel=KERNEL, kv_dtype="f16", v_layout="Vt")


class _SoftMaxConsts:
    """The scalar operands soft_max's loops take in f registers (hoisted: the asm's
    ``"f"`` inputs), and 1.0f's bits for the exponent construction in x20."""

    def __init__(self, kc: Kc, scale: float) -> None:
        self.scale = kc.fconst(scale)
        self.one, self.zero, self.ninf = kc.fconst(1.0), kc.fconst(0.0), kc.fconst(NEG_INF)
        self.lower, self.bias = kc.fconst(EXP_LOWER), kc.fconst(ROUNDING_BIAS)
        self.log2e = kc.fconst(LOG2_RECIPROCAL)
        self.l2hi, self.l2lo = kc.fconst(LOG2_HIGH), kc.fconst(LOG2_LOW)
        self.poly = tuple(kc.fconst(c) for c in EXP_POLY)
        kc.b.emit("addi", X(20), X(0), EXP_ONE_BITS >> 23)
        kc.b.emit("slli", X(20), X(20), 23, comment="MaximumExponent = 1.0f bits")


def _strips(kc: Kc, n: int, lmul: int, var: str, body, ptrs: int = 2) -> None:
    """An e32 loop at LMUL ``lmul`` over ``n`` elements (the asm's ``vsetvli t0, n, e32,
    m<lmul>`` loop): ``body(offset, vl)`` per strip, the tail strip at its own VL."""
    b = kc.b
    vm = kc.core.vlmax(32, lmul)
    main, tail = divmod(n, vm)
    if main:
        with kc.rep(var, main, ptrs) as j:
            b.vsetvli(vm, 32, lmul)
            body(j * vm, vm)
    if tail:
        b.vsetvli(tail, 32, lmul)
        body(Affine(main * vm), tail)


def _vec_cpy(kc: Kc, at: Affine, n: int) -> None:
    """ggml_vec_cpy_f32 -> ggml_vec_cpy_i8's asm: at VLENB 32 a main loop of four
    e8/m8 loads then four stores (1 KiB), at VLENB 128 of two (2 KiB), then a tail
    loop of one load and one store (every VLEN); e32/m8 here: the same bytes."""
    b, vl8 = kc.b, kc.core.vlmax(32, 8)
    unroll = COPY_UNROLL.get(kc.core.vlen // 8, 0)
    main = n // (unroll * vl8) if unroll else 0
    groups = (V(0), V(8), V(16), V(24))[:unroll]
    if main:
        with kc.rep("c", main, ptrs=2) as c:
            b.vsetvli(vl8, 32, 8)
            for j, g in enumerate(groups):
                b.emit("vle32.v", g, b.mem("kq", at + c * (unroll * vl8) + j * vl8, 32))
            for j, g in enumerate(groups):
                b.emit("vse32.v", g, b.mem("wp", c * (unroll * vl8) + j * vl8, 32))
    done = main * unroll * vl8
    if n > done:
        def tail(o: Affine, vl: int) -> None:
            b.emit("vle32.v", V(0), b.mem("kq", at + done + o, 32))
            b.emit("vse32.v", V(0), b.mem("wp", done + o, 32))
        _strips(kc, n - done, 8, "ct", tail)


def _soft_max_row(kc: Kc, at: Affine, n: int, k: _SoftMaxConsts) -> None:
    """ggml_compute_forward_soft_max_f32 on one row of ``kq`` (from ``at``) into ``kqs``,
    then the row converted to F16 (``kq16``), each loop as the PR commit compiles it
    (module doc, 2. and 3.)."""
    b = kc.b
    vl8, vl4 = kc.core.vlmax(32, 8), kc.core.vlmax(32, 4)

    def strips(lmul: int, body) -> None:
        _strips(kc, n, lmul, "c", body)

    def scale(buf: str, row: Affine | int, f: Reg):  # ggml_vec_scale_f32 (e32/m4)
        def body(o: Affine, vl: int) -> None:
            b.emit("vle32.v", V(0), b.mem(buf, row + o, 32))
            b.emit("vfmul.vf", V(0), V(0), f)
            b.emit("vse32.v", V(0), b.mem(buf, row + o, 32))
        return body

    def add_mask(o: Affine, vl: int) -> None:  # wp[i] += slope * mp_f32[i] (GCC, m1)
        b.emit("vle32.v", V(0), b.mem("wp", o, 32))
        b.emit("vle32.v", V(1), b.mem("kq_mask", at + o, 32))
        b.emit("vfmacc.vf", V(0), k.one, V(1), comment="+ slope x mask (slope 1)")
        b.emit("vse32.v", V(0), b.mem("wp", o, 32))

    def vmax(o: Affine, vl: int) -> None:  # ggml_vec_max_f32 (intrinsics, e32/m8)
        b.emit("vle32.v", V(0), b.mem("wp", o, 32))
        b.emit("vfmax.vv", V(8), V(8), V(0))

    def sum_exp(o: Affine, vl: int) -> None:  # ggml_vec_soft_max_f32 (asm, e32/m4)
        b.emit("vle32.v", V(0), b.mem("wp", o, 32))
        b.emit("vfadd.vf", V(0), V(0), FNEG, comment="x - max")
        b.emit("vfmax.vf", V(0), V(0), k.lower)
        b.emit("vfmv.v.f", V(4), k.bias)
        b.emit("vfmacc.vf", V(4), k.log2e, V(0), comment="biased x / ln 2")
        b.emit("vfsub.vf", V(8), V(4), k.bias, comment="n")
        b.emit("vfmacc.vf", V(0), k.l2hi, V(8), comment="Cody-Waite")
        b.emit("vfmacc.vf", V(0), k.l2lo, V(8))
        # the asm converts the biased v4 and lets n << 23 wrap; converting n itself
        # gives the same bits with the same instruction
        b.emit("vfcvt.x.f.v", V(8), V(8))
        b.emit("vfmv.v.f", V(4), k.poly[0])
        for c in k.poly[1:]:
            b.emit("vfmv.v.f", V(12), c)
            b.emit("vfmadd.vv", V(4), V(0), V(12))
        b.emit("vsll.vi", V(8), V(8), 23)
        b.emit("vadd.vx", V(8), V(8), X(20), comment="2^n")
        b.emit("vfmul.vv", V(0), V(4), V(8))
        b.emit("vse32.v", V(0), b.mem("kqs", at + o, 32))
        b.emit("vfadd.vv", V(16), V(16), V(0))

    def to_f16(o: Affine, vl: int) -> None:  # ggml_cpu_fp32_to_fp16 (asm)
        b.emit("vle32.v", V(0), b.mem("kqs", at + o, 32))
        b.vsetvli(vl, 16, 2)
        b.emit("vfncvt.f.f.w", V(4), V(0))
        b.emit("vse16.v", V(4), b.mem("kq16", at + o, 16))
        b.vsetvli(vl, 32, 4)

    _vec_cpy(kc, at, n)
    strips(4, scale("wp", 0, k.scale))
    strips(MASK_LMUL, add_mask)
    b.vsetvli(vl8, 32, 8)
    b.emit("vfmv.v.f", V(8), k.ninf, comment="vmaxf = -inf")
    _strips(kc, n, 8, "c", vmax)
    b.vsetvli(kc.core.vlmax(32, 1), 32, 1)
    b.emit("vfmv.v.f", V(16), k.ninf)
    b.vsetvli(vl8, 32, 8)
    b.emit("vfredmax.vs", V(16), V(8), V(16))
    b.emit("vfmv.f.s", FMAX, V(16))
    b.emit("fmax.s", FMAX, FMAX, k.ninf, comment="*s = MAX(riscv_max, *s)")
    b.emit("fsub.s", FNEG, k.zero, FMAX, comment="Neg_Max = -max")
    b.vsetvli(vl4, 32, 4)
    b.emit("vmv.v.i", V(16), 0, comment="vxor.vv v16: running sum")
    _strips(kc, n, 4, "c", sum_exp)
    b.vsetvli(vl4, 32, 4)
    b.emit("vmv.v.i", V(24), 0)
    b.emit("vfredosum.vs", V(24), V(16), V(24))
    b.emit("vfmv.f.s", FSUM, V(24))
    b.emit("fdiv.s", FSUM, k.one, FSUM, comment="sum = 1/sum")
    strips(4, scale("kqs", at, FSUM))
    strips(4, to_f16)
