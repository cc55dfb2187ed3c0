"""The ``snitch`` kernel library: the Snitch cluster's own DNN kernels as the VEXP paper's
baseline ran them (``Core.library = "snitch"``; every op kind but softmax keeps the ideal
library's kernels, with every exponential the scalar libm expf element by element:
:func:`vector_expf`).

VEXP (arXiv 2504.11227) measures its softmax against the baseline Snitch cluster running
the cluster's C kernels: pulp-platform/snitch_cluster ``sw/dnn/softmax/src/softmax.h``
(``softmax_fp32``, read at HEAD 2fa38482) is three scalar loops per row, the max, then
``expf(x - max)`` stored and summed, then ``output /= sum`` (one divide per element), with
``expf`` from the cluster's libm (``sw/math/src/math/expf.c``, musl's copy of Arm's
optimized-routines expf, read at 9567ce03^): a 32-entry table of 2^(i/32) and a cubic
polynomial. The paper's own count for that baseline (its §IV-C and Fig. 4, read through a
secondary summary: [S]) is 56 instructions and 360 cycles per output, 319 of them in the
software exp; with VFEXP, SIMD, SSR and FREP, 1.5 instructions and 2.125 cycles.

:func:`expf` is that expf as scalar RISC-V: ``x * 32/ln2`` rounded by adding 1.5 * 2^23
(its bits hold k), ``r = z - k``, ``s = 2^(k/32)`` from the table entry ``k mod 32`` plus
``k << 18`` in the exponent bits (the table stores each entry less its index << 18, as
musl's stores it less index << 47 for doubles), then ``s * (C0 r^3 + C1 r^2 + C2 r + 1)``.
musl evaluates the polynomial in double (an fcvt.d.s in, an fcvt.s.d out, and the
64-bit table arithmetic on RV32); the model's FP registers hold FP32, so this is the
same sequence in FP32 (23 instructions, 6 of them the loads of its constants, which a
called libm function reads from its data table on every call). musl's branch to its
overflow / underflow path for |x| >= 88 is one ``fmax.s`` clamp at -87.3 here
(softmax's arguments are <= 0; the result there, ~1e-38, is the underflow's 0 to BF16).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from isa.core import Core
from isa.instructions import Isa
from isa.kernels.common import EXP_LO, Kc, op_of, positive
from isa.program import Affine, Program, Reg, V, X

TABLE_BITS = 5  # EXP2F_TABLE_BITS of musl's expf
N = 1 << TABLE_BITS
INV_LN2_N = float.fromhex("0x1.71547652b82fep+0") * N  # musl's InvLn2N
SHIFT = 1.5 * 2.0 ** 23  # rounds z to an integer in its low mantissa bits (FP32's 0x1.8p23)
# musl's poly_scaled: C[0]..C[2] of exp2f_data.c over N^3, N^2, N
POLY = (float.fromhex("0x1.c6af84b912394p-5") / N ** 3,
        float.fromhex("0x1.ebfce50fac4f3p-3") / N ** 2,
        float.fromhex("0x1.62e42ff0c52d6p-1") / N)
MANT_SHIFT = 23 - TABLE_BITS  # k << 18 puts k // N in the exponent field
TABLE = "exp2f_tab"
TOP12_88 = int(np.array([88.0], np.float32).view(np.uint32)[0]) >> 20  # musl's top12(88.0f)


def exp2f_table() -> np.ndarray:
    """Bits of 2^(i/N) less ``i << MANT_SHIFT``, for i in 0..N-1 (int32)."""
    i = np.arange(N)
    bits = (2.0 ** (i / N)).astype(np.float32).view(np.int32).astype(np.int64)
    return (bits - (i << MANT_SHIFT)).astype(np.int32)


STACK = "expf_stack"  # expf's stack slot (a 64-bit local in its frame, in the TCDM)


def expf_setup(k: Kc) -> None:
    """The table :func:`expf` reads (its other constants it loads itself): musl's 64-bit
    entries as two 32-bit words each (the FP32 stand-in's bits, and a high word the FP32
    sequence does not use), and expf's stack slot."""
    b = k.b
    if TABLE not in b.buffers:
        b.buffer(TABLE, "int32", 2 * N, "const", (2 * N,))
        b.consts[TABLE] = np.stack([exp2f_table(), np.zeros(N, np.int32)], 1).ravel()
        b.buffer(STACK, "int32", 2, "scratch")


