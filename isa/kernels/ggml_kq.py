"""llama.cpp's attention on the CPU with flash attention off (``-fa 0``, llama-bench's
default until PR #15434, 2025-08): three ggml graph ops per layer, each threaded over its
output rows (llama.cpp src/llama-graph.cpp ``build_attn_mha``; ggml-cpu/ggml-cpu.c and
ggml-cpu/ops.cpp), which the ``llamacpp`` library (:mod:`isa.kernels.ggml`) runs for the
attention op when ``Core.flash_attn`` is false:

1. ``kq = ggml_mul_mat(k, q)``: over the F16 KV cache, Q (src1) converted to F16 first
   (the vec_dot_type of F16; ``q16`` here), then one ``ggml_vec_dot_f16`` per output
   (widening FMAs into an FP32 vector over D, one ``vfredusum``, as the library's F16
   GEMV: :func:`isa.kernels.ggml._vec_dot_f16`) for **every** key of the cache window,
   the masked ones too (the mask is applied by the next op), in ggml's blocks of 16 x 16
   outputs; the FP32 scores go to memory (``kq``, ggml's F32 dst);
2. ``ggml_soft_max_ext(kq, kq_mask, scale, 0)`` per row (``ggml_compute_forward_soft_max_f32``):
   ``wp = kq x scale`` (``ggml_vec_cpy_f32`` + ``ggml_vec_scale_f32``), ``wp += slope x
   mask`` (the F16 mask converted per element), ``max = ggml_vec_max_f32``, then
   ``ggml_vec_soft_max_f32``: ``y = expf(x - max)``, ``sum += y`` per element, one scalar
   libm ``expf`` per element (masked ones included: ``expf(-inf) = 0``;
   :func:`isa.kernels.snitch.expf`), and ``ggml_vec_scale_f32(1 / sum)``; each of these
   loops scalar (RISC-V had no ``GGML_SIMD`` F32 mapping then);
3. ``kqv = ggml_mul_mat(v, kq)``: V is kept **transposed** in the cache when flash
   attention is off (``llama_kv_cache::get_v``: ``v_trans``), so each output (a query row
   and one of D channels) is one ``ggml_vec_dot_f16`` over the keys of a V^T row and the
   row of probabilities, converted to F16 first (``ggml_cpu_fp32_to_fp16``, scalar).

The model's 16-bit type stands in for F16 (the K / V buffers and the converted rows are
16-bit); V comes in as ``Vt`` [B, Hkv, D, Skv], the cache's layout. Windows and sinks
return None (the ideal kernels run them).
"""

from __future__ import annotations

import math

import numpy as np

from isa.kernels import snitch
from isa.kernels.attention.schedule import heads
from isa.kernels.common import Kc
from isa.kernels.ggml import _blocks, output_blocks
from isa.program import Affine, F, Program, Reg, V

KERNEL = "ggml mul_mat + soft_max_ext"
GRAPH_NODES = 3  # KQ mul_mat, soft_max_ext, KQV mul_mat: each ends in ggml_barrier
NEG_INF = float("-inf")
FX, FMV, FMAX, FSUM = (F(i) for i in range(1, 5))
EXP_TMPS = (F(29), F(30), F(31))


def usable(causal: bool, window: int, sinks: bool) -> bool:
    """Whether ggml's graph is expressed here for this attention (else the ideal one)."""
    return not window and not sinks


