"""Program IR: an instruction program is a compact loop nest of instruction instances.

A :class:`Program` is what a kernel generator (``isa.kernels``) produces for one trace op.
It can be executed on numpy data by :mod:`isa.executor` and timed by a core model. It is
compact at any size: a loop is ``Loop(var, trip, body)``, never unrolled, so trip counts of
10^9 cost nothing. Tails (lengths that are not a multiple of VL) are separate loops or
straight-line epilogues with their own ``vsetvli`` and VL.

Structure
---------
``Program.body``   tuple of nodes; a node is an :class:`Instr` or a :class:`Loop`.
``Loop``           ``var`` (induction variable name, 0..trip-1), ``trip`` (int >= 0),
                   ``body`` (tuple of nodes). Loop control is explicit in the body: the
                   pointer bumps (``addi``) and the backward branch (``bne``) a real loop
                   executes each iteration are instructions like any other.
``Instr``          one static instruction: ``op`` (mnemonic), ``args`` (operands in assembly
                   order: :class:`Reg`, :class:`Mem`, int/float immediates), and for vector
                   instructions the concrete ``vl`` and ``vtype`` (SEW, LMUL) in force
                   (set by the preceding ``vsetvli``), and ``masked`` (``v0.t``).
``Mem``            a memory operand: buffer name, element offset as an :class:`Affine`
                   expression of enclosing loop variables, element width, access pattern
                   (``unit``/``strided``/``indexed``), stride or index register, and an
                   optional ``base`` integer register whose value (a byte offset, computed
                   at run time, e.g. ``token_id * row_bytes``) is added to the address:
                   data-dependent addressing (embedding rows, top-k bookkeeping) with the
                   loop nest unchanged. ``base`` is read like any source register
                   (``InstrTiming.xsrc``); the access pattern keeps its meaning.

Timing interface (what a core model calls)
------------------------------------------
``program.counts()``
    dynamic instruction counts (:class:`Counts`: ``total``, ``by_unit``, ``by_mnemonic``)
    from the loop nest, without expanding it.
``program.walk()``
    yields ``(instr, dynamic_count)`` for every static instruction.
``Loop.body`` / ``program.body``
    iterate a loop body's nodes in program order; nested :class:`Loop` nodes appear in
    place (simulate one iteration of a body, find the steady state, multiply by ``trip``).
``instr.timing(params)``  with ``params`` an :class:`isa.timing.TimingParams` (DLEN and
    every latency constant) returns an :class:`InstrTiming`:

    - ``unit``: functional-unit class, one of :data:`isa.instructions.UNITS`
      (scalar, int, fma, fdiv, reduction, permute, load, store, exp, matrix);
    - ``latency``: cycles until a dependent instruction may start (chaining point);
    - ``occupancy``: cycles the instruction holds its unit/sequencer
      (``ceil(VL*EEW/DLEN)`` for most vector instructions, VL for strided/indexed,
      the section 4.1 formulas for reductions and vfdiv);
    - ``vsrc`` / ``vdst``: architectural vector register numbers read / written, each
      register group expanded by its EMUL (so ``v8`` at LMUL=4 is 8, 9, 10, 11);
    - ``xsrc``/``xdst``/``fsrc``/``fdst``: scalar integer / FP register numbers;
    - ``is_mask``: the result is a mask (mask results do not chain, riscv.md 4.1);
    - ``mem``: ``None`` or ``"load"``/``"store"``; ``mem_bytes``: bytes moved;
      ``mem_pattern``: ``unit``, ``strided`` or ``indexed``; ``mem_elements``: elements.
    - ``vl``, ``sew``, ``lmul``: the vector configuration (``None`` for scalar).

``program.signature()`` is a stable hash of the program text, for memoizing timings.

Building
--------
Kernels use :class:`Builder`, which tracks the ``vsetvli`` state lexically and stamps VL
and vtype on every vector instruction it emits::

    b = Builder("axpy", isa, vlen=512)
    b.buffer("x", "fp32", n); b.buffer("y", "fp32", n, role="inout")
    vl = b.vsetvli(n, sew=32, lmul=8)
    with b.loop("i", n // vl, ptrs=2):
        b.emit("vle32.v", V(8), b.mem("x", b.var("i") * vl, 32))
        ...
    prog = b.program()
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from isa.errors import IsaError
from isa.instructions import lookup

if TYPE_CHECKING:
    from isa.instructions import InstrDef, Isa
    from isa.timing import TimingParams

MEM_PATTERNS = ("unit", "strided", "indexed")
BUFFER_DTYPES = {"bf16": 16, "fp16": 16, "fp32": 32, "fp64": 64, "int32": 32, "int64": 64,
                 "int16": 16, "int8": 8}
LMULS = (1, 2, 4, 8)
SEWS = (8, 16, 32, 64)


# ---- operands --------------------------------------------------------------------------
@dataclass(frozen=True)
class Reg:
    """An architectural register: ``file`` is ``v`` (vector), ``f`` (FP) or ``x`` (int)."""

    file: str
    n: int

    def __post_init__(self) -> None:
        if self.file not in ("v", "f", "x") or not 0 <= self.n < 32:
            raise IsaError(f"bad register {self.file}{self.n}: files v/f/x, numbers 0..31")

    def __str__(self) -> str:
        return f"{self.file}{self.n}"


def V(n: int) -> Reg:
    return _REGS.get(("v", n)) or _reg("v", n)


def F(n: int) -> Reg:
    return _REGS.get(("f", n)) or _reg("f", n)


def X(n: int) -> Reg:
    return _REGS.get(("x", n)) or _reg("x", n)


# (file, number) -> its Reg: registers are immutable values, so kernels share one of each
# rather than validate a new one per operand (issue #12)
_REGS: dict[tuple[str, int], Reg] = {}


def _reg(file: str, n: int) -> Reg:
    r = Reg(file, n)
    if type(n) is int:
        _REGS[file, n] = r
    return r


def _normal(terms: tuple[tuple[str, int], ...]) -> bool:
    """Whether ``terms`` are as :meth:`Affine.__add__` leaves them: sorted by variable,
    each variable once, no zero coefficient (adding a constant then keeps them as they are)."""
    prev = None
    for v, c in terms:
        if not c or (prev is not None and v <= prev):
            return False
        prev = v
    return True


@dataclass(frozen=True)
class Affine:
    """``const + sum(coef * var)``: an element offset in terms of loop variables."""

    const: int = 0
    terms: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def of(x: Affine | int) -> Affine:
        return x if isinstance(x, Affine) else _affine(int(x), ())

    def __add__(self, other: Affine | int) -> Affine:
        terms = self.terms
        if type(other) is int:  # the common case of kernel code: a constant offset
            if not terms or _normal(terms):
                return _affine(self.const + other, terms)
            o = _affine(other, ())
        else:
            o = Affine.of(other)
            if not terms and _normal(o.terms):
                return _affine(self.const + o.const, o.terms)
            if not o.terms and _normal(terms):
                return _affine(self.const + o.const, terms)
        acc: dict[str, int] = dict(terms)
        for v, c in o.terms:
            acc[v] = acc.get(v, 0) + c
        return _affine(self.const + o.const, tuple(sorted([(v, c) for v, c in acc.items()
                                                           if c])))

    __radd__ = __add__

    def __sub__(self, other: Affine | int) -> Affine:
        return self + Affine.of(other) * -1

    def __mul__(self, k: int) -> Affine:
        k = int(k)
        if not self.terms:
            return _affine(self.const * k, ())
        return _affine(self.const * k, tuple([(v, c * k) for v, c in self.terms if c * k]))

    __rmul__ = __mul__

    def eval(self, env: dict[str, int]) -> int:
        try:
            return self.const + sum(c * env[v] for v, c in self.terms)
        except KeyError as exc:
            raise IsaError(f"address uses loop variable {exc.args[0]!r} outside its loop") from None

    def __str__(self) -> str:
        parts = [f"{c}*{v}" if c != 1 else v for v, c in self.terms]
        if self.const or not parts:
            parts.append(str(self.const))
        return "+".join(parts).replace("+-", "-")


_new = object.__new__


def _affine(const: int, terms: tuple[tuple[str, int], ...]) -> Affine:
    """``Affine(const, terms)`` without the frozen dataclass's ``__init__`` (two
    ``object.__setattr__`` calls): kernels build hundreds of thousands of offsets while
    lowering (issue #12). The fields are the same, so equality, hashing and text are."""
    a = _new(Affine)
    d = a.__dict__
    d["const"] = const
    d["terms"] = terms
    return a


@dataclass(frozen=True)
class Mem:
    """A memory operand: ``buf[offset]`` in elements of ``eew`` bits.

    ``pattern``: ``unit`` (consecutive elements), ``strided`` (``stride`` elements apart;
    for tile loads the row pitch) or ``indexed`` (byte offsets in vector register ``index``).
    ``base``: an integer register holding a byte offset added to the address at run time
    (RISC-V ``x[rs1] + imm`` addressing); the static ``offset`` is then relative to it.
    """

    buf: str
    offset: Affine
    eew: int
    pattern: str = "unit"
    stride: int = 1
    index: Reg | None = None
    base: Reg | None = None

    def __post_init__(self) -> None:
        if self.pattern not in MEM_PATTERNS:
            raise IsaError(f"bad memory pattern {self.pattern!r}; valid: {', '.join(MEM_PATTERNS)}")

    def __str__(self) -> str:
        s = f"{self.buf}[{self.offset}]" if self.base is None else \
            f"{self.buf}[{self.base}+{self.offset}]"
        if self.pattern == "strided":
            s += f" stride {self.stride}"
        elif self.pattern == "indexed":
            s += f" idx {self.index}"
        return s


@dataclass(frozen=True)
class VType:
    sew: int
    lmul: int

    def __post_init__(self) -> None:
        if self.sew not in SEWS:
            raise IsaError(f"bad SEW {self.sew}; valid: {', '.join(map(str, SEWS))}")
        if self.lmul not in LMULS:
            raise IsaError(
                f"bad LMUL {self.lmul}; valid: {', '.join(map(str, LMULS))} "
                "(fractional LMUL is not modelled)")

    def vlmax(self, vlen: int) -> int:
        return self.lmul * vlen // self.sew

    def __str__(self) -> str:
        return f"e{self.sew}, m{self.lmul}"


Operand = Reg | Mem | int | float


# ---- timing view -------------------------------------------------------------------------
@dataclass(frozen=True)
class InstrTiming:
    """What a core model needs to time one instruction (see the module docstring)."""

    mnemonic: str
    unit: str
    latency: int
    occupancy: int
    vsrc: tuple[int, ...]
    vdst: tuple[int, ...]
    xsrc: tuple[int, ...]
    xdst: tuple[int, ...]
    fsrc: tuple[int, ...]
    fdst: tuple[int, ...]
    is_mask: bool
    mem: str | None
    mem_bytes: int
    mem_pattern: str | None
    mem_elements: int
    vl: int | None
    sew: int | None
    lmul: int | None


# ---- instructions and loops --------------------------------------------------------------
@dataclass(frozen=True)
class Instr:
    """One static instruction instance (see the module docstring)."""

    op: str
    args: tuple[Any, ...] = ()
    vl: int | None = None
    vtype: VType | None = None
    masked: bool = False
    comment: str = ""

    # The hash the dataclass would compute (of all the fields), kept once computed: timing
    # memos and the core model look instructions up by value many times each (#12).
    def __hash__(self) -> int:
        h: int | None = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.op, self.args, self.vl, self.vtype, self.masked, self.comment))
            object.__setattr__(self, "_hash", h)
        return h

    def __getstate__(self) -> dict[str, Any]:
        # str hashes differ between processes: a pickled instruction leaves its hash behind
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    @property
    def defn(self) -> InstrDef:
        return lookup(self.op)

    @property
    def unit(self) -> str:
        return self.defn.unit

    def operand(self, role: str) -> Any:
        """The operand with the given role name (``vd``, ``vs2``, ``fs1``, ``mem`` ...)."""
        i = lookup(self.op).role_index.get(role)
        return None if i is None else self.args[i]

    @property
    def mem(self) -> Mem | None:
        i = lookup(self.op).role_index.get("mem")
        return None if i is None else self.args[i]

    # ---- typed views for code that handles vector / memory instructions only ----------
    @property
    def vector_type(self) -> VType:
        """The vtype of a vector instruction (an error for a scalar one)."""
        if self.vtype is None:
            raise IsaError(f"{self.op}: not a vector instruction (no vtype)")
        return self.vtype

    @property
    def vector_length(self) -> int:
        """The VL of a vector instruction (an error for a scalar one)."""
        if self.vl is None:
            raise IsaError(f"{self.op}: not a vector instruction (no VL)")
        return self.vl

    @property
    def memory(self) -> Mem:
        """The memory operand of a load or store (an error for other instructions)."""
        m = self.operand("mem")
        if not isinstance(m, Mem):
            raise IsaError(f"{self.op}: no memory operand")
        return m

    def timing(self, params: TimingParams) -> InstrTiming:
        return self.defn.timing_of(self, params)

    def asm(self) -> str:
        d = self.defn
        parts = []
        for role, a in zip(d.operands, self.args, strict=True):
            if isinstance(a, Mem):
                parts.append(f"({a})")
            elif role == "vtype":
                parts.append(f"{a}, ta, ma")
            elif isinstance(a, float):
                parts.append(repr(a))
            else:
                parts.append(str(a))
        if self.masked:
            parts.append("v0.t")
        text = f"{self.op} {', '.join(parts)}".rstrip()
        if self.comment:
            text = f"{text:<44}# {self.comment}"
        return text