def expf(k: Kc, dst: Reg, x: Reg, tmps: tuple[Reg, Reg, Reg]) -> None:
    """dst = e^x, scalar (x clobbered; dst may be x, not one of tmps). As a called libm
    function does, it loads its constants from its data table (the constant pool) on each
    call, the 1.0 of its polynomial too (RISC-V has no FP immediates). Compiled for the
    cluster's RV32IMAFD, musl's double-precision body costs what the FP32 stand-in keeps
    in its place: ``(double)x`` and the ``(float)`` of the result (fcvt.d.s, fcvt.s.d:
    here fmv.s); ``asuint64(kd)`` and ``asdouble(t)`` through a stack slot, as RV32 has no
    fmv.x.d / fmv.d.x (RISC-V unprivileged ISA, D extension: "FMV.X.D and FMV.D.X are
    available only on RV64"): fsw + lw, then sw + sw + flw, in a frame of its own (addi sp
    in and out); the 64-bit table entry as two lw. Integer temporaries x29..x31."""
    b = k.b
    z, kd, p = tmps
    ki, idx, t = X(29), X(30), X(31)

    def load(r: Reg, value: float) -> Reg:
        b.emit("flw", r, b.const(value), comment=f"= {float(np.float32(value)):g}")
        return r
    b.emit("jal", X(1), "expf", comment="call expf (libm: a function, not inlined)")
    b.emit("fmv.x.w", ki, x, comment="expf: abstop = top12(x) & 0x7ff")
    b.emit("srli", ki, ki, 20)
    b.emit("andi", ki, ki, 0x7FF)
    b.emit("addi", idx, X(0), TOP12_88, comment="top12(88.0f)")
    b.emit("bgeu", ki, idx, "expf_special", comment="|x| >= 88: musl's special path")
    b.emit("addi", X(2), X(2), -16, comment="the frame of the stack slot")
    b.emit("fmv.s", x, x, comment="xd = (double)x: fcvt.d.s (FP32 stand-in)")
    b.emit("fmax.s", x, x, load(p, EXP_LO), comment="(FP32 stand-in: its underflow to 0)")
    b.emit("fmul.s", z, x, load(p, INV_LN2_N), comment="z = x*N/ln2")
    b.emit("fadd.s", kd, z, load(p, SHIFT), comment="kd = z + SHIFT: k in the low bits")
    b.emit("fsw", kd, b.mem(STACK, 0, 32), comment="ki = asuint64(kd): through the stack")
    b.emit("lw", ki, b.mem(STACK, 0, 32))
    b.emit("fsub.s", kd, kd, p)
    b.emit("fsub.s", x, z, kd, comment="r = z - k")
    b.emit("andi", idx, ki, N - 1, comment="k % N")
    b.emit("slli", idx, idx, 3, comment="8-byte entries")
    b.emit("lw", t, b.mem(TABLE, 0, 32, base=idx), comment="T[k % N]: its low word")
    b.emit("lw", idx, b.mem(TABLE, 1, 32, base=idx), comment="and its high word")
    b.emit("slli", ki, ki, MANT_SHIFT)
    b.emit("add", t, t, ki, comment="s = 2^(k/N) as bits")
    b.emit("sw", t, b.mem(STACK, 0, 32), comment="s = asdouble(t): through the stack")
    b.emit("sw", idx, b.mem(STACK, 1, 32))
    b.emit("fmadd.s", p, load(p, POLY[0]), x, load(kd, POLY[1]), comment="C0 r + C1")
    b.emit("fmadd.s", kd, load(kd, POLY[2]), x, load(z, 1.0), comment="C2 r + 1")
    b.emit("fmul.s", z, x, x, comment="r^2")
    b.emit("fmadd.s", kd, p, z, kd)
    b.emit("flw", z, b.mem(STACK, 0, 32), comment="s")
    b.emit("fmul.s", dst, kd, z, comment="y * s")
    b.emit("fmv.s", dst, dst, comment="(float)y: fcvt.s.d (FP32 stand-in)")
    b.emit("addi", X(2), X(2), 16)
    b.emit("jalr", X(0), X(1), 0, comment="ret")


