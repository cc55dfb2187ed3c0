"""The target registry: every hardware a trace can be timed on, by name.

A *family* is a module that owns a set of target names and builds them (a family whose
targets are preset files does it with a :class:`PresetFamily`):

- ``names() -> list[str]``: the names it offers (shown by ``codesign targets``);
- ``describe(name) -> str``: one line about a target (its preset's description);
- ``owns(name) -> bool``: whether a name (possibly with a suffix such as ``+xattn:vfexp``)
  belongs to it;
- ``make(name, overrides) -> Target``: the target, with dotted-path ``overrides`` applied
  (see :mod:`codesign.config`);
- optionally ``roofs(config_dict) -> Roofs``: the roofline of a target with that config
  (reports draw it; without it they recover the roofs from the ops' roofline bounds).

A ``Target`` has ``name``, ``family``, ``config`` (a config dataclass), ``fingerprint``
(a str) and ``simulate(trace) -> codesign.result.Result``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from codesign import config as C
from codesign.errors import CodesignError

if TYPE_CHECKING:  # imported when a trace is simulated: `codesign targets` needs neither
    import pandas as pd

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
class Roofs:
    """A target's roofline: DRAM bandwidth (bytes/s), one or more compute peaks (FLOP/s),
    and other bandwidth roofs (an L2 that ops resident in it stream from)."""

    bandwidth: float | None
    compute: dict[str, float]
    source: str
    other_bandwidths: dict[str, float] = field(default_factory=dict)


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

    def energy_and_area(self, ops: pd.DataFrame, latency_s: float
                        ) -> tuple[pd.DataFrame, dict[str, float], dict[str, float]]:
        """The ops with their ``energy_j`` column, the pass's joules by part and the
        target's mm^2 by component; a family without these models returns none."""
        return ops, {}, {}

    def simulate(self, trace: Any) -> Result:
        from codesign.result import Result

        ops = self.time_ops(trace.ops)
        latency = float(ops["total_seconds"].sum())
        ops, energy, area = self.energy_and_area(ops, latency)
        return Result(
            target=self.name, ops=ops, latency_s=latency,
            trace_meta=dict(trace.meta), config=C.to_dict(self.config),
            fingerprint=self.fingerprint, family=self.family,
            capacity_bytes=capacity_bytes(self), energy_parts=energy, area_parts=area,
        )


class PresetFamily:
    """The targets of a family whose presets are TOML files in ``directory`` (one per
    name), each a ``config_cls`` built into a ``target_cls``. A family with target names
    beyond the file names (RISC-V's ``+xattn`` suffixes) overrides :meth:`base`,
    :meth:`names`, :meth:`name_overrides` and :meth:`unknown`. A preset file is read again
    when it changes (the cache is keyed by its modification time and size)."""

    def __init__(self, family: str, directory: Path, config_cls: type,
                 target_cls: type[PresetTarget]) -> None:
        self.family = family
        self.directory = directory
        self.config_cls = config_cls
        self.target_cls = target_cls
        self._loaded: dict[tuple[Path, int, int], tuple[Any, dict[str, Any]]] = {}

    def presets(self) -> dict[str, Path]:
        return {p.stem: p for p in sorted(self.directory.glob("*.toml"))}

    def names(self) -> list[str]:
        """The target names shown by ``codesign targets``."""
        return list(self.presets())

    def base(self, name: str) -> str:
        """The preset a target name is built from."""
        return str(name)

    def name_overrides(self, name: str) -> dict[str, Any]:
        """Config fields the target name itself sets (on top of the preset)."""
        return {}

    def unknown(self, name: str) -> CodesignError:
        return CodesignError(f"unknown {self.family} target {name!r}; valid: "
                             f"{', '.join(self.names())}")

    def owns(self, name: str) -> bool:
        return self.base(name) in self.presets()

    def load(self, base: str) -> tuple[Any, dict[str, Any]]:
        """The preset's config and its ``[meta]`` table."""
        path = self.presets()[base]
        st = path.stat()
        key = (path, st.st_mtime_ns, st.st_size)
        if key not in self._loaded:
            self._loaded[key] = C.load_toml(self.config_cls, path)
        return self._loaded[key]

    def preset(self, name: str) -> tuple[Any, dict[str, Any]]:
        """A target's config (with what its name sets) and its preset's ``[meta]``."""
        if not self.owns(name):
            raise self.unknown(name)
        cfg, meta = self.load(self.base(name))
        return C.override(cfg, self.name_overrides(name)), meta

    def describe(self, name: str) -> str:
        """One line about a target (its preset's ``[meta] description``)."""
        return str(self.preset(name)[1].get("description", ""))

    def make(self, name: str, overrides: Mapping[str, Any] | None = None) -> Any:
        """The target ``name`` with dotted-path ``overrides`` applied."""
        cfg, meta = self.preset(name)
        cfg = C.override(cfg, dict(overrides or {}))
        return self.target_cls(name=name, config=cfg, meta=meta)


def capacity_bytes(target: Any) -> float | None:
    """The target's memory capacity in bytes, where its config declares one
    (``config.capacity_bytes``); None otherwise (the RISC-V presets give no DRAM size)."""
    value = getattr(target.config, "capacity_bytes", None)
    return float(value) if value is not None else None


def families() -> list[Any]:
    """The built-in target family modules, in listing order."""
    return [importlib.import_module(m) for m in FAMILY_MODULES]


def family_module(family: str) -> Any | None:
    """The module of a target family by its name (``Result.family``): a built-in one, or
    ``codesign.<family>`` where a user package provides it; None when there is none."""
    for fam in families():
        if getattr(fam, "FAMILY", None) == family:
            return fam
    try:
        return importlib.import_module(f"codesign.{family}") if family.isidentifier() else None
    except ImportError:
        return None


def names() -> list[str]:
    """Every target name, family by family."""
    return [n for fam in families() for n in fam.names()]


def resolve(name: str, overrides: Mapping[str, Any] | None = None) -> Target:
    """The target called ``name`` with ``overrides`` (dotted path -> value) applied."""
    for fam in families():
        if fam.owns(name):
            return fam.make(name, dict(overrides or {}))
    raise CodesignError(f"unknown target {name!r}; valid: {', '.join(names())}")
