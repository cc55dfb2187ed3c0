"""llama.cpp's attention on the CPU with flash attention on (``-fa 1``): ggml-cpu's
``ggml_compute_forward_flash_attn_ext_f16_one_chunk`` (ggml-cpu/ops.cpp), which the
``llamacpp`` library (:mod:`isa.kernels.ggml`) runs for the attention op.

ggml keeps the KV cache in F16 (``llama_kv_cache``: ``type_k = type_v = GGML_TYPE_F16`` by
default); the model's 16-bit type stands in for F16 (the K / V buffers are 16-bit: the
bytes follow the format). Per query row (the threads split the rows: queries x heads),
ggml visits the keys in order with one query row's state, M (max), S (denominator) and
the output accumulator VKQ:

1. Q's row converted to the K type once (``q_to_vec_dot``: ``q16`` here);
2. per key: the mask value loaded (``kq_mask``, F16; ``mv = slope x mask``) and the key
   skipped when it is -inf (``continue``: a causal prefill's keys after the query cost
   the load, the compare and the branch only); otherwise ``s = ggml_vec_dot_f16(K row,
   q16) x scale + mv`` (widening FMAs into FP32 at LMUL 4, one ``vfredusum``), then
   ``if (s > M) {M = s; ms = expf(Mold - M); ggml_vec_scale_f16(VKQ, ms)} else vs =
   expf(s - M)``, ``ggml_vec_mad_f16(VKQ, V row, vs)`` and ``S = S ms + vs``: one scalar
   libm ``expf`` per visible key (musl / glibc's optimised-routines expf:
   :func:`isa.kernels.snitch.expf`);
3. VKQ / S stored.

What the model does differently, and why (each close to ggml's cost):

- the branch on ``s > M`` is made data-independent: the one ``expf`` takes
  ``-|s - M|`` (``fmin(s - M, M - s)``) and the compare's flag picks ``ms`` and ``vs``
  from it (``fcvt.s.w`` and two FMAs), and the rare rescale (when a key raises the max:
  about ln(n) of n keys) is folded into every key's ``vec_mad`` as one ``vfmul.vf`` per
  strip, so the program computes the same for any data;
- VKQ is held in FP32 (``vfwmaccbf16.vf`` into it): the model's 16-bit type is BF16,
  whose 8-bit mantissa would not hold the running sum (ggml's F16 VKQ has 11 bits);
- a causal prefill's rows are visited in pieces of constant key count (the dyadic
  squares of :func:`isa.kernels.attention.schedule.lower_triangle` with one-query
  blocks), each row's M, S and VKQ kept in scratch between pieces, as ggml keeps VKQ
  in its per-thread scratch: the same keys per row, in another order (the online
  softmax does not depend on it); each masked pair's load / compare / branch is
  emitted with its mirror pair.

Windows, sinks and non-causal prefill return None (the ideal kernels run them).
"""

from __future__ import annotations

import math

import numpy as np

from isa.kernels import snitch
from isa.kernels.attention.schedule import heads, lower_triangle
from isa.kernels.common import Kc
from isa.kernels.ggml import _blocks
from isa.program import Affine, F, Program, V, X

KERNEL = "ggml flash_attn_ext_f16"
NEG_INF = float("-inf")

# f registers of the per-key state (constants take f10 and up: Kc.fconst)
FS, FMV, FM, FSUM, FA, FFLAG, FMS, FVS = (F(i) for i in range(1, 9))
EXP_TMPS = (F(29), F(30), F(31))


def usable(sq: int, causal: bool, window: int, sinks: bool) -> bool:
    """Whether ggml's kernel is expressed here for this attention (else the ideal one)."""
    return not window and not sinks and (causal or sq == 1)


def causal_mask(kc: Kc, sq: int, skv: int) -> None:
    """llama.cpp's causal ``kq_mask`` (F16 with flash attention: the model's 16-bit type),
    0 where query row r sees key k (k <= skv - sq + r), -inf elsewhere, as a constant."""
    kc.b.buffer("kq_mask", "bf16", sq * skv, "const", (sq, skv))
    mask = np.where(np.arange(skv)[None, :] <= skv - sq + np.arange(sq)[:, None], 0.0, NEG_INF)
    kc.b.consts["kq_mask"] = mask.astype(np.float32)