def c_max(k: Kc, m: Reg, x: Reg) -> None:
    """C's ``if (x > m) m = x``: without -ffast-math the compiler cannot make it an fmax.s
    (NaN semantics): flt.s into an integer register (the FPU -> integer round trip), a
    branch on it, and the move when taken (here fmax.s: the same value for every non-NaN
    input). Integer temporary x28."""
    b = k.b
    b.emit("flt.s", X(28), m, x, comment="x > m")
    b.emit("bne", X(28), X(0), "max_skip", comment="beqz: skip the move")
    b.emit("fmax.s", m, m, x, comment="m = x (fmv.s when taken)")


SCRATCH = "expf_row"


def vector_expf_setup(k: Kc) -> None:
    """:func:`expf_setup` for :func:`vector_expf`, which also keeps four f registers to
    itself (:meth:`Kc.reserve_f`)."""
    k.vexpf_regs = tuple(k.reserve_f(4))
    expf_setup(k)


def vector_expf(k: Kc, dst: Reg, src: Reg) -> None:
    """dst = e^src for a vector register group (FP32, the current VL) the way the Snitch
    kernels compute an exponential: the libm expf called element by element (their FA-2
    baseline writes ``expf(S - m)`` into the P tile one score at a time): the group goes
    through a scratch row in memory (:func:`vector_expf_setup` must have run)."""
    b = k.b
    vl = b.current_vl
    if not k.vexpf_regs:
        vector_expf_setup(k)
    if SCRATCH not in b.buffers:
        b.buffer(SCRATCH, "fp32", 8 * k.core.vlen // 32, "scratch")
    v, z, kd, p = k.vexpf_regs
    b.emit("vse32.v", src, b.mem(SCRATCH, 0, 32))
    with k.rep("xe", vl, ptrs=1) as j:
        b.emit("flw", v, b.mem(SCRATCH, Affine.of(j), 32))
        expf(k, v, v, (z, kd, p))
        b.emit("fsw", v, b.mem(SCRATCH, Affine.of(j), 32))
    b.emit("vle32.v", dst, b.mem(SCRATCH, 0, 32))


def lower_softmax(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None
                  ) -> Program:
    """snitch_cluster's ``softmax_fp32``: per row a max loop, an ``expf(x - max)`` loop
    storing each exponential (FP32) and summing them, and a loop dividing each by the sum."""
    op_of(row, "softmax", ("softmax",))
    m, n = positive(row, "M", "N")
    k = Kc(f"softmax M={m} N={n} (snitch)", isa, core)
    b = k.b
    b.buffer("x", k.core.dtype, m * n, "in", (m, n))
    b.buffer("y", k.core.dtype, m * n, "out", (m, n))
    b.buffer("e", "fp32", n, "scratch")
    expf_setup(k)
    neg_inf, zero = k.fconst(float("-inf")), k.fconst(0.0)
    fmax, fsum, v, e, z, kd, p = k.ftemps(7)
    with k.rep("i", m, ptrs=2) as i:
        base = i * n
        b.emit("fmv.s", fmax, neg_inf)
        with k.rep("j", n, ptrs=2) as j:
            k.sload(v, "x", base + j)
            c_max(k, fmax, v)
        b.emit("fmv.s", fsum, zero)
        with k.rep("j", n, ptrs=3) as j:
            k.sload(v, "x", base + j)
            b.emit("fsub.s", v, v, fmax)
            expf(k, e, v, (z, kd, p))
            b.emit("fsw", e, b.mem("e", Affine.of(j), 32))
            b.emit("fadd.s", fsum, fsum, e)
        with k.rep("j", n, ptrs=3) as j:
            b.emit("flw", e, b.mem("e", Affine.of(j), 32))
            b.emit("fdiv.s", e, e, fsum, comment="output /= sum")
            k.sstore(e, "y", base + j)
    return k.program(kind="softmax", library="snitch")


def lower_softmax_vexp(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None
                       ) -> Program:
    """VEXP's optimized softmax (arXiv 2504.11227 Fig. 4, via the same summary [S]): BF16
    throughout, three loops per row, each an FREP-repeated block of packed-SIMD FPU
    instructions fed by SSR streams: MAX (vfmax into accumulators), EXP (vfsub of the max,
    vfexp, the result streamed out and added into sum accumulators), NORM (one reciprocal
    of the sum, then vfmul). In RVV an FREP'd SIMD instruction over the row is a vector
    instruction at SEW 16 with the longest register group (LMUL 8), its SSR stream a unit-
    stride load or store; the accumulators' lanes are reduced once per row. The strips of a
    row are straight-line code: an FREP'd block runs from the FPU sequencer's buffer, with
    no integer-core loop instruction (pointer bumps, branch) per repetition."""
    op_of(row, "softmax", ("softmax",))
    m, n = positive(row, "M", "N")
    k = Kc(f"softmax M={m} N={n} (snitch+vexp)", isa, core, lmul=8)
    b = k.b
    if not k.bf16:
        return lower_softmax(row, isa, core)
    b.buffer("x", "bf16", m * n, "in", (m, n))
    b.buffer("y", "bf16", m * n, "out", (m, n))
    lm = 8
    vlmax = k.core.vlmax(16, lm)
    acc, xr, er, red = V(8), V(16), V(24), V(0)
    neg_inf, zero, one = k.fconst(float("-inf")), k.fconst(0.0), k.fconst(1.0)
    fmax, fsum, finv = k.ftemps(3)

    def strips(body: Callable[[Affine], None]) -> None:
        # FREP: the FPU sequencer repeats the block over the row, no loop code per strip
        main, tail = divmod(n, vlmax)
        if main:
            b.vsetvli(vlmax, 16, lm)
            for j in range(main):
                body(Affine(j * vlmax))
        if tail:
            b.vsetvli(tail, 16, lm)
            body(Affine(main * vlmax))

    vfull = min(n, vlmax)
    with k.rep("i", m, ptrs=2) as i:
        base = i * n
        b.vsetvli(vfull, 16, lm)
        b.emit("vfmv.v.f", acc, neg_inf)

        def max_block(off: Affine) -> None:
            b.emit("vle16.v", xr, b.mem("x", base + off, 16))
            b.emit("vfmax.vv", acc, acc, xr)
        strips(max_block)
        b.vsetvli(vfull, 16, lm)
        b.emit("vfredmax.vs", red, acc, acc)
        b.emit("vfmv.f.s", fmax, red)
        b.emit("vfmv.v.f", acc, zero)

        def exp_block(off: Affine) -> None:
            b.emit("vle16.v", xr, b.mem("x", base + off, 16))
            b.emit("vfsub.vf", xr, xr, fmax)
            b.emit("vfexp.v", er, xr)
            b.emit("vse16.v", er, b.mem("y", base + off, 16))
            b.emit("vfadd.vv", acc, acc, er)
        strips(exp_block)
        b.vsetvli(vfull, 16, lm)
        b.emit("vfmv.s.f", red, zero)
        b.emit("vfredusum.vs", red, acc, red)
        b.emit("vfmv.f.s", fsum, red)
        b.emit("fdiv.s", finv, one, fsum, comment="one reciprocal of the sum")

        def norm_block(off: Affine) -> None:
            b.emit("vle16.v", er, b.mem("y", base + off, 16))
            b.emit("vfmul.vf", er, er, finv)
            b.emit("vse16.v", er, b.mem("y", base + off, 16))
        strips(norm_block)
    return k.program(kind="softmax", library="snitch")


def lower_attention(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None
                    ) -> Program:
    """snitch_cluster's FlashAttention-2 (``sw/kernels/dnn/flashattention_2``, read at HEAD
    2fa38482) for non-causal prefill: per key block of Bc keys and per query row, S = Q K^T
    by the cluster's optimized GEMM, the row's online softmax (running max m, the rescale
    ``expf(m_prev - m)``, P = ``expf(S - m)``, the row sum l), then O = alpha O + P V;
    O / l at the end. Its optimized GEMM (``sw/kernels/blas/gemm/src/gemm_fp16.h``
    ``gemm_fp16_opt``) streams both operands through SSRs (stream semantic registers:
    an FPU operand read is a memory read, no load instruction) and repeats its FMA block
    with FREP (the FPU sequencer replays it, no integer-core instruction per FMA), so it
    runs one packed-SIMD FMA per cycle: 4 16-bit products into FP32 accumulators.

    The same mechanisms in this model's vector vocabulary (VLEN = the 64-bit FPU register):
    an FREP'd block over N operands is one vector instruction of VL = N (LMUL 8 for the
    FP32 accumulators, LMUL 4 for the 16-bit operands that widen into them), an SSR stream
    a unit-stride vector load (issued once per block, its elements then read without an
    instruction each), the scalar operand of each FMA (``Q[r, d]``, ``P[r, c]``) a scalar
    load. The widening FMA (``vfwmacc.vf``, BF16 x BF16 into FP32) holds its sequencer
    ceil(VL x 16 / DLEN) cycles: 4 products per cycle at DLEN 64, as the SIMD FPU. S = Q K^T
    runs as an outer product over d against K^T, transposed once per key block and head
    (strided loads; the Snitch kernel transposes V the same way for its optimized GEMM).
    The row softmax is where the paper's baseline and VEXP kernels differ: the baseline
    runs flashattention_2's scalar C loops (compare-and-branch max, the libm ``expf`` per
    score, the scalar row sum), VEXP's kernel the same steps as vector code with
    ``vfexp`` (Xattn); the GEMMs are the same on both sides."""
    op_of(row, "attention", ("sdpa",))
    bsz, hq, hkv, sq, skv, d = positive(row, "B", "Hq", "Hkv", "Sq", "Skv", "D")
    k = Kc(f"attention B={bsz} Hq={hq} Hkv={hkv} Sq={sq} Skv={skv} D={d} (snitch FA-2)",
           isa, core, lmul=8)
    fa = _Fa2(k, sq, skv, d)
    b = k.b
    dt = k.core.dtype
    b.buffer("Q", dt, bsz * hq * sq * d, "in", (bsz, hq, sq, d))
    b.buffer("K", dt, bsz * hkv * skv * d, "in", (bsz, hkv, skv, d))
    b.buffer("V", dt, bsz * hkv * skv * d, "in", (bsz, hkv, skv, d))
    b.buffer("O", dt, bsz * hq * sq * d, "out", (bsz, hq, sq, d))
    nblk, tail = divmod(skv, fa.bc)
    with k.rep("b", bsz) as bi, k.rep("h", hkv) as kh, k.rep("g", hq // hkv) as gq:
        qh, kvh = bi * hq + kh * (hq // hkv) + gq, bi * hkv + kh
        fa.start()
        if nblk:
            with k.rep("j", nblk, ptrs=1) as j:
                fa.key_block(qh, kvh, j * fa.bc, fa.bc)
        if tail:
            fa.key_block(qh, kvh, Affine(nblk * fa.bc), tail)
        fa.finish(qh)
    # the loads standing for gemm_fp16_opt's SSR streams (its operands Q and K^T, then P
    # and V; the C softmax reads S from a row of its own, as flashattention_2_fp16.h keeps
    # S_fa and P_fa apart): no instruction is fetched or issued for them
    # (codesign.riscv.energy; timed as streams with scalar.ssr, codesign.riscv.core)
    return k.program(kind="attention", phase="prefill", library="snitch",
                     ssr_streams=("Q", "kt", "p", "V"))


class _Fa2:
    """The registers, scratch and code blocks of :func:`lower_attention` for one head."""

    def __init__(self, k: Kc, sq: int, skv: int, d: int) -> None:
        self.k, self.b, self.sq, self.skv, self.d = k, k.b, sq, skv, d
        self.half = k.core.dtype == "bf16"
        self.ew = 16 if self.half else 32  # operand element width
        self.olm = 4 if self.half else 8  # operand LMUL: 16-bit operands widen into FP32 m8
        self.bc = bc = k.core.vlmax(32, 8)  # keys per block: one LMUL-8 FP32 score vector
        b = self.b
        b.buffer("kt", k.core.dtype, d * bc, "scratch")
        b.buffer("p", "fp32", bc, "scratch")  # P_fa: the row of P, P V's streamed operand
        b.buffer("oacc", "fp32", sq * d, "scratch")
        b.buffer("ml", "fp32", 2 * sq, "scratch")
        self.acc, self.op, self.red = V(8), V(24), V(1)
        # two accumulators (and operand registers) in turn: each FMA's latency is hidden
        # behind the other's, as gemm_fp16_opt's unroll of 8 accumulators hides the FPU's
        self.accs = (self.acc, V(16))
        self.ops = (self.op, V(28)) if self.half else (self.op, self.op)
        expf_setup(k)
        self.vexp = k.isa.has("vfexp.v")
        if not self.vexp:
            b.buffer("s", "fp32", bc, "scratch")  # S_fa: the row of S the C loops read
        self.fscale = k.fconst(1.0 / float(np.sqrt(d)))
        self.neg_inf, self.zero, self.one = (k.fconst(float("-inf")), k.fconst(0.0),
                                             k.fconst(1.0))
        self.f = k.ftemps(9)
        self.dchunks = [(c0, min(bc, d - c0)) for c0 in range(0, d, bc)]
        self.fma = ("vfwmaccbf16.vf" if self.half and k.isa.has("vfwmaccbf16.vf") else
                    "vfwmacc.vf" if self.half else "vfmacc.vf")

    def start(self) -> None:
        """m = -inf, l = 0, O = 0 for every query row of the head."""
        b, acc = self.b, self.acc
        with self.k.rep("r0", self.sq, ptrs=2) as r:
            b.emit("fsw", self.neg_inf, b.mem("ml", r * 2, 32))
            b.emit("fsw", self.zero, b.mem("ml", r * 2 + 1, 32))
            for c0, dc in self.dchunks:
                b.vsetvli(dc, 32, 8)
                b.emit("vmv.v.i", acc, 0)
                b.emit("vse32.v", acc, b.mem("oacc", r * self.d + c0, 32))

    def key_block(self, qh: Affine, kvh: Affine, key0: Affine, w: int) -> None:
        b, d, ew = self.b, self.d, self.ew
        kbase = kvh * (self.skv * d) + key0 * d
        # K^T of the block: one strided load per d (keys d apart), once per block and head
        b.vsetvli(w, ew, self.olm)
        with self.k.rep("kd", d, ptrs=2) as dd:
            b.emit(f"vlse{ew}.v", self.op, b.mem("K", kbase + dd, ew, "strided", d))
            b.emit(f"vse{ew}.v", self.op, b.mem("kt", dd * self.bc, ew))
        with self.k.rep("r", self.sq, ptrs=3) as r:
            self._scores(qh * (self.sq * d) + r * d, w)
            al = self._softmax(r)
            self._pv(r, kbase, w, al)

    def _scores(self, qrow: Affine, w: int) -> None:
        """S[r, :] = sum_d Q[r, d] K^T[d, :] / sqrt(D) into ``acc`` (FREP: no loop code)."""
        b, ew, accs, ops = self.b, self.ew, self.accs, self.ops
        b.vsetvli(w, 32, 8)
        for a in accs[:min(self.d, 2)]:
            b.emit("vmv.v.i", a, 0)
        b.vsetvli(w, ew, self.olm)
        fq = self.f[0]
        for dd in range(self.d):
            self.k.sload(fq, "Q", qrow + dd)
            o = ops[dd % 2]
            b.emit(f"vle{ew}.v", o, b.mem("kt", dd * self.bc, ew), comment="SSR: K^T row")
            b.emit(self.fma, accs[dd % 2], fq, o, comment="FREP'd SIMD FMA")
        b.vsetvli(w, 32, 8)
        if self.d > 1:
            b.emit("vfadd.vv", self.acc, self.acc, accs[1])
        b.emit("vfmul.vf", self.acc, self.acc, self.fscale)

    def _softmax(self, r: Affine) -> Reg:
        """The row's online softmax: P = exp(S - m) into scratch ``p``, (m, l) updated;
        returns the f register holding alpha = exp(m_prev - m). Without vfexp it is
        flashattention_2's C (:meth:`_softmax_c`); with it, VEXP's vector code."""
        if not self.vexp:
            return self._softmax_c(r)
        b, acc, red = self.b, self.acc, self.red
        _, mo, mn, lo, al, s = self.f[:6]
        w = b.current_vl
        b.emit("flw", mo, b.mem("ml", r * 2, 32))
        b.emit("flw", lo, b.mem("ml", r * 2 + 1, 32))
        b.emit("vfmv.s.f", red, mo)
        b.emit("vfredmax.vs", red, acc, red)
        b.emit("vfmv.f.s", mn, red, comment="m = max(m_prev, max S[r, :])")
        b.emit("fsub.s", al, mo, mn)
        b.vsetvli(1, 32, 1)
        b.emit("vfmv.s.f", red, al)
        b.emit("vfexp.v", red, red)
        b.emit("vfmv.f.s", al, red, comment="alpha = exp(m_prev - m)")
        b.vsetvli(w, 32, 8)
        b.emit("vfsub.vf", acc, acc, mn)
        b.emit("vfexp.v", acc, acc, comment="P = exp(S - m)")
        b.emit("vfmv.s.f", red, self.zero)
        b.emit("vfredusum.vs", red, acc, red)
        b.emit("vfmv.f.s", s, red)
        b.emit("fmadd.s", lo, lo, al, s, comment="l = alpha l + sum P")
        b.emit("fsw", mn, b.mem("ml", r * 2, 32))
        b.emit("fsw", lo, b.mem("ml", r * 2 + 1, 32))
        b.emit("vse32.v", acc, b.mem("p", 0, 32))
        return al

    def _softmax_c(self, r: Affine) -> Reg:
        """flashattention_2_fp16.h's row loops as compiled C: the S row through scratch,
        ``if (val > m_i) m_i = val`` per score (flt.s, a branch, the move), then
        ``P = expf(S - m_i)`` stored and summed per score, ``shifted_exp =
        expf(m_prev - m_i)``, ``l = l * shifted_exp + row_sum``."""
        b, k = self.b, self.k
        fv, mo, mn, lo, al, s, t1, t2, t3 = self.f
        w = b.current_vl
        b.emit("vse32.v", self.acc, b.mem("s", 0, 32), comment="the S row")
        b.emit("flw", mo, b.mem("ml", r * 2, 32))
        b.emit("flw", lo, b.mem("ml", r * 2 + 1, 32))
        b.emit("fmv.s", mn, mo)
        with k.rep("cm", w, ptrs=2) as c:
            b.emit("flw", fv, b.mem("s", Affine.of(c), 32))
            c_max(k, mn, fv)
        b.emit("fmv.s", s, self.zero)
        with k.rep("ce", w, ptrs=3) as c:
            b.emit("flw", fv, b.mem("s", Affine.of(c), 32))
            b.emit("fsub.s", fv, fv, mn)
            expf(k, fv, fv, (t1, t2, t3))
            b.emit("fsw", fv, b.mem("p", Affine.of(c), 32), comment="P = expf(S - m_i)")
            b.emit("fadd.s", s, s, fv, comment="row_sum += P")
        b.emit("fsub.s", al, mo, mn)
        expf(k, al, al, (t1, t2, t3))
        b.emit("fmadd.s", lo, lo, al, s, comment="l = l * shifted_exp + row_sum")
        b.emit("fsw", mn, b.mem("ml", r * 2, 32))
        b.emit("fsw", lo, b.mem("ml", r * 2 + 1, 32))
        return al

    def _pv(self, r: Affine, kbase: Affine, w: int, al: Reg) -> None:
        """O[r, c0:] = alpha O[r, c0:] + sum_c P[r, c] V[c, c0:], two chunks of d in turn
        (FREP: no loop code)."""
        b, d, ew, fq = self.b, self.d, self.ew, self.f[0]
        for i in range(0, len(self.dchunks), 2):
            chunks = self.dchunks[i:i + 2]
            pair = tuple(zip(self.accs[:len(chunks)], self.ops[:len(chunks)], chunks,
                             strict=True))
            for a, _, (c0, dc) in pair:
                b.vsetvli(dc, 32, 8)
                b.emit("vle32.v", a, b.mem("oacc", r * d + c0, 32))
                b.emit("vfmul.vf", a, a, al)
            for c in range(w):
                b.emit("flw", fq, b.mem("p", c, 32))
                for a, o, (c0, dc) in pair:
                    b.vsetvli(dc, ew, self.olm)
                    b.emit(f"vle{ew}.v", o, b.mem("V", kbase + c * d + c0, ew),
                           comment="SSR: V row")
                    b.emit(self.fma, a, fq, o, comment="FREP'd SIMD FMA")
            for a, _, (c0, dc) in pair:
                b.vsetvli(dc, 32, 8)
                b.emit("vse32.v", a, b.mem("oacc", r * d + c0, 32))

    def finish(self, qh: Affine) -> None:
        """O = O / l, in the output dtype."""
        b, d, acc, lo = self.b, self.d, self.acc, self.f[3]
        with self.k.rep("r1", self.sq, ptrs=3) as r:
            b.emit("flw", lo, b.mem("ml", r * 2 + 1, 32))
            b.emit("fdiv.s", lo, self.one, lo, comment="1 / l")
            orow = qh * (self.sq * d) + r * d
            for c0, dc in self.dchunks:
                b.vsetvli(dc, 32, 8)
                b.emit("vle32.v", acc, b.mem("oacc", r * d + c0, 32))
                b.emit("vfmul.vf", acc, acc, lo)
                if self.half:
                    b.vsetvli(dc, 16, 4)
                    b.emit("vfncvtbf16.f.f.w" if self.k.isa.has("vfncvtbf16.f.f.w")
                           else "vfncvt.f.f.w", self.op, acc)
                    b.emit("vse16.v", self.op, b.mem("O", orow + c0, 16))
                else:
                    b.emit("vse32.v", acc, b.mem("O", orow + c0, 32))
