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
from collections.abc import Callable, Hashable
from typing import Any, ClassVar, TypeVar, cast

from isa.core import Core
from isa.instructions import Isa
from isa.program import Program
from workloads.schema import Op

# a question and its answer: ("isa", "has", mnemonic), ("isa", "ext", extension),
# ("isa", "attr", field) or ("core", "attr", field) -> the answer the kernel got
Question = tuple[str, str, str]
_CORE_FIELDS = frozenset(f.name for f in dataclasses.fields(Core))
_ISA_FIELDS = frozenset(f.name for f in dataclasses.fields(Isa))

T = TypeVar("T")
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
        # built once: a kernel asks has() once per instruction it emits (issue #12)
        fields = object.__getattribute__(self, "__dict__")
        isa = fields.get("_plain")
        if isa is None:
            isa = fields["_plain"] = Isa(fields["name"], fields["enabled"])
        return cast(Isa, isa)

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


class Lowered:
    """A memoized program (its ``isa`` left out: each caller's copy carries its own), the
    questions its kernel asked in the order asked, and facts derived from the program
    (:meth:`derive`)."""

    def __init__(self, questions: tuple[tuple[Question, Any], ...], program: Program) -> None:
        self.questions = questions
        self.program = program
        self.derived: dict[Hashable, Any] = {}

    def derive(self, key: Hashable, compute: Callable[[Program], T]) -> T:
        """``compute(program)``, once per ``key`` (which names what else it depends on)."""
        if key not in self.derived:
            self.derived[key] = compute(self.program)
        return cast(T, self.derived[key])

    def signature(self) -> str:
        return self.derive("signature", Program.signature)


class _Node:
    """A node of an op's decision tree: the question its kernel asks next and a branch per
    answer seen, or (a leaf) the program lowered after the answers on the way."""

    def __init__(self) -> None:
        self.question: Question | None = None
        self.branches: dict[Any, _Node] = {}
        self.leaf: Lowered | None = None


class _Memo:
    """Op (with the dtype and GEMM panel width asked for) -> the decision tree of its
    lowerings: a kernel is deterministic, so configs that gave the same answers so far
    are asked the same next question; valid for one registry identity, at most
    :data:`MAX` programs (a sweep's ops at a few hundred configs; then forgotten at
    once)."""

    MAX = 20_000

    def __init__(self) -> None:
        self.registry = ""
        self.programs = 0
        self.trees: dict[tuple[Op, str, int], _Node] = {}

    def find(self, key: tuple[Op, str, int], registry: str, isa: Isa, core: Core) \
            -> Lowered | None:
        if registry != self.registry or self.programs >= self.MAX:
            self.clear()
            self.registry = registry
        node = self.trees.get(key)
        while node is not None and node.leaf is None:
            assert node.question is not None
            node = node.branches.get(_answer(node.question, isa, core))
        return node.leaf if node is not None else None

    def add(self, key: tuple[Op, str, int], lowered: Lowered) -> None:
        node = self.trees.setdefault(key, _Node())
        for question, answer in lowered.questions:
            if node.leaf is not None or node.question not in (None, question):
                return  # not the questions a deterministic kernel asks: keep no program
            node.question = question
            node = node.branches.setdefault(answer, _Node())
        if node.question is None and node.leaf is None:
            node.leaf = lowered
            self.programs += 1

    def clear(self) -> None:
        self.registry = ""
        self.programs = 0
        self.trees.clear()


_MEMO = _Memo()


def lowered(key: tuple[Op, str, int], isa: Isa, core: Core, registry: str,
            lower: Callable[[Isa, Core], Program]) -> tuple[Program, Lowered]:
    """``lower(isa, core)``'s program for the op of ``key`` (op, dtype, GEMM panel width
    as asked; ``registry``: :func:`codesign.riscv.cache.registry_identity`) and its memo
    entry (its signature and other derived facts); memoized as the module says."""
    entry = _MEMO.find(key, registry, isa, core)
    if entry is not None and _LOG:  # (a lowering inside another: it asked these too)
        _LOG[-1].update(entry.questions)
    if entry is None:
        entry = _watched(isa, core, lower)
        _MEMO.add(key, entry)
    tpl = entry.program
    prog = dataclasses.replace(tpl, isa=isa, buffers=dict(tpl.buffers),
                               consts=dict(tpl.consts), meta=dict(tpl.meta))
    return prog, entry


def _watched(isa: Isa, core: Core, lower: Callable[[Isa, Core], Program]) -> Lowered:
    """Lower with watched copies of ``isa`` and ``core``: the program and the questions."""
    watched_isa = _WatchedIsa(isa.name, isa.enabled)
    watched_core = _WatchedCore(**{f: getattr(core, f) for f in _CORE_FIELDS})
    _LOG.append({})
    try:
        prog = lower(watched_isa, watched_core)
    finally:
        log = _LOG.pop()
    if _LOG:  # a lowering inside another: the outer one depends on these answers too
        _LOG[-1].update(log)
    return Lowered(tuple(log.items()), dataclasses.replace(prog, isa=None))


def clear() -> None:
    """Forget every memoized program."""
    _MEMO.clear()