def lower(kc: Kc, bsz: int, hq: int, hkv: int, sq: int, skv: int, d: int) -> Program:
    """ggml's FLASH_ATTN_EXT (module doc) on the caller's Q, K, V and O buffers."""
    b = kc.b
    b.name += " " + KERNEL
    off = skv - sq
    causal_mask(kc, sq, skv)
    b.buffer("q16", "bf16", sq * d, "scratch", (sq, d))
    b.buffer("vkq", "fp32", sq * d, "scratch", (sq, d))
    b.buffer("ms", "fp32", 2 * sq, "scratch", (sq, 2))
    snitch.expf_setup(kc)
    k = _Rows(kc, sq, skv, d)
    stack, qh, kvh, _ = heads(kc, bsz, hq, hkv)
    with stack:
        k.qh, k.kvh = qh, kvh
        with kc.rep("r", sq, ptrs=3) as r:
            k.start(r)
            k.load_state(r)
            if off:
                with kc.rep("kp", off, ptrs=3) as key:
                    k.visible(r, key)
            k.visible(r, r + off)  # the diagonal
            k.store_state(r)
        if sq > 1:
            lower_triangle(kc, sq, 1, off, k.piece)
        with kc.rep("r", sq, ptrs=3) as r:
            k.finish(r)
    return kc.program(kind="attention", phase="decode" if sq == 1 else "prefill",
                      kernel=KERNEL, kv_dtype="f16")


