"""The target registry: every hardware a trace can be timed on, by name.

A *family* is a module that owns a set of target names and builds them:

- ``names() -> list[str]``: the names it offers (shown by ``codesign targets``);
- ``describe(name) -> str``: one line about a target (its preset's description);
- ``owns(name) -> bool``: whether a name (possibly with a suffix such as ``+xattn:vfexp``)
  belongs to it;
- ``make(name, overrides) -> Target``: the target, with dotted-path ``overrides`` applied
  (see :mod:`codesign.config`).

A ``Target`` has ``name``, ``family``, ``config`` (a config dataclass), ``fingerprint``
(a str) and ``simulate(trace) -> codesign.result.Result``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import pandas as pd

from codesign import config as C
from codesign.errors import CodesignError
from codesign.result import Result

# Modules of the target families, in the order `codesign targets` lists them.
FAMILY_MODULES: tuple[str, ...] = ("codesign.gpu", "codesign.riscv")


class Target(Protocol):
    name: str
    family: str
    config: Any
    fingerprint: str

    def simulate(self, trace: Any) -> Any: ...


@dataclass
class PresetTarget:
    """A family's preset with overrides applied. A family subclasses it, names itself in
    ``family`` and times a trace's ops in ``time_ops`` (returning the Result's ops table);
    ops run one after another, so the latency is the sum of their total seconds."""

    family: ClassVar[str] = ""
    name: str
    config: Any
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return C.fingerprint(self.config)

    def time_ops(self, ops: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError(f"{type(self).__name__} must time ops")

    def simulate(self, trace: Any) -> Result:
        ops = self.time_ops(trace.ops)
        return Result(
            target=self.name, ops=ops, latency_s=float(ops["total_seconds"].sum()),
            trace_meta=dict(trace.meta), config=C.to_dict(self.config),
            fingerprint=self.fingerprint, family=self.family,
            capacity_bytes=capacity_bytes(self),
        )


def capacity_bytes(target: Any) -> float | None:
    """The target's memory capacity in bytes, where its config declares one
    (``config.capacity_bytes``); None otherwise (the RISC-V presets give no DRAM size)."""
    value = getattr(target.config, "capacity_bytes", None)
    return float(value) if value is not None else None


def _families() -> list[Any]:
    return [importlib.import_module(m) for m in FAMILY_MODULES]


def names() -> list[str]:
    """Every target name, family by family."""
    return [n for fam in _families() for n in fam.names()]


def resolve(name: str, overrides: Mapping[str, Any] | None = None) -> Target:
    """The target called ``name`` with ``overrides`` (dotted path -> value) applied."""
    for fam in _families():
        if fam.owns(name):
            return fam.make(name, dict(overrides or {}))
    raise CodesignError(f"unknown target {name!r}; valid: {', '.join(names())}")
