"""The target registry: every hardware a trace can be timed on, by name.

A *family* is a module that owns a set of target names and builds them:

- ``names() -> list[str]``: the names it offers (shown by ``codesign targets``);
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
from typing import Any, Protocol

from codesign.errors import CodesignError

# Modules of the target families, in the order `codesign targets` lists them.
FAMILY_MODULES: tuple[str, ...] = ("codesign.gpu", "codesign.riscv")


class Target(Protocol):
    name: str
    family: str
    config: Any
    fingerprint: str

    def simulate(self, trace: Any) -> Any: ...


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