def lower(kc: Kc, bsz: int, hq: int, hkv: int, sq: int, skv: int, d: int,
          causal: bool) -> Program:
    """KQ mul_mat, soft_max_ext, KQV mul_mat (module doc) on Q, K, Vt and O."""
    b = kc.b
    b.name += " " + KERNEL
    off = skv - sq
    b.buffer("kq_mask", "bf16", sq * skv, "const", (sq, skv))
    visible = np.arange(skv)[None, :] <= off + np.arange(sq)[:, None]
    mask = np.where(visible | (not causal), 0.0, NEG_INF)
    b.consts["kq_mask"] = mask.astype(np.float32)
    b.buffer("q16", "bf16", sq * d, "scratch", (sq, d))
    b.buffer("kq", "fp32", sq * skv, "scratch", (sq, skv))
    b.buffer("kq16", "bf16", sq * skv, "scratch", (sq, skv))
    snitch.expf_setup(kc)
    vl = kc.core.vlmax(16, 2)  # 16-bit operands at m2, FP32 sums at m4
    zero, one = kc.fconst(0.0), kc.fconst(1.0)
    scale = kc.fconst(1.0 / math.sqrt(d))
    ninf = kc.fconst(NEG_INF)
    stack, qh, kvh, _ = heads(kc, bsz, hq, hkv)

    def vec_dot_f16(x: str, xrow: Affine, y: str, yrow: Affine, n: int) -> None:
        b.vsetvli(vl, 32, 4)
        b.emit("vmv.v.i", V(8), 0)
        for count, width, base in _blocks(n, vl):
            with kc.rep("i", count, ptrs=3) as i:
                o = i * width + base
                b.vsetvli(width, 16, 2)
                b.emit("vle16.v", V(2), b.mem(x, xrow + o, 16))
                b.emit("vle16.v", V(4), b.mem(y, yrow + o, 16))
                b.emit("vfwmaccbf16.vv", V(8), V(2), V(4))
        b.vsetvli(vl, 32, 4)
        b.emit("vfmv.s.f", V(12), zero)
        b.emit("vfredusum.vs", V(12), V(8), V(12))
        b.emit("vfmv.f.s", FX, V(12))

    with stack:
        # 1. KQ = mul_mat(K, Q): src1 to F16, then vec_dot_f16 per (query row, key)
        for count, width, base in _blocks(d, vl):
            with kc.rep("r", sq, ptrs=2) as r, kc.rep("c", count, ptrs=2) as c:
                o = c * width + base
                b.vsetvli(width, 16, 2)
                b.emit("vle16.v", V(2), b.mem("Q", (qh * sq + r) * d + o, 16))
                b.emit("vse16.v", V(2), b.mem("q16", r * d + o, 16))

        def kq(gi: Affine, r: Affine, key: Affine) -> None:
            vec_dot_f16("K", (kvh * skv + key) * d, "q16", r * d, d)
            b.emit("fsw", FX, b.mem("kq", r * skv + key, 32))
        output_blocks(kc, 1, sq, skv, kq)

        # 2. soft_max_ext per row
        with kc.rep("r", sq, ptrs=3) as r:
            _soft_max_row(kc, r * skv, skv, scale, one, zero, ninf)

        # 3. KQV = mul_mat(V^T, KQ): vec_dot_f16 over the keys per (query row, channel)
        def kqv(gi: Affine, r: Affine, ch: Affine) -> None:
            vec_dot_f16("Vt", (kvh * d + ch) * skv, "kq16", r * skv, skv)
            b.emit("fsh", FX, b.mem("O", (qh * sq + r) * d + ch, 16))
        output_blocks(kc, 1, sq, d, kqv)
    return kc.program(kind="attention", phase="decode" if sq == 1 else "prefill",
                      kernel=KERNEL, kv_dtype="f16", v_layout="Vt")


def _soft_max_row(kc: Kc, at: Affine, skv: int, scale: Reg, one: Reg, zero: Reg,
                  ninf: Reg) -> None:
    """ggml_compute_forward_soft_max_f32 on one row of ``kq`` (from ``at``), each step a
    scalar loop over the row (module doc), then the row converted to F16 (``kq16``)."""
    b = kc.b

    def scalar_pass(var: str, body) -> None:
        with kc.rep(var, skv, ptrs=2) as c:
            body(c)

    def cpy_scale(c: Affine) -> None:  # ggml_vec_cpy_f32 + ggml_vec_scale_f32
        b.emit("flw", FX, b.mem("kq", at + c, 32))
        b.emit("fmul.s", FX, FX, scale, comment="x scale")
        b.emit("fsw", FX, b.mem("kq", at + c, 32))

    def add_mask(c: Affine) -> None:  # wp[i] += slope * mp_f16[i]
        b.emit("flw", FX, b.mem("kq", at + c, 32))
        b.emit("flh", FMV, b.mem("kq_mask", at + c, 16))
        b.emit("fcvt.s.h", FMV, FMV)
        b.emit("fmadd.s", FX, FMV, one, FX, comment="+ slope x mask (slope 1)")
        b.emit("fsw", FX, b.mem("kq", at + c, 32))

    def vmax(c: Affine) -> None:  # ggml_vec_max_f32
        b.emit("flw", FX, b.mem("kq", at + c, 32))
        b.emit("fmax.s", FMAX, FMAX, FX)

    def soft_max(c: Affine) -> None:  # ggml_vec_soft_max_f32
        b.emit("flw", FX, b.mem("kq", at + c, 32))
        b.emit("fsub.s", FX, FX, FMAX)
        snitch.expf(kc, FX, FX, EXP_TMPS)
        b.emit("fadd.s", FSUM, FSUM, FX)
        b.emit("fsw", FX, b.mem("kq", at + c, 32))

    def rescale_f16(c: Affine) -> None:  # ggml_vec_scale_f32, then to F16
        b.emit("flw", FX, b.mem("kq", at + c, 32))
        b.emit("fmul.s", FX, FX, FSUM, comment="x 1/sum")
        b.emit("fsw", FX, b.mem("kq", at + c, 32))

    def to_f16(c: Affine) -> None:  # ggml_cpu_fp32_to_fp16 (src1 of KQV)
        b.emit("flw", FX, b.mem("kq", at + c, 32))
        b.emit("fsh", FX, b.mem("kq16", at + c, 16))

    scalar_pass("c", cpy_scale)
    scalar_pass("c", add_mask)
    b.emit("fmv.s", FMAX, ninf, comment="max = -inf")
    scalar_pass("c", vmax)
    b.emit("fmv.s", FSUM, zero, comment="sum = 0")
    scalar_pass("c", soft_max)
    b.emit("fdiv.s", FSUM, one, FSUM, comment="sum = 1/sum")
    scalar_pass("c", rescale_f16)
    scalar_pass("c", to_f16)