class _Rows:
    """The per-row pieces of ggml's loop (:func:`lower`)."""

    def __init__(self, kc: Kc, sq: int, skv: int, d: int) -> None:
        self.kc, self.b = kc, kc.b
        self.sq, self.skv, self.d = sq, skv, d
        self.off = skv - sq
        self.vl = kc.core.vlmax(16, 2)  # 16-bit operands at m2, FP32 at m4
        self.zero = kc.fconst(0.0)
        self.one = kc.fconst(1.0)
        self.scale = kc.fconst(1.0 / math.sqrt(d))
        self.low = kc.fconst(-3.0e38)  # below it: the mask's -inf (ggml: mv == -INFINITY)
        self.qh: Affine = Affine(0)
        self.kvh: Affine = Affine(0)

    def strips(self, var: str, body) -> None:
        for count, width, base in _blocks(self.d, self.vl):
            with self.kc.rep(var, count, ptrs=3) as i:
                body(i * width + base, width)

    def start(self, r: Affine) -> None:
        """q_to_vec_dot (Q's row as the K type), VKQ = 0, M = -inf, S = 0."""
        b, d = self.b, self.d

        def step(o: Affine, w: int) -> None:
            b.vsetvli(w, 16, 2)
            b.emit("vle16.v", V(2), b.mem("Q", (self.qh * self.sq + r) * d + o, 16))
            b.emit("vse16.v", V(2), b.mem("q16", r * d + o, 16))
            b.vsetvli(w, 32, 4)
            b.emit("vmv.v.i", V(16), 0)
            b.emit("vse32.v", V(16), b.mem("vkq", r * d + o, 32))
        self.strips("c", step)
        b.emit("fmv.s", FSUM, self.zero, comment="S = 0")
        b.emit("fsw", FSUM, b.mem("ms", r * 2 + 1, 32))
        b.emit("fmv.s", FM, self.kc.fconst(NEG_INF), comment="M = -inf")
        b.emit("fsw", FM, b.mem("ms", r * 2, 32))

    def load_state(self, r: Affine) -> None:
        self.b.emit("flw", FM, self.b.mem("ms", r * 2, 32))
        self.b.emit("flw", FSUM, self.b.mem("ms", r * 2 + 1, 32))

    def store_state(self, r: Affine) -> None:
        self.b.emit("fsw", FM, self.b.mem("ms", r * 2, 32))
        self.b.emit("fsw", FSUM, self.b.mem("ms", r * 2 + 1, 32))

    def piece(self, blk: Affine, first: Affine, keys: int) -> None:
        """Row ``blk``'s keys [first, first + keys) (all visible), and the mirror pairs:
        rows first - off .. of key off + blk (all masked)."""
        self.load_state(blk)
        with self.kc.rep("k", keys, ptrs=3) as t:
            self.visible(blk, first + t)
            self.mask_check(first + t - self.off, blk + self.off)
        self.store_state(blk)

    def mask_check(self, r: Affine, key: Affine) -> None:
        """mv = slope x mask[r, key]; ``if (mv == -INFINITY) continue``."""
        b = self.b
        b.emit("flh", FMV, b.mem("kq_mask", r * self.skv + key, 16))
        b.emit("fcvt.s.h", FMV, FMV)
        b.emit("fmul.s", FMV, FMV, self.one, comment="slope x mask (slope 1: no ALiBi)")
        b.emit("flt.s", X(28), FMV, self.low, comment="mv == -inf")
        b.emit("bne", X(28), X(0), "fa_continue", comment="masked: next key")

    def visible(self, r: Affine, key: Affine) -> None:
        """One key that row ``r`` sees: score, online softmax, VKQ += V row x vs."""
        b, kc, d = self.b, self.kc, self.d
        krow = (self.kvh * self.skv + key) * d
        b.vsetvli(self.vl, 32, 4)
        b.emit("vmv.v.i", V(8), 0)

        def dot(o: Affine, w: int) -> None:  # ggml_vec_dot_f16
            b.vsetvli(w, 16, 2)
            b.emit("vle16.v", V(2), b.mem("K", krow + o, 16))
            b.emit("vle16.v", V(4), b.mem("q16", r * d + o, 16))
            b.emit("vfwmaccbf16.vv", V(8), V(2), V(4))
        self.strips("i", dot)
        b.vsetvli(self.vl, 32, 4)
        b.emit("vfmv.s.f", V(12), self.zero)
        b.emit("vfredusum.vs", V(12), V(8), V(12))
        b.emit("vfmv.f.s", FS, V(12))
        b.emit("fmul.s", FS, FS, self.scale, comment="s x scale")
        self.mask_check(r, key)
        b.emit("fadd.s", FS, FS, FMV, comment="s += mv")
        b.emit("flt.s", X(28), FM, FS, comment="s > M")
        b.emit("fcvt.s.w", FFLAG, X(28))
        b.emit("fsub.s", FA, FS, FM)
        b.emit("fsub.s", FVS, FM, FS)
        b.emit("fmin.s", FA, FA, FVS, comment="-|s - M|")
        b.emit("fmax.s", FM, FM, FS, comment="M = max(M, s)")
        snitch.expf(kc, FA, FA, EXP_TMPS)
        b.emit("fsub.s", FVS, FA, self.one, comment="e - 1")
        b.emit("fmadd.s", FMS, FFLAG, FVS, self.one, comment="ms: e if s > M else 1")
        b.emit("fnmsub.s", FVS, FFLAG, FVS, FA, comment="vs: 1 if s > M else e")
        b.emit("fmadd.s", FSUM, FSUM, FMS, FVS, comment="S = S ms + vs")

        def mad(o: Affine, w: int) -> None:  # ggml_vec_scale_f16 + ggml_vec_mad_f16
            b.vsetvli(w, 32, 4)
            b.emit("vle32.v", V(16), b.mem("vkq", r * d + o, 32))
            b.emit("vfmul.vf", V(16), V(16), FMS)
            b.vsetvli(w, 16, 2)
            b.emit("vle16.v", V(2), b.mem("V", krow + o, 16))
            b.emit("vfwmaccbf16.vf", V(16), FVS, V(2))
            b.vsetvli(w, 32, 4)
            b.emit("vse32.v", V(16), b.mem("vkq", r * d + o, 32))
        self.strips("j", mad)

    def finish(self, r: Affine) -> None:
        """O row = VKQ / S (ggml_vec_scale_f32 by 1/S)."""
        b, d = self.b, self.d
        b.emit("flw", FSUM, b.mem("ms", r * 2 + 1, 32))
        b.emit("fdiv.s", FSUM, self.one, FSUM, comment="S_inv = 1/S")

        def step(o: Affine, w: int) -> None:
            b.vsetvli(w, 32, 4)
            b.emit("vle32.v", V(16), b.mem("vkq", r * d + o, 32))
            b.emit("vfmul.vf", V(16), V(16), FSUM)
            b.vsetvli(w, 16, 2)
            b.emit("vfncvtbf16.f.f.w", V(2), V(16))
            b.emit("vse16.v", V(2), b.mem("O", (self.qh * self.sq + r) * d + o, 16))
        self.strips("c", step)
