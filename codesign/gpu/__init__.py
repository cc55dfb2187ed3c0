"""The Nvidia-style GPU target family: presets in ``codesign/presets/gpu/*.toml``.

The registry (:mod:`codesign.targets`) calls :func:`names`, :func:`owns` and :func:`make`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from codesign import config as C
from codesign.errors import CodesignError
from codesign.gpu.config import GPUConfig
from codesign.gpu.model import time_ops
from codesign.targets import PresetTarget

FAMILY = "gpu"
PRESET_DIR = Path(__file__).resolve().parent.parent / "presets" / "gpu"


@cache
def _presets() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PRESET_DIR.glob("*.toml"))}


def names() -> list[str]:
    """The GPU presets, by file name."""
    return list(_presets())


def owns(name: str) -> bool:
    return name in _presets()


@cache
def _load(name: str) -> tuple[GPUConfig, dict[str, Any]]:
    return C.load_toml(GPUConfig, _presets()[name])


def preset(name: str) -> tuple[GPUConfig, dict[str, Any]]:
    """A preset's config and its ``[meta]`` table (description, sources, unverified)."""
    if not owns(name):
        raise CodesignError(f"unknown GPU {name!r}; valid: {', '.join(names())}")
    return _load(name)


def describe(name: str) -> str:
    """One line about a preset (its ``[meta] description``)."""
    return str(preset(name)[1].get("description", ""))


@dataclass
class GPUTarget(PresetTarget):
    """A GPU preset with overrides applied; ``simulate`` times a trace on it."""

    family: ClassVar[str] = FAMILY
    config: GPUConfig

    def time_ops(self, ops: pd.DataFrame) -> pd.DataFrame:
        return time_ops(self.config, ops)


def make(name: str, overrides: Mapping[str, Any] | None = None) -> GPUTarget:
    """The preset ``name`` with dotted-path ``overrides`` (``{"memory.dram_gbps": 4000}``)."""
    cfg, meta = preset(name)
    cfg = C.override(cfg, dict(overrides or {}))
    cfg.check()
    return GPUTarget(name=name, config=cfg, meta=meta)