@dataclass(frozen=True)
class Loop:
    """``for var in range(trip): body``."""

    var: str
    trip: int
    body: tuple[Node, ...]

    def __post_init__(self) -> None:
        if int(self.trip) < 0:
            raise IsaError(f"loop {self.var!r} has negative trip count {self.trip}")


Node = Instr | Loop


@dataclass(frozen=True)
class Buffer:
    """A named memory region a program reads or writes (``shape`` is the logical shape)."""

    name: str
    dtype: str
    size: int
    role: str = "in"  # in, out, inout, scratch, const
    shape: tuple[int, ...] = ()

    @property
    def eew(self) -> int:
        return BUFFER_DTYPES[self.dtype]


@dataclass(frozen=True)
class Counts:
    """Dynamic instruction counts of a program."""

    total: int
    by_unit: dict[str, int]
    by_mnemonic: dict[str, int]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Counts):
            return NotImplemented
        return (self.total == other.total and _nz(self.by_unit) == _nz(other.by_unit)
                and _nz(self.by_mnemonic) == _nz(other.by_mnemonic))

    __hash__ = None  # type: ignore[assignment]


def _nz(d: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in d.items() if v}


@dataclass
class Program:
    """A kernel program: loop nest + the buffers it uses + constant data."""

    name: str
    body: tuple[Node, ...]
    vlen: int
    buffers: dict[str, Buffer] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    isa: Isa | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def walk(self) -> Iterator[tuple[Instr, int]]:
        """Every static instruction with its dynamic execution count."""
        def rec(nodes: Sequence[Node], mult: int) -> Iterator[tuple[Instr, int]]:
            for n in nodes:
                if isinstance(n, Loop):
                    yield from rec(n.body, mult * n.trip)
                else:
                    yield n, mult
        yield from rec(self.body, 1)

    def loops(self) -> Iterator[tuple[Loop, int]]:
        """Every loop with how many times it is entered."""
        def rec(nodes: Sequence[Node], mult: int) -> Iterator[tuple[Loop, int]]:
            for n in nodes:
                if isinstance(n, Loop):
                    yield n, mult
                    yield from rec(n.body, mult * n.trip)
        yield from rec(self.body, 1)

    def counts(self) -> Counts:
        by_m: Counter[str] = Counter()
        by_u: Counter[str] = Counter()
        for ins, k in self.walk():
            if k:
                by_m[ins.op] += k
                by_u[ins.unit] += k
        return Counts(sum(by_m.values()), dict(by_u), dict(by_m))

    def static_size(self) -> int:
        return sum(1 for _ in self.walk())

    def asm(self) -> str:
        out = [f"# {self.name}  (VLEN={self.vlen}; isa={self.isa.name if self.isa else '?'})"]
        for b in self.buffers.values():
            shape = "x".join(map(str, b.shape)) if b.shape else str(b.size)
            out.append(f"#   buffer {b.name}: {b.dtype}[{shape}] {b.role}")

        def rec(nodes: Sequence[Node], depth: int) -> None:
            pad = "    " * depth
            for n in nodes:
                if isinstance(n, Loop):
                    out.append(f"{pad}loop {n.var} = 0..{n.trip - 1}:" if n.trip
                               else f"{pad}loop {n.var} (0 trips):")
                    rec(n.body, depth + 1)
                else:
                    out.append(pad + "  " + n.asm())
        rec(self.body, 0)
        return "\n".join(out)

    def signature(self) -> str:
        """A hash of what the program does: its text without the header line naming the
        ISA it was generated for (the instructions themselves say which ones it uses, so
        the same code generated under two ISA subsets has one signature), and the timing
        identity of every instruction a user module defined."""
        body = self.asm().split("\n", 1)[1]
        # instructions defined outside the package (their timing rule and unit can change
        # without any package file changing) add what their timing depends on
        user = sorted({ins.defn.timing_identity() for ins, _ in self.walk()
                       if ins.defn.extension not in ("rvv", "xattn")
                       or not isinstance(ins.defn.timing, str)})
        text = f"VLEN={self.vlen}\n{body}\n" + "\n".join(user)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def validate(self, vlen: int | None = None) -> None:
        """Check every instruction statically (VL <= VLMAX, register-group alignment,
        known and enabled mnemonics); raises :class:`IsaError`."""
        from isa.instructions import check_instr
        vlen = vlen or self.vlen
        for ins, _ in self.walk():
            check_instr(ins, vlen, self.isa)


