"""Lowered programs, memoized across the configs that lower an op alike (issue #12).

A kernel generator is a deterministic function of the op record, the registries (the
instructions, units, extensions, kernels and op kinds of
:func:`codesign.riscv.cache.registry_identity`), and what it asks of its ISA and core.
So each lowering here runs with *watched* copies of the ISA and the core that log every
question the kernel asks them (``isa.has(m)``, ``isa.extension_enabled(e)``, any field
read: ``core.vlen``, ``isa.enabled`` ...) with its answer. Another config whose ISA and
core answer every logged question alike gets the same program without lowering again:
a GEMM that emits no Xattn instruction, lowered for ``rvv``, serves every Xattn subset
(it asked ``has("vfwmmacc.vv")`` and got the same answer only where the subset lacks
it), and a program whose kernel never read ``core.dlen`` serves every DLEN. A sweep's
points mostly differ in such fields (issue #12: a cold sweep lowered every op of every
point, a third of its time).

Nothing is approximated: a question not logged cannot change the program, and a logged
one must get the same answer. Comparing or hashing a watched ISA or core logs all its
fields (the conservative answer). The returned program is a copy carrying the caller's
own ISA. The memo is per process, bounded, and emptied when the registries change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

from isa.core import Core
from isa.instructions import Isa
from isa.program import Program
from workloads.schema import Op

# a question and its answer: ("isa", "has", mnemonic), ("isa", "ext", extension),
# ("isa", "attr", field) or ("core", "attr", field) -> the answer the kernel got
Question = tuple[str, str, str]
_CORE_FIELDS = frozenset(f.name for f in dataclasses.fields(Core))
_ISA_FIELDS = frozenset(f.name for f in dataclasses.fields(Isa))

_LOG: list[dict[Question, Any]] = []  # the log of the lowering running now (innermost last)


def _note(question: Question, answer: Any) -> None:
    if _LOG:
        _LOG[-1][question] = answer


class _Watching:
    """What a watched ISA or core shares: each read of one of its fields (``FIELDS``) is
    a question of ``WHO``; comparing or hashing reads every field."""

    WHO: ClassVar[str]
    FIELDS: ClassVar[frozenset[str]]

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        cls = type(self)
        if name in cls.FIELDS:
            _note((cls.WHO, "attr", name), value)
        return value

    def __eq__(self, other: object) -> bool:
        return bool(_plain(self) == _plain(other))

    def __hash__(self) -> int:
        return hash(_plain(self))


class _WatchedIsa(_Watching, Isa):
    """An :class:`Isa` that logs what a kernel asks of it."""

    WHO, FIELDS = "isa", _ISA_FIELDS

    def plain(self) -> Isa:
        return Isa(object.__getattribute__(self, "name"),
                   object.__getattribute__(self, "enabled"))

    def has(self, mnemonic: str) -> bool:
        answer = self.plain().has(mnemonic)
        _note(("isa", "has", mnemonic), answer)
        return answer

    def extension_enabled(self, ext: str) -> tuple[str, ...]:
        answer = self.plain().extension_enabled(ext)
        _note(("isa", "ext", ext), answer)
        return answer


class _WatchedCore(_Watching, Core):
    """A :class:`Core` that logs each field a kernel reads (its methods read them too)."""

    WHO, FIELDS = "core", _CORE_FIELDS


def _plain(x: Any) -> Any:
    """The plain ISA or core a watched one stands for, reading (so logging) every field."""
    if isinstance(x, _WatchedIsa):
        return Isa(x.name, x.enabled)
    if isinstance(x, _WatchedCore):
        return Core(**{f: getattr(x, f) for f in _CORE_FIELDS})
    return x


def _answer(question: Question, isa: Isa, core: Core) -> Any:
    who, how, what = question
    if who == "core":
        return getattr(core, what)
    if how == "has":
        return isa.has(what)
    if how == "ext":
        return isa.extension_enabled(what)
    return getattr(isa, what)


@dataclasses.dataclass
class _Lowered:
    questions: tuple[tuple[Question, Any], ...]
    program: Program  # its isa left out (each caller's copy carries its own)
    signature: str | None = None  # the program's, once asked for

    def holds_for(self, isa: Isa, core: Core) -> bool:
        return all(_answer(q, isa, core) == a for q, a in self.questions)


class _Memo:
    """Op (with the dtype and GEMM panel width asked for) -> its lowerings, each with the
    questions it asked; valid for one registry identity, at most :data:`MAX` programs (a
    sweep's ops at a few hundred configs; then forgotten at once)."""

    MAX = 20_000

    def __init__(self) -> None:
        self.registry = ""
        self.programs = 0
        self.entries: dict[tuple[Op, str, int], list[_Lowered]] = {}

    def of(self, key: tuple[Op, str, int], registry: str) -> list[_Lowered]:
        if registry != self.registry or self.programs >= self.MAX:
            self.clear()
            self.registry = registry
        return self.entries.setdefault(key, [])

    def clear(self) -> None:
        self.registry = ""
        self.programs = 0
        self.entries.clear()


_MEMO = _Memo()


def lowered(key: tuple[Op, str, int], isa: Isa, core: Core, registry: str,
            lower: Callable[[Isa, Core], Program]) -> tuple[Program, Callable[[], str]]:
    """``lower(isa, core)``'s program for the op of ``key`` (op, dtype, GEMM panel width
    as asked; ``registry``: :func:`codesign.riscv.cache.registry_identity`) and what
    returns its signature (computed once per memoized program); memoized as the module
    says."""
    entries = _MEMO.of(key, registry)
    entry = next((e for e in entries if e.holds_for(isa, core)), None)
    if entry is not None and _LOG:  # (a lowering inside another: it asked these too)
        _LOG[-1].update(entry.questions)
    if entry is None:
        watched_isa = _WatchedIsa(isa.name, isa.enabled)
        watched_core = _WatchedCore(**{f: getattr(core, f) for f in _CORE_FIELDS})
        _LOG.append({})
        try:
            prog = lower(watched_isa, watched_core)
        finally:
            log = _LOG.pop()
        if _LOG:  # a lowering inside another: the outer one depends on these answers too
            _LOG[-1].update(log)
        entry = _Lowered(tuple(log.items()), dataclasses.replace(prog, isa=None))
        entries.append(entry)
        _MEMO.programs += 1
    tpl = entry.program
    prog = dataclasses.replace(tpl, isa=isa, buffers=dict(tpl.buffers),
                               consts=dict(tpl.consts), meta=dict(tpl.meta))

    def signature() -> str:
        if entry.signature is None:
            entry.signature = tpl.signature()
        return entry.signature

    return prog, signature


def clear() -> None:
    """Forget every memoized program."""
    _MEMO.clear()
