"""Instructions as data, extensions as named sets of them, and ISAs as enabled subsets.

An :class:`InstrDef` is a mnemonic plus: operand roles in assembly order, the functional
unit class it occupies (a :class:`Unit`: built in, or registered by a user module with
its own sequencers), element types and widths of its operands, its timing rule (latency
and occupancy as a function of the instruction and the core's
:class:`isa.timing.TimingParams`: a built-in rule by name, or any callable), whether its
result is a mask, and its numpy semantics.

An :class:`Extension` is a named set of definitions with named subsets; ``rvv``
(:mod:`isa.rvv`) and ``xattn`` (:mod:`isa.xattn`) are built in, and a user module can
define and :func:`register_extension` its own. An :class:`Isa` is ``rvv`` plus any enabled
subset of extension instructions, parsed from text by :func:`parse_isa`::

    rvv                      plain RVV 1.0 (the subset modelled here)
    rvv+xattn                every Xattn instruction
    rvv+xattn:vfexp,segred   only the named subsets (or mnemonics) of xattn
    rvv+xattn:-mmacc         every Xattn instruction except the named ones
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from isa.errors import IsaError
from isa.timing import RULES, Timing, fixed_costs

if TYPE_CHECKING:
    from isa.program import Instr, InstrTiming
    from isa.timing import TimingParams


def _callable_identity(fn: Any) -> str:
    """A stable description of a callable: its code and the values it closes over."""
    ident = getattr(fn, "identity", None)
    if ident is not None:
        return repr(ident)
    code = getattr(fn, "__code__", None)
    if code is None:
        return repr(fn)
    cells = [_callable_identity(c.cell_contents) if callable(c.cell_contents)
             else repr(c.cell_contents) for c in (fn.__closure__ or ())]
    digest = hashlib.sha256(code.co_code + repr((code.co_consts, code.co_names, cells,
                                                 fn.__defaults__)).encode())
    return f"{fn.__qualname__}:{digest.hexdigest()[:16]}"

@dataclass(frozen=True)
class Unit:
    """A functional-unit class: which sequencer of the vector core runs its instructions.

    ``sequencer``: ``VA`` (the arithmetic sequencers), ``VL`` (loads), ``VS`` (stores),
    ``scalar`` (the in-order front end), or a name of the unit's own: ``sequencers`` of
    them then run beside the built-in ones, as Xattn's exp (``VE``) and matrix (``VM``)
    units do. A user module declares its unit with :func:`register_unit` and puts
    instructions on it; the core model times them with no other change.
    """

    name: str
    sequencer: str
    sequencers: int = 1
    doc: str = ""

    def __post_init__(self) -> None:
        if self.sequencers < 1:
            raise IsaError(f"unit {self.name!r}: sequencers must be >= 1, got "
                           f"{self.sequencers}")

    @property
    def own_sequencer(self) -> bool:
        return self.sequencer not in ("VA", "VL", "VS", "scalar")


_UNITS: dict[str, Unit] = {}


def register_unit(unit: Unit, replace: bool = False) -> Unit:
    """Add a functional-unit class (``replace``: redefine one of the same name)."""
    if unit.name in _UNITS and not replace:
        raise IsaError(f"unit {unit.name!r} is already registered")
    for other in _UNITS.values():
        if other.name != unit.name and other.sequencer == unit.sequencer and \
                other.own_sequencer and other.sequencers != unit.sequencers:
            raise IsaError(f"unit {unit.name!r}: sequencer {unit.sequencer!r} is unit "
                           f"{other.name!r}'s, with {other.sequencers} sequencers, not "
                           f"{unit.sequencers}")
    _UNITS[unit.name] = unit
    return unit


def unit(name: str) -> Unit:
    u = _UNITS.get(name)
    if u is None:
        raise IsaError(f"unknown unit {name!r}; valid: {', '.join(_UNITS)}")
    return u


def units() -> dict[str, Unit]:
    return dict(_UNITS)


for _u in (Unit("scalar", "scalar", doc="scalar front end (loop control, scalar FP)"),
           Unit("int", "VA"), Unit("fma", "VA"), Unit("fdiv", "VA"),
           Unit("reduction", "VA"), Unit("permute", "VA"),
           Unit("load", "VL"), Unit("store", "VS"),
           Unit("exp", "VE", doc="Xattn exponential unit (riscv.md §6 #1)"),
           Unit("matrix", "VM", doc="Xattn vfwmmacc array (riscv.md §6 #4)"),
           Unit("ime", "VI", doc="SpacemiT IME int8 matrix unit (isa.ime: smt.vmadot*)")):
    register_unit(_u)
# The built-in unit classes (a user module may register more).
UNITS: tuple[str, ...] = tuple(_UNITS)
# Executor handlers (how operands are gathered); see isa.executor.
EXEC_KINDS = ("vset", "valu", "vcmp", "vmerge", "vred", "vload", "vstore", "vslide",
              "vgather", "vtos", "stov", "vid", "segred", "mmacc", "imma", "tload", "tstore",
              "salu", "sload", "sstore", "branch")

Semantics = Callable[..., Any]


@dataclass(frozen=True)
class InstrDef:
    """One instruction: data plus its numpy semantics.

    ``operands``: role names in assembly order: ``vd vs1 vs2 vs3`` (vector), ``fd fs1 fs2
    fs3`` (FP scalar), ``rd rs1 rs2`` (int scalar), ``imm``, ``mem``, ``vtype``, ``label``.
    ``types``: element type per role, ``f`` (FP), ``i`` (signed), ``u`` (unsigned),
    ``m`` (mask). ``widths``: per role, the EEW as a multiple of SEW (2 = widening
    destination or wide source, 0.5 = narrow), ``"s"`` for a single-element operand
    (reduction scalar) or ``"m"`` for a one-register mask.
    ``fn(vd, op1, op2)``: elementwise semantics on float64/int64 numpy arrays, ``op1`` =
    vs1 / fs1 / rs1 / imm, ``op2`` = vs2, ``vd`` = the old destination (accumulators).
    """

    mnemonic: str
    operands: tuple[str, ...]
    unit: str
    exec_kind: str
    timing: str | Timing
    fn: Semantics | None = None
    types: dict[str, str] = field(default_factory=dict)
    widths: dict[str, Any] = field(default_factory=dict)
    reads_vd: bool = False
    mask_result: bool = False
    extension: str = "rvv"
    doc: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.unit not in _UNITS:
            raise IsaError(f"{self.mnemonic}: unit {self.unit!r} not in {', '.join(_UNITS)}")
        if self.exec_kind not in EXEC_KINDS:
            raise IsaError(f"{self.mnemonic}: exec kind {self.exec_kind!r} unknown")
        if isinstance(self.timing, str) and self.timing not in RULES:
            raise IsaError(f"{self.mnemonic}: timing rule {self.timing!r} unknown; valid: "
                           f"{', '.join(RULES)}, or a callable (instr, params) -> "
                           "(latency, occupancy)")
        if not isinstance(self.timing, str) and not callable(self.timing):
            raise IsaError(f"{self.mnemonic}: timing must be a rule name or a callable")

    @functools.cached_property
    def role_index(self) -> dict[str, int]:
        """Each operand role's position in ``operands`` (its first, as ``tuple.index``
        finds it): what :meth:`isa.program.Instr.operand` reads, once per definition."""
        out: dict[str, int] = {}
        for i, role in enumerate(self.operands):
            out.setdefault(role, i)
        return out

    @property
    def rule(self) -> Timing:
        """The timing rule: (instruction, TimingParams) -> (latency, occupancy)."""
        return RULES[self.timing] if isinstance(self.timing, str) else self.timing

    def timing_identity(self) -> str:
        """What determines this instruction's timing, for cache keys: the built-in rule's
        name, or a hash of a user rule's code and the values it closes over (so a timing
        memo never serves a result of an instruction redefined with another timing)."""
        u = _UNITS[self.unit]
        head = f"{self.mnemonic}|{u.name}|{u.sequencer}|{u.sequencers}"
        if isinstance(self.timing, str):
            return f"{head}|{self.timing}"
        return f"{head}|{_callable_identity(self.timing)}"

    @property
    def semantics(self) -> Semantics:
        """The numpy semantics (an error for an instruction defined without them)."""
        if self.fn is None:
            raise IsaError(f"{self.mnemonic}: no numpy semantics defined")
        return self.fn

    @property
    def vector(self) -> bool:
        return self.exec_kind not in ("salu", "sload", "sstore", "branch")

    def type_of(self, role: str) -> str:
        return self.types.get(role, self.types.get("*", "f"))

    def width_of(self, role: str) -> Any:
        return self.widths.get(role, 1)

    # ---- register groups ------------------------------------------------------------
    def emul(self, ins: Instr, role: str, vlen: int) -> int:
        """Registers occupied by vector operand ``role`` of ``ins``."""
        w = self.width_of(role)
        if w in ("s", "m"):
            return 1
        if self.exec_kind == "mmacc" and role == "vd":
            return tile_geometry(vlen, ins.vector_type.lmul).c_regs
        if self.exec_kind == "imma":  # IME: C in MUL_C registers, a sliding A in two
            if role == "vd":
                return ime_geometry(vlen).c_regs
            return 2 if role == "vs1" and self.attrs.get("slide") else 1
        return max(1, int(ins.vector_type.lmul * w)) if ins.vtype else 1

    def eew(self, ins: Instr, role: str) -> int:
        w = self.width_of(role)
        w = 1 if w in ("s", "m") else w
        return int(ins.vector_type.sew * w)

    # ---- timing ---------------------------------------------------------------------
    def timing_of(self, ins: Instr, p: TimingParams) -> InstrTiming:
        from isa.program import InstrTiming, Mem, Reg
        vsrc: list[int] = []
        vdst: list[int] = []
        xs: list[int] = []
        xd: list[int] = []
        fs: list[int] = []
        fdl: list[int] = []
        vl_ = p.vlen
        for role, a in zip(self.operands, ins.args, strict=True):
            if isinstance(a, Reg):
                if a.file == "v":
                    regs = list(range(a.n, a.n + self.emul(ins, role, vl_)))
                    if role == "vd":
                        vdst += regs
                        if self.reads_vd:
                            vsrc += regs
                    else:
                        vsrc += regs
                elif a.file == "x":
                    (xd if role == "rd" else xs).append(a.n)
                else:
                    (fdl if role == "fd" else fs).append(a.n)
            elif isinstance(a, Mem) and a.index is not None:
                vsrc += list(range(a.index.n, a.index.n + max(1, ins.vector_type.lmul)))
            if isinstance(a, Mem) and a.base is not None:
                xs.append(a.base.n)
        if ins.masked or self.exec_kind == "vmerge":
            vsrc.append(0)
        lat, occ = self.rule(ins, p)
        lat, occ = fixed_costs(self.timing if isinstance(self.timing, str) else None,
                               self.vector and self.exec_kind != "vset", lat, occ, p)
        mem = ins.mem
        mem_dir = None
        nbytes = nelem = 0
        pattern = None
        if mem is not None:
            mem_dir = "store" if self.exec_kind in ("vstore", "sstore", "tstore") else "load"
            pattern = mem.pattern
            nelem = _mem_elements(self, ins)
            nbytes = nelem * mem.eew // 8
        return InstrTiming(
            self.mnemonic, self.unit, int(lat), int(occ), tuple(vsrc), tuple(vdst),
            tuple(xs), tuple(xd), tuple(fs), tuple(fdl), self.mask_result, mem_dir, nbytes,
            pattern, nelem, ins.vl, ins.vector_type.sew if ins.vtype else None,
            ins.vector_type.lmul if ins.vtype else None,
        )


def _mem_elements(d: InstrDef, ins: Instr) -> int:
    if not d.vector:
        return 1
    if d.exec_kind in ("tload", "tstore"):
        rows, cols = ins.operand("imm")
        return int(rows) * int(cols)
    return int(ins.vl or 0)


# ---- matrix tile geometry (vfwmmacc.vv) -------------------------------------------------
@dataclass(frozen=True)
class TileGeometry:
    """C[M,N] (FP32) += A[M,K] (BF16) @ B[K,N] (BF16), operands in vector registers.

    With SEW=16 and LMUL=L an A or B^T register group holds E = VLEN*L/16 BF16 elements:
    M = N = 2^floor(log2(E)/2) and K = E/M (A row-major M x K in vs1, B^T row-major N x K
    in vs2, both "K-contiguous" as in IME's vfwmmacc, riscv.md 2.3); C is row-major M x N
    FP32 in ``c_regs`` = max(1, M*N*32/VLEN) registers. VLEN=512, L=1: 4x4x8, C in 1 reg.
    """

    m: int
    n: int
    k: int
    c_regs: int


def tile_geometry(vlen: int, lmul: int) -> TileGeometry:
    e = vlen * lmul // 16
    m = 2 ** (int(math.log2(e)) // 2)
    return TileGeometry(m, m, e // m, max(1, m * m * 32 // vlen))


def ime_geometry(vlen: int) -> TileGeometry:
    """The SpacemiT IME int8 tile at ``vlen`` (LMUL = 1, the only one the A60 and A100
    implement): C[M,N] (int32) += A[M,K] (int8, row-major in vs1) @ B^T (B^T[N,K], row-major
    in vs2). VLEN 256 is the K1's A60 (4x4x8, C in 2 registers) and VLEN 1024 the K3's A100
    (8x8x16), spacemit-com/docs-ai ime_extension.md §2.5; both are M = N = 2^floor(log2(VLEN/
    16)/2), K = VLEN/8/M, which other VLENs extrapolate (VLEN 512: 4x4x16, C in 1 register)."""
    m = 2 ** (int(math.log2(vlen // 16)) // 2)
    return TileGeometry(m, m, vlen // 8 // m, max(1, m * m * 32 // vlen))


# ---- registry, extensions, ISAs ---------------------------------------------------------
@dataclass(frozen=True)
class Extension:
    """A named set of instructions, with named subsets for ablations."""

    name: str
    instructions: tuple[InstrDef, ...]
    subsets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    doc: str = ""

    @property
    def mnemonics(self) -> tuple[str, ...]:
        return tuple(d.mnemonic for d in self.instructions)


_REGISTRY: dict[str, InstrDef] = {}
EXTENSIONS: dict[str, Extension] = {}


def register_extension(ext: Extension, replace: bool = False) -> Extension:
    """Add an extension (and its instructions) to the registry. Mnemonics are unique."""
    if ext.name in EXTENSIONS and not replace:
        raise IsaError(f"extension {ext.name!r} is already registered")
    for d in ext.instructions:
        owner = _REGISTRY.get(d.mnemonic)
        if owner is not None and owner.extension != ext.name:
            raise IsaError(f"mnemonic {d.mnemonic} already defined by extension "
                           f"{owner.extension!r}")
        if d.extension != ext.name:
            raise IsaError(f"{d.mnemonic} says extension {d.extension!r}, "
                           f"registered in {ext.name!r}")
    for sub, names in ext.subsets.items():
        bad = [n for n in names if n not in ext.mnemonics]
        if bad:
            raise IsaError(f"subset {sub!r} of {ext.name!r} names unknown instructions {bad}")
    EXTENSIONS[ext.name] = ext
    for d in ext.instructions:
        _REGISTRY[d.mnemonic] = d
    return ext


def _ensure_builtin() -> None:
    if "rvv" not in EXTENSIONS:
        import isa.rvv
    if "xattn" not in EXTENSIONS:
        import isa.xattn
    if "ime" not in EXTENSIONS:
        import isa.ime  # noqa: F401


def lookup(mnemonic: str) -> InstrDef:
    d = _REGISTRY.get(mnemonic)
    if d is None:
        _ensure_builtin()
        d = _REGISTRY.get(mnemonic)
    if d is None:
        raise IsaError(f"unknown instruction {mnemonic!r}")
    return d


def all_instructions() -> dict[str, InstrDef]:
    _ensure_builtin()
    return dict(_REGISTRY)


@dataclass(frozen=True)
class Isa:
    """RVV plus an enabled subset of extension instructions."""

    name: str
    enabled: frozenset[str]

    def has(self, mnemonic: str) -> bool:
        return mnemonic in self.enabled

    def extension_enabled(self, ext: str) -> tuple[str, ...]:
        e = EXTENSIONS[ext]
        return tuple(m for m in e.mnemonics if m in self.enabled)


# ISA text -> (the registered extensions it was parsed with, the Isa): a config's ISA is
# parsed where it is used (tens of thousands of times in a sweep, issue #12); a change of
# the registered extensions parses again
_PARSED: dict[str, tuple[tuple[Extension, ...], Isa]] = {}


def parse_isa(text: str | Isa) -> Isa:
    """Parse ``rvv``, ``rvv+xattn``, ``rvv+xattn:vfexp,segred``, ``rvv+xattn:-mmacc``."""
    if isinstance(text, Isa):
        return text
    hit = _PARSED.get(text) if isinstance(text, str) else None
    if hit is not None and len(hit[0]) == len(EXTENSIONS) \
            and all(a is b for a, b in zip(hit[0], EXTENSIONS.values(), strict=True)):
        return hit[1]
    isa = _parse_isa(text)
    if isinstance(text, str):
        if len(_PARSED) >= 1024:
            _PARSED.clear()
        _PARSED[text] = (tuple(EXTENSIONS.values()), isa)
    return isa


def _parse_isa(text: str) -> Isa:
    _ensure_builtin()
    s = str(text).strip().lower()
    parts = [p.strip() for p in s.split("+")]
    if not parts or parts[0] != "rvv":
        raise IsaError(f"ISA {text!r} must start with 'rvv' (e.g. rvv, rvv+xattn, "
                       "rvv+xattn:vfexp,segred)")
    enabled = set(EXTENSIONS["rvv"].mnemonics)
    names = ["rvv"]
    for part in parts[1:]:
        ext_name, _, items = part.partition(":")
        ext = EXTENSIONS.get(ext_name)
        if ext is None or ext_name == "rvv":
            valid = ", ".join(sorted(n for n in EXTENSIONS if n != "rvv"))
            raise IsaError(f"unknown extension {ext_name!r} in ISA {text!r}; valid: {valid}")
        chosen = _select(ext, items, text)
        enabled |= chosen
        full = set(ext.mnemonics)
        if chosen == full:
            names.append(ext.name)
        else:
            keep = [k for k, v in ext.subsets.items() if set(v) <= chosen]
            covered = set().union(*(ext.subsets[k] for k in keep)) if keep else set()
            rest = sorted(chosen - covered)
            names.append(f"{ext.name}:{','.join(keep + rest)}" if chosen else f"{ext.name}:")
    return Isa("+".join(names), frozenset(enabled))


def _select(ext: Extension, items: str, text: str) -> set[str]:
    if not items:
        return set(ext.mnemonics)
    toks = [t.strip() for t in items.split(",") if t.strip()]
    neg = [t[1:] for t in toks if t.startswith("-")]
    pos = [t for t in toks if not t.startswith("-")]
    if neg and pos:
        raise IsaError(f"ISA {text!r}: list either the enabled or the disabled items, not both")

    def expand(tok: str) -> set[str]:
        if tok in ext.subsets:
            return set(ext.subsets[tok])
        if tok in ext.mnemonics:
            return {tok}
        valid = ", ".join(list(ext.subsets) + list(ext.mnemonics))
        raise IsaError(f"unknown {ext.name} item {tok!r} in ISA {text!r}; valid: {valid}")

    if neg:
        kept = set(ext.mnemonics)
        for t in neg:
            kept -= expand(t)
        return kept
    out: set[str] = set()
    for t in pos:
        out |= expand(t)
    return out


# ---- static checks ------------------------------------------------------------------------
def check_instr(ins: Instr, vlen: int, isa: Isa | None = None) -> None:
    """Refuse an invalid instruction instance with a clear :class:`IsaError`."""
    from isa.program import Reg
    d = lookup(ins.op)
    if isa is not None and not isa.has(ins.op):
        raise IsaError(f"{ins.op} ({d.extension}) is not enabled in ISA {isa.name!r}")
    if len(ins.args) != len(d.operands):
        raise IsaError(f"{ins.op} takes operands ({', '.join(d.operands)}), got {len(ins.args)}")
    if not d.vector or d.exec_kind == "vset":
        return
    if ins.vtype is None or ins.vl is None:
        raise IsaError(f"{ins.asm()}: vector instruction without VL/vtype")
    vlmax = ins.vector_type.vlmax(vlen)
    if ins.vl > vlmax or ins.vl < 0:
        raise IsaError(f"{ins.asm()}: VL={ins.vl} exceeds VLMAX={vlmax} "
                       f"(VLEN={vlen}, SEW={ins.vector_type.sew}, LMUL={ins.vector_type.lmul})")
    for role, a in zip(d.operands, ins.args, strict=True):
        if isinstance(a, Reg) and a.file == "v":
            g = d.emul(ins, role, vlen)
            if g > 8:
                raise IsaError(f"{ins.asm()}: operand {role} needs EMUL={g} > 8")
            if a.n % g or a.n + g > 32:
                raise IsaError(f"{ins.asm()}: register {a} is not aligned to its group of {g} "
                               f"registers (LMUL={ins.vector_type.lmul})")
            if ins.masked and role == "vd" and a.n == 0 and not d.mask_result:
                raise IsaError(f"{ins.asm()}: masked instruction may not write v0")
    if d.width_of("vd") == 2 or d.exec_kind == "imma":
        dst = ins.operand("vd")
        dr = set(range(dst.n, dst.n + d.emul(ins, "vd", vlen)))
        for role in ("vs1", "vs2"):
            s = ins.operand(role)
            if not (isinstance(s, Reg) and s.file == "v"):
                continue
            if dr & set(range(s.n, s.n + d.emul(ins, role, vlen))):
                raise IsaError(f"{ins.asm()}: widening destination overlaps source {role}")


def define(mnemonic: str, operands: Iterable[str] | str, unit: str, exec_kind: str,
           timing: str | Timing, fn: Semantics | None = None, *, extension: str = "rvv",
           **kw: Any) -> InstrDef:
    """Shorthand constructor: ``operands`` may be a space-separated string; ``timing`` a
    built-in rule's name (:data:`isa.timing.RULES`) or a rule of your own, e.g.
    ``isa.timing.pipelined(6)``."""
    ops = tuple(operands.split()) if isinstance(operands, str) else tuple(operands)
    return InstrDef(mnemonic, ops, unit, exec_kind, timing, fn, extension=extension, **kw)
