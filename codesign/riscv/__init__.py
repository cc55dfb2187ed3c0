"""The RISC-V vector core target family: presets in ``codesign/presets/riscv/*.toml``.

Target names: ``NAME`` (plain RVV 1.0), ``NAME+xattn`` (every Xattn instruction) and
``NAME+xattn:ITEMS`` (a subset for ablations: ``vfexp``, ``vfexpsub``, ``segred``,
``mmacc``, ``vfrec`` or mnemonics; ``-ITEM`` to remove items), where NAME is a preset.
The registry (:mod:`codesign.targets`) calls :func:`names`, :func:`owns` and :func:`make`.

Model: :mod:`codesign.riscv.core` (SimPy core, steady-state extrapolation),
:mod:`codesign.riscv.memory` (where bytes come from), :mod:`codesign.riscv.replay` (ops
over the cluster's cores, roofline, bound), :mod:`codesign.riscv.cache` (memoization).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from codesign import config as C
from codesign.errors import CodesignError
from codesign.riscv.config import RiscvConfig
from codesign.targets import PresetTarget
from isa.errors import IsaError
from isa.instructions import parse_isa

FAMILY = "riscv"
PRESET_DIR = Path(__file__).resolve().parent.parent / "presets" / "riscv"


@functools.cache
def _presets() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PRESET_DIR.glob("*.toml"))}


def names() -> list[str]:
    """Every preset, plain and with all Xattn instructions."""
    return [n for p in _presets() for n in (p, f"{p}+xattn")]


def _parse(name: str) -> tuple[str, str]:
    """(preset, ISA string) of a target name; raises CodesignError."""
    base, plus, ext = str(name).partition("+")
    if base not in _presets():
        raise CodesignError(f"unknown RISC-V target {name!r}; valid presets: "
                            f"{', '.join(_presets())} (add +xattn or +xattn:ITEMS)")
    isa = f"rvv+{ext}" if plus else "rvv"
    try:
        parse_isa(isa)
    except IsaError as exc:
        raise CodesignError(f"target {name!r}: {exc}") from None
    return base, isa


def owns(name: str) -> bool:
    return str(name).partition("+")[0] in _presets()


@functools.cache
def _load(base: str) -> tuple[RiscvConfig, dict[str, Any]]:
    return C.load_toml(RiscvConfig, _presets()[base])


def preset(name: str) -> tuple[RiscvConfig, dict[str, Any]]:
    """A target's config (ISA set from the name) and its preset's ``[meta]`` table."""
    base, isa = _parse(name)
    cfg, meta = _load(base)
    return C.override(cfg, {"isa": isa}), meta


def describe(name: str) -> str:
    return str(preset(name)[1].get("description", ""))


@dataclass
class RiscvTarget(PresetTarget):
    """A RISC-V cluster preset with overrides applied; ``simulate`` times a trace on it."""

    family: ClassVar[str] = FAMILY
    config: RiscvConfig
    mode: str = "steady"  # "full": simulate every instruction (validation only)

    def time_ops(self, ops: pd.DataFrame) -> pd.DataFrame:
        from codesign.riscv.replay import replay
        return replay(ops, self.config, self.mode)


def make(name: str, overrides: Mapping[str, Any] | None = None) -> RiscvTarget:
    """The target ``name`` with dotted-path ``overrides`` (``{"vector.dlen": 512}``)."""
    cfg, meta = preset(name)
    cfg = C.override(cfg, dict(overrides or {}))
    return RiscvTarget(name=name, config=cfg, meta=meta)