# ---- builder -----------------------------------------------------------------------------
class Builder:
    """Emit a program; tracks the vsetvli state lexically and stamps it on vector instrs."""

    def __init__(self, name: str, isa: Isa | None, vlen: int) -> None:
        self.name = name
        self.isa = isa
        self.vlen = int(vlen)
        self._stack: list[list[Node]] = [[]]
        self.buffers: dict[str, Buffer] = {}
        self.consts: dict[str, np.ndarray] = {}
        self._const_vals: list[float] = []
        self.vl: int | None = None
        self.vtype: VType | None = None
        self.meta: dict[str, Any] = {}

    # -- state
    @property
    def current_vl(self) -> int:
        """The VL the last ``vsetvli`` set (an error before the first one)."""
        if self.vl is None:
            raise IsaError(f"{self.name}: no vsetvli before a vector instruction")
        return self.vl

    def has(self, mnemonic: str) -> bool:
        """Whether the target ISA enables ``mnemonic``."""
        return self.isa is None or self.isa.has(mnemonic)

    @staticmethod
    def var(name: str) -> Affine:
        return Affine(0, ((name, 1),))

    def buffer(self, name: str, dtype: str, size: int, role: str = "in",
               shape: tuple[int, ...] = ()) -> str:
        if dtype not in BUFFER_DTYPES:
            raise IsaError(f"bad buffer dtype {dtype!r}; valid: {', '.join(BUFFER_DTYPES)}")
        self.buffers[name] = Buffer(name, dtype, int(size), role, tuple(shape) or (int(size),))
        return name

    def mem(self, buf: str, offset: Affine | int, eew: int | None = None,
            pattern: str = "unit", stride: int = 1, index: Reg | None = None,
            base: Reg | None = None) -> Mem:
        if buf not in self.buffers:
            raise IsaError(f"unknown buffer {buf!r}")
        eew = eew or self.buffers[buf].eew
        if pattern not in MEM_PATTERNS:
            return Mem(buf, Affine.of(offset), eew, pattern, stride, index, base)  # its error
        m = _new(Mem)  # (checked: Mem's __init__ without its frozen-field calls, #12)
        m.__dict__.update(buf=buf, offset=Affine.of(offset), eew=eew, pattern=pattern,
                          stride=stride, index=index, base=base)
        return m

    def const(self, value: float) -> Mem:
        """A memory operand addressing an FP32 constant in the program's constant pool."""
        value = float(np.float32(value))
        if value in self._const_vals:
            k = self._const_vals.index(value)
        else:
            k = len(self._const_vals)
            self._const_vals.append(value)
        if "__const" not in self.buffers:
            self.buffers["__const"] = Buffer("__const", "fp32", 0, "const")
        return Mem("__const", Affine(k), 32)

    # -- emission
    def _append(self, node: Node) -> None:
        self._stack[-1].append(node)

    def vsetvli(self, avl: int, sew: int, lmul: int, rd: Reg | None = None) -> int:
        """Set VL/vtype; a vsetvli that would not change the (known) state is omitted."""
        vt = VType(sew, lmul)
        vl = min(int(avl), vt.vlmax(self.vlen))
        if vl <= 0:
            raise IsaError(f"vsetvli with AVL {avl}: nothing to do")
        if (vl, vt) == (self.vl, self.vtype):
            return vl
        self._append(Instr("vsetvli", (rd or X(5), int(avl), vt), vl, vt))
        self.vl, self.vtype = vl, vt
        return vl

    def emit(self, op: str, *args: Any, masked: bool = False, comment: str = "") -> Instr:
        d = lookup(op)
        if self.isa is not None and not self.isa.has(op):
            raise IsaError(f"{op} is not enabled in ISA {self.isa.name!r}")
        if len(args) != len(d.operands):
            raise IsaError(f"{op} takes operands ({', '.join(d.operands)}), got {len(args)}")
        if d.vector:
            if self.vl is None:
                raise IsaError(f"{op} emitted before any vsetvli")
            ins = _instr(op, args, self.vl, self.vtype, masked, comment)
        else:
            ins = _instr(op, args, None, None, masked, comment)
        self._stack[-1].append(ins)
        return ins

    @contextmanager
    def loop(self, var: str, trip: int, ptrs: int = 1) -> Iterator[Affine]:
        """A counted loop. ``ptrs`` pointer/counter ``addi`` bumps and one ``bne`` close
        each iteration (the loop control a real compiled loop executes)."""
        saved = (self.vl, self.vtype)
        self._stack.append([])
        yield self.var(var)
        for p in range(ptrs):
            self.emit("addi", X(10 + p), X(10 + p), 1)
        self.emit("bne", X(10), X(9), var)
        body = self._stack.pop()
        if trip > 1 and (self.vl, self.vtype) != saved and _uses_entry_state(body):
            # the back edge arrives with another vtype: re-establish the entry state
            vl, vt = saved
            if vl is not None:
                body.insert(0, Instr("vsetvli", (X(5), vl, vt), vl, vt))
        if trip > 0:
            self._append(Loop(var, int(trip), tuple(body)))
        else:
            self.vl, self.vtype = saved

    def program(self) -> Program:
        if len(self._stack) != 1:
            raise IsaError("program() called inside an open loop")
        consts = dict(self.consts)
        if self._const_vals:
            consts["__const"] = np.array(self._const_vals, dtype=np.float32)
            self.buffers["__const"] = Buffer("__const", "fp32", len(self._const_vals), "const",
                                             (len(self._const_vals),))
        return Program(self.name, tuple(self._stack[0]), self.vlen, dict(self.buffers), consts,
                       self.isa, dict(self.meta))


def _instr(op: str, args: tuple[Any, ...], vl: int | None, vtype: VType | None,
           masked: bool, comment: str) -> Instr:
    """``Instr(op, args, vl, vtype, masked, comment)`` without the frozen dataclass's
    ``__init__`` (six ``object.__setattr__`` calls; lowering emits hundreds of thousands
    of instructions, issue #12): the same fields, so the same value."""
    ins = _new(Instr)
    ins.__dict__.update(op=op, args=args, vl=vl, vtype=vtype, masked=masked, comment=comment)
    return ins


def _uses_entry_state(nodes: Sequence[Node]) -> bool:
    """Whether the first vector instruction of ``nodes`` (in program order) is not a vsetvli."""
    def first(ns: Sequence[Node]) -> Instr | None:
        for n in ns:
            if isinstance(n, Loop):
                f = first(n.body)
                if f is not None:
                    return f
            elif n.defn.vector:
                return n
        return None
    f = first(nodes)
    return f is not None and f.op != "vsetvli"
