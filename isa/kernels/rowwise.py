"""Row-wise and element-wise kinds: norm, activation, elementwise, rope, reduction, copy.

All compute in FP32 at LMUL=2 (isa.kernels.common), streaming BF16 through widening and
narrowing conversions. Element-wise kinds run one flat strip-mined loop over M*N
elements; row-wise kinds loop over rows and strip-mine each row.

- norm: rmsnorm ``x * rsqrt(mean(x^2) + eps) * w``; rmsnorm_1p ``... * (1 + w)`` (Qwen3.5
  zero-centred weight); gated_rmsnorm ``rmsnorm(x) * w * silu(z)``; l2norm
  ``x * rsqrt(sum(x^2) + eps)``. Sum of squares by vfmacc.vv + one vfredusum per row; the
  scalar rsqrt by fsqrt.s + fdiv.s once per row.
- activation: silu ``x / (1 + e^-x)``, swiglu ``silu(gate) * up``, sigmoid, relu. The
  division is vfdiv.vv on RVV and vfrec.v + vfmul with Xattn; e^-x is the exp sequence.
- elementwise: add, sub, mul, div, neg, exp, sqrt, rsqrt, reciprocal, maximum, minimum,
  fill. Integer rows (``dtype`` int64/int32: position ids) run on the integer ALU at
  SEW=64/32: fill is a ``vmv.v.x`` splat hoisted out of the loop, or for ``arange`` rows
  ``vid.v`` once plus ``vadd.vx`` of the strip's start; add is ``vadd.vv``.
- rope: the first K of N dims rotate (rotate-half pairs (i, i + K/2)) with per-row cos/sin
  tables of K/2 entries; the other N-K dims are copied.
- reduction: sum, mean, amax over each row.
- copy: copy, cast (the storage dtype of both sides is the core dtype).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isa.core import Core
from isa.errors import IsaError
from isa.instructions import Isa
from isa.kernels import libm
from isa.kernels.common import Kc, field, op_of, positive
from isa.program import Affine, F, Program, Reg, V, X

NORM_OPS = ("rmsnorm", "rmsnorm_1p", "gated_rmsnorm", "l2norm")
ACT_OPS = ("silu", "swiglu", "sigmoid", "relu", "softplus", "gelu")
ELT_UNARY = ("neg", "exp", "sqrt", "rsqrt", "reciprocal", "log", "cos", "sin", "pow")
ELT_BINARY = ("add", "sub", "mul", "div", "maximum", "minimum")
ELT_OPS = ELT_BINARY + ELT_UNARY + ("fill", "where")
RED_OPS = ("sum", "mean", "amax", "cumsum", "topk")
COPY_OPS = ("copy", "cast", "cat", "pad", "gather", "scatter")

A, B2, Y, T = V(4), V(6), V(8), V(30)
SOFTPLUS_THRESHOLD = 20.0  # torch.nn.functional.softplus default (beta=1, threshold=20)
SQRT1_2 = 0.7071067811865476


def _sigmoid_den(kc: Kc, dst, x) -> None:
    """dst = 1 + e^-x (x preserved)."""
    b = kc.b
    b.emit("vfsgnjn.vv", T, x, x, comment="-x")
    kc.exp(dst, T)
    b.emit("vfadd.vf", dst, dst, kc.fconst(1.0))


def _divide(kc: Kc, dst, num, den) -> None:
    if kc.isa.has("vfrec.v"):
        kc.b.emit("vfrec.v", den, den)
        kc.b.emit("vfmul.vv", dst, num, den)
    else:
        kc.b.emit("vfdiv.vv", dst, num, den)


def _silu(kc: Kc, dst, x) -> None:
    _sigmoid_den(kc, Y if dst != Y else B2, x)
    _divide(kc, dst, x, Y if dst != Y else B2)


# ---- activation ------------------------------------------------------------------------------
def lower_activation(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    op = op_of(row, "activation", ACT_OPS)
    m, n = positive(row, "M", "N")
    kc = Kc(f"activation {op} M={m} N={n}", isa, core)
    b = kc.b
    dt = kc.core.dtype
    if op == "swiglu":
        b.buffer("gate", dt, m * n, "in", (m, n))
        b.buffer("up", dt, m * n, "in", (m, n))
    else:
        b.buffer("x", dt, m * n, "in", (m, n))
    b.buffer("y", dt, m * n, "out", (m, n))
    kc.set32(min(m * n, kc.vlmax))
    if op != "relu":
        kc.exp_setup()
    libm.setup(kc, log=op == "softplus", erf=op == "gelu")
    zero = kc.fconst(0.0)
    one = kc.fconst(1.0)
    thresh = kc.fconst(SOFTPLUS_THRESHOLD) if op == "softplus" else None

    def body(off: Affine, vl: int) -> None:
        if op == "swiglu":
            kc.load(A, "gate", off)
            _silu(kc, A, A)
            kc.load(B2, "up", off)
            b.emit("vfmul.vv", A, A, B2)
        else:
            kc.load(A, "x", off)
            if op == "silu":
                _silu(kc, A, A)
            elif op == "sigmoid":
                _sigmoid_den(kc, Y, A)
                if kc.isa.has("vfrec.v"):
                    b.emit("vfrec.v", A, Y)
                else:
                    b.emit("vfrdiv.vf", A, Y, one)
            elif op == "softplus":
                b.emit("vmv.v.v", B2, A)
                kc.exp(Y, B2)
                b.emit("vfadd.vf", Y, Y, one)
                libm.log(kc, Y, Y, (V(10), V(12), V(14)))
                b.emit("vmfgt.vf", V(0), A, thresh, comment="x > 20: softplus(x) = x")
                b.emit("vmerge.vvm", A, Y, A)
            elif op == "gelu":
                b.emit("vfmul.vf", Y, A, kc.fconst(SQRT1_2))
                libm.erf(kc, B2, Y, (Y, T, V(2)), sign=A)
                b.emit("vfadd.vf", Y, B2, one)
                b.emit("vfmul.vv", Y, Y, A)
                b.emit("vfmul.vf", A, Y, kc.fconst(0.5), comment="x (1 + erf(x/sqrt2)) / 2")
            else:
                b.emit("vfmax.vf", A, A, zero)
        kc.store(A, "y", off)
    kc.strips(m * n, "i", body, ptrs=3)
    return kc.program(kind="activation", op=op)


# ---- elementwise ------------------------------------------------------------------------------
INT_DTYPES = {"int64": 64, "int32": 32}
INT_ELT_OPS = ("fill", "add")


def is_arange(row: Mapping[str, Any]) -> bool:
    """A fill row that torch.arange produced: y = 0, 1, 2, ... (flat, row-major)."""
    return str(row.get("op")) == "fill" and "arange" in str(row.get("name") or "")


def lower_elementwise(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    op = op_of(row, "elementwise", ELT_OPS)
    m, n = positive(row, "M", "N")
    if str(row.get("dtype")) in INT_DTYPES:
        return _int_elementwise(row, op, m, n, isa, core)
    kc = Kc(f"elementwise {op} M={m} N={n}", isa, core)
    b = kc.b
    dt = kc.core.dtype
    if op == "where":
        b.buffer("cond", "int8", m * n, "in", (m, n))
    if op != "fill":
        b.buffer("a", dt, m * n, "in", (m, n))
    if op in (*ELT_BINARY, "where"):
        b.buffer("b", dt, m * n, "in", (m, n))
    b.buffer("y", dt, m * n, "out", (m, n))
    kc.set32(min(m * n, kc.vlmax))
    expo = float(row.get("exponent", 2.0))
    pow_int = op == "pow" and expo.is_integer() and abs(expo) <= 64
    if op == "exp" or (op == "pow" and not pow_int):
        kc.exp_setup()
    libm.setup(kc, log=op == "log" or (op == "pow" and not pow_int),
               trig=op in ("cos", "sin"))
    if op == "fill":
        b.emit("vfmv.v.f", A, kc.fconst(float(row.get("value", 0.0))))
    binop = {"add": "vfadd.vv", "sub": "vfsub.vv", "mul": "vfmul.vv", "div": "vfdiv.vv",
             "maximum": "vfmax.vv", "minimum": "vfmin.vv"}

    def body(off: Affine, vl: int) -> None:
        if op != "fill":
            kc.load(A, "a", off)
        if op in binop:
            kc.load(B2, "b", off)
            if op == "div" and kc.isa.has("vfrec.v"):
                b.emit("vfrec.v", B2, B2)
                b.emit("vfmul.vv", A, A, B2)
            else:
                b.emit(binop[op], A, A, B2)
        elif op == "neg":
            b.emit("vfsgnjn.vv", A, A, A)
        elif op == "exp":
            kc.exp(A, A)
        elif op == "sqrt":
            b.emit("vfsqrt.v", A, A)
        elif op == "rsqrt":
            b.emit("vfsqrt.v", A, A)
            b.emit("vfrdiv.vf", A, A, kc.fconst(1.0))
        elif op == "reciprocal":
            kc.recip(A, A)
        elif op == "log":
            libm.log(kc, A, A, (V(10), V(12), V(14)))
        elif op in ("cos", "sin"):
            libm.sincos(kc, A, A, (V(10), V(12), V(14), V(16)), cos=op == "cos")
        elif op == "pow":
            _pow(kc, expo, pow_int)
        elif op == "where":
            kc.load(B2, "b", off)
            b.vsetvli(vl, 8, 1)
            b.emit("vle8.v", V(1), b.mem("cond", off, 8))
            b.emit("vmsne.vi", V(0), V(1), 0, comment="condition mask")
            kc.set32(vl)
            b.emit("vmerge.vvm", A, B2, A, comment="cond ? a : b")
        kc.store(A, "y", off)
    kc.strips(m * n, "i", body, ptrs=3)
    return kc.program(kind="elementwise", op=op)


def _int_elementwise(row: Mapping[str, Any], op: str, m: int, n: int, isa: Isa | str,
                     core: Core | None) -> Program:
    dt = str(row["dtype"])
    if op not in INT_ELT_OPS:
        raise IsaError(f"elementwise {op} on {dt} has no kernel; integer ops: "
                       f"{', '.join(INT_ELT_OPS)}")
    sew = INT_DTYPES[dt]
    kc = Kc(f"elementwise {op} {dt} M={m} N={n}", isa, core)
    b = kc.b
    lmul = kc.core.lmul
    ya, yb, base = V(8), V(16), V(24)
    if op == "add":
        b.buffer("a", dt, m * n, "in", (m, n))
        b.buffer("b", dt, m * n, "in", (m, n))
    b.buffer("y", dt, m * n, "out", (m, n))
    total = m * n
    vm = kc.core.vlmax(sew, lmul)
    b.vsetvli(min(total, vm), sew, lmul)
    arange = is_arange(row)
    if arange:
        b.emit("vid.v", base, comment="0, 1, 2, ...")
        b.emit("addi", X(6), X(0), 0, comment="strip start")
    elif op == "fill":
        b.emit("addi", X(7), X(0), int(float(row.get("value", 0) or 0)))
        b.emit("vmv.v.x", ya, X(7))
    main, tail = divmod(total, vm)

    def body(off: Affine, vl: int) -> None:
        if op == "add":
            b.emit(f"vle{sew}.v", ya, b.mem("a", off, sew))
            b.emit(f"vle{sew}.v", yb, b.mem("b", off, sew))
            b.emit("vadd.vv", ya, ya, yb)
        elif arange:
            b.emit("vadd.vx", ya, base, X(6))
            b.emit("addi", X(6), X(6), vl)
        b.emit(f"vse{sew}.v", ya, b.mem("y", off, sew))

    if main:
        b.vsetvli(vm, sew, lmul)
        with kc.rep("i", main, ptrs=3) as i:
            body(i * vm, vm)
    if tail:
        b.vsetvli(tail, sew, lmul)
        body(Affine(main * vm), tail)
    return kc.program(kind="elementwise", op=op, dtype=dt)


def _pow(kc: Kc, p: float, integer: bool) -> None:
    """A = A ** p: square-and-multiply for integer p (reciprocal for p < 0), otherwise
    exp(p * log(A)) for A > 0."""
    b = kc.b
    if not integer:
        libm.log(kc, A, A, (V(10), V(12), V(14)))
        b.emit("vfmul.vf", A, A, kc.fconst(p))
        kc.exp(A, A)
        return
    e = abs(int(p))
    if e == 0:
        b.emit("vfmv.v.f", A, kc.fconst(1.0))
        return
    acc: Reg | None = None  # product of the set bits' powers
    sq = A
    while e:
        if e & 1:
            if acc is None:
                acc = B2
                b.emit("vmv.v.v", acc, sq)
            else:
                b.emit("vfmul.vv", acc, acc, sq)
        e >>= 1
        if e:
            b.emit("vfmul.vv", sq, sq, sq)
    assert acc is not None  # e > 0 has a set bit
    if p < 0:
        kc.recip(A, acc)
    else:
        b.emit("vmv.v.v", A, acc)


# ---- norm ------------------------------------------------------------------------------------
def lower_norm(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    op = op_of(row, "norm", NORM_OPS)
    m, n = positive(row, "M", "N")
    eps = float(row.get("eps", 1e-6))
    kc = Kc(f"norm {op} M={m} N={n}", isa, core)
    b = kc.b
    dt = kc.core.dtype
    b.buffer("x", dt, m * n, "in", (m, n))
    if op != "l2norm":
        b.buffer("w", dt, n, "in", (n,))
    if op == "gated_rmsnorm":
        b.buffer("z", dt, m * n, "in", (m, n))
    b.buffer("y", dt, m * n, "out", (m, n))
    vfull = min(n, kc.vlmax)
    kc.set32(vfull)
    if op == "gated_rmsnorm":
        kc.exp_setup(regs=None)  # v10-v18 hold exp temporaries; v22, v24 the sums
    fzero, fone = kc.fconst(0.0), kc.fconst(1.0)
    finvn = kc.fconst(1.0 if op == "l2norm" else 1.0 / n)
    feps = kc.fconst(eps)
    acc, red = V(22), V(24)
    with kc.rep("r", m, ptrs=2) as r:
        base = r * n
        kc.set32(vfull)
        b.emit("vmv.v.i", acc, 0)

        def p1(off: Affine, vl: int) -> None:
            kc.load(A, "x", base + off)
            b.emit("vfmacc.vv", acc, A, A)
        kc.strips(n, "j", p1)
        kc.set32(vfull)
        b.emit("vfmv.s.f", red, fzero)
        b.emit("vfredusum.vs", red, acc, red)
        b.emit("vfmv.f.s", F(1), red)
        b.emit("fmadd.s", F(1), F(1), finvn, feps, comment="mean(x^2) + eps")
        b.emit("fsqrt.s", F(1), F(1))
        b.emit("fdiv.s", F(1), fone, F(1))

        def p2(off: Affine, vl: int) -> None:
            kc.load(A, "x", base + off)
            b.emit("vfmul.vf", A, A, F(1))
            if op != "l2norm":
                kc.load(B2, "w", off)
                if op == "rmsnorm_1p":
                    b.emit("vfadd.vf", B2, B2, fone)
                b.emit("vfmul.vv", A, A, B2)
            if op == "gated_rmsnorm":
                kc.load(B2, "z", base + off)
                _sigmoid_den(kc, Y, B2)
                _divide(kc, B2, B2, Y)
                b.emit("vfmul.vv", A, A, B2)
            kc.store(A, "y", base + off)
        kc.strips(n, "j", p2)
    return kc.program(kind="norm", op=op)


# ---- rope ------------------------------------------------------------------------------------
def lower_rope(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    op_of(row, "rope", ("rope",))
    m, n, k = positive(row, "M", "N", "K")
    if k % 2 or k > n:
        from isa.errors import IsaError
        raise IsaError(f"rope needs an even K <= N, got K={k}, N={n}")
    h = k // 2
    kc = Kc(f"rope M={m} N={n} K={k}", isa, core)
    b = kc.b
    dt = kc.core.dtype
    b.buffer("x", dt, m * n, "in", (m, n))
    b.buffer("cos", dt, m * h, "in", (m, h))
    b.buffer("sin", dt, m * h, "in", (m, h))
    b.buffer("y", dt, m * n, "out", (m, n))
    x1, x2, c, s, o1, o2 = V(4), V(6), V(8), V(10), V(12), V(14)
    with kc.rep("r", m, ptrs=3) as r:
        def rot(off: Affine, vl: int) -> None:
            kc.load(x1, "x", r * n + off)
            kc.load(x2, "x", r * n + h + off)
            kc.load(c, "cos", r * h + off)
            kc.load(s, "sin", r * h + off)
            b.emit("vfmul.vv", o1, x1, c)
            b.emit("vfnmsac.vv", o1, x2, s, comment="x1*cos - x2*sin")
            b.emit("vfmul.vv", o2, x2, c)
            b.emit("vfmacc.vv", o2, x1, s, comment="x2*cos + x1*sin")
            kc.store(o1, "y", r * n + off)
            kc.store(o2, "y", r * n + h + off)
        kc.strips(h, "j", rot)
        if n > k:
            def cp(off: Affine, vl: int) -> None:
                kc.load(x1, "x", r * n + k + off)
                kc.store(x1, "y", r * n + k + off)
            kc.strips(n - k, "j", cp)
    return kc.program(kind="rope")


# ---- reduction, copy -----------------------------------------------------------------------
def lower_reduction(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    op = op_of(row, "reduction", RED_OPS)
    if op == "topk":
        from isa.kernels.select import lower_topk
        return lower_topk(row, isa, core)
    if op == "cumsum":
        return _cumsum(row, isa, core)
    m, n = positive(row, "M", "N")
    kc = Kc(f"reduction {op} M={m} N={n}", isa, core)
    b = kc.b
    b.buffer("x", kc.core.dtype, m * n, "in", (m, n))
    b.buffer("y", "fp32", m, "out", (m,))
    vfull = min(n, kc.vlmax)
    init = kc.fconst(float("-inf") if op == "amax" else 0.0)
    acc, red = V(22), V(24)
    with kc.rep("r", m, ptrs=2) as r:
        kc.set32(vfull)
        b.emit("vfmv.v.f", acc, init)

        def p(off: Affine, vl: int) -> None:
            kc.load(A, "x", r * n + off)
            b.emit("vfmax.vv" if op == "amax" else "vfadd.vv", acc, acc, A)
        kc.strips(n, "j", p)
        kc.set32(vfull)
        b.emit("vfmv.s.f", red, init)
        b.emit("vfredmax.vs" if op == "amax" else "vfredusum.vs", red, acc, red)
        b.emit("vfmv.f.s", F(1), red)
        if op == "mean":
            b.emit("fmul.s", F(1), F(1), kc.fconst(1.0 / n))
        b.emit("fsw", F(1), b.mem("y", r, 32))
    return kc.program(kind="reduction", op=op)


def lower_copy(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    """copy/cast: y = x. cat: y[M, N] = [a | b] along the last dim, a has K columns
    (default ceil(N/2): the trace records only the output shape). pad: x[M, K] right-padded
    with zeros to y[M, N] (K default ceil(N/2)). gather: y[i] = x[idx[i]] from a table of K
    rows (default M). scatter: y[idx[i]] = x[i] into K rows (default M), the rest of y kept.
    Rows move at the storage width, LMUL=8; data-dependent rows through a base register."""
    op = op_of(row, "copy", COPY_OPS)
    if op in ("gather", "scatter"):
        return lower_rows(row, isa, core, op)
    m, n = positive(row, "M", "N")
    kc = Kc(f"copy {op} M={m} N={n}", isa, core)
    b = kc.b
    dt = kc.core.dtype
    if op in ("copy", "cast"):
        b.buffer("x", dt, m * n, "in", (m, n))
        b.buffer("y", dt, m * n, "out", (m, n))
        _move(kc, "x", "y", 0, 0, m * n, "i")
        return kc.program(kind="copy", op=op)
    ka = field(row, "K", 0) or -(-n // 2)
    if not 0 < ka <= n:
        from isa.errors import IsaError
        raise IsaError(f"copy {op} needs 0 < K <= N, got K={ka}, N={n}")
    b.buffer("y", dt, m * n, "out", (m, n))
    if op == "cat":
        b.buffer("a", dt, m * ka, "in", (m, ka))
        if n > ka:
            b.buffer("b", dt, m * (n - ka), "in", (m, n - ka))
    else:
        b.buffer("x", dt, m * ka, "in", (m, ka))
    with kc.rep("r", m, ptrs=3) as r:
        _move(kc, "a" if op == "cat" else "x", "y", r * ka, r * n, ka, "j")
        if n > ka and op == "cat":
            _move(kc, "b", "y", r * (n - ka), r * n + ka, n - ka, "j")
        elif n > ka:
            _zero(kc, "y", r * n + ka, n - ka)
    return kc.program(kind="copy", op=op)


def lower_rows(row: Mapping[str, Any], isa: Isa | str, core: Core | None, op: str) -> Program:
    """Data-dependent rows: gather (embedding lookup, MoE dispatch) or scatter (KV-cache
    write). Per row: ``lw`` the index, ``mul`` by the row bytes into a base register, then
    unit-stride strips addressed through it."""
    m, n = positive(row, "M", "N")
    k = field(row, "K", 0) or m
    kind = "embedding" if op == "embedding" else "copy"
    kc = Kc(f"{kind} {op} M={m} N={n} K={k}", isa, core)
    b = kc.b
    dt = kc.core.dtype
    esz = kc.esize
    table = "table" if op == "embedding" else "x"
    b.buffer("ids" if op == "embedding" else "idx", "int32", m, "in", (m,))
    ids = "ids" if op == "embedding" else "idx"
    if op == "scatter":
        if k < m:
            from isa.errors import IsaError
            raise IsaError(f"scatter of M={m} rows needs K >= M destination rows, got K={k}")
        b.buffer("x", dt, m * n, "in", (m, n))
        b.buffer("y", dt, k * n, "inout", (k, n))
    else:
        b.buffer(table, dt, k * n, "in", (k, n))
        b.buffer("y", dt, m * n, "out", (m, n))
    b.emit("addi", X(7), X(0), n * esz // 8, comment="row bytes")
    with kc.rep("r", m, ptrs=2) as r:
        b.emit("lw", X(6), b.mem(ids, r, 32))
        b.emit("mul", X(6), X(6), X(7), comment="row byte offset")
        if op == "scatter":
            _move(kc, "x", "y", r * n, 0, n, "j", dst_base=X(6))
        else:
            _move(kc, table, "y", 0, r * n, n, "j", src_base=X(6))
    return kc.program(kind=kind, op=op)


def lower_embedding(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    """embedding: y[i] = table[ids[i]], M ids into a table of K rows of N."""
    op_of(row, "embedding", ("gather",))
    positive(row, "K")
    return lower_rows(row, isa, core, "embedding")


def _move(kc: Kc, src: str, dst: str, s0: Affine | int, d0: Affine | int, count: int,
          var: str, src_base=None, dst_base=None) -> None:
    b = kc.b
    esz = kc.esize
    vm = kc.core.vlmax(esz, 8)
    main, tail = divmod(count, vm)

    def body(off: Affine | int, vl: int) -> None:
        b.emit(f"vle{esz}.v", V(8), b.mem(src, Affine.of(s0) + off, esz, base=src_base))
        b.emit(f"vse{esz}.v", V(8), b.mem(dst, Affine.of(d0) + off, esz, base=dst_base))
    if main:
        b.vsetvli(vm, esz, 8)
        with kc.rep(var, main, ptrs=2) as i:
            body(i * vm, vm)
    if tail:
        b.vsetvli(tail, esz, 8)
        body(Affine(main * vm), tail)


def _zero(kc: Kc, dst: str, d0: Affine, count: int) -> None:
    b = kc.b
    esz = kc.esize
    vm = kc.core.vlmax(esz, 8)
    main, tail = divmod(count, vm)
    for c, vl in ((main, vm), (1 if tail else 0, tail)):
        if not c:
            continue
        b.vsetvli(vl, esz, 8)
        b.emit("vmv.v.i", V(16), 0)
        with kc.rep("z", c, ptrs=2) as i:
            off = i * vm if vl == vm else Affine(main * vm)
            b.emit(f"vse{esz}.v", V(16), b.mem(dst, d0 + off, esz))

def _cumsum(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    """Inclusive prefix sum of each row (FP32 out): per strip a log-step scan (vslideup by
    1, 2, 4, ... + vfadd), plus the running carry of the previous strips (vfadd.vf; the
    carry is the strip's last element, vslidedown + vfmv.f.s)."""
    m, n = positive(row, "M", "N")
    kc = Kc(f"reduction cumsum M={m} N={n}", isa, core)
    b = kc.b
    b.buffer("x", kc.core.dtype, m * n, "in", (m, n))
    b.buffer("y", "fp32", m * n, "out", (m, n))
    fzero = kc.fconst(0.0)
    with kc.rep("r", m, ptrs=2) as r:
        b.emit("fmv.s", F(1), fzero)

        def strip(off: Affine, vl: int) -> None:
            kc.load(A, "x", r * n + off)
            kc.running_sum(A, B2, F(1), vl)
            b.emit("vse32.v", A, b.mem("y", r * n + off, 32))
        kc.strips(n, "j", strip)
    return kc.program(kind="reduction", op="cumsum")
