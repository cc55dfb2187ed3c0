"""The Nvidia-style GPU target family: presets in ``codesign/presets/gpu/*.toml``.

The registry (:mod:`codesign.targets`) calls :func:`names`, :func:`owns` and :func:`make`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from codesign import config as C
from codesign.gpu.config import GPUConfig
from codesign.gpu.model import time_ops
from codesign.targets import PresetFamily, PresetTarget, Roofs

FAMILY = "gpu"
PRESET_DIR = Path(__file__).resolve().parent.parent / "presets" / "gpu"


@dataclass
class GPUTarget(PresetTarget):
    """A GPU preset with overrides applied; ``simulate`` times a trace on it."""

    family: ClassVar[str] = FAMILY
    config: GPUConfig

    def time_ops(self, ops: pd.DataFrame) -> pd.DataFrame:
        return time_ops(self.config, ops)


presets = PresetFamily(FAMILY, PRESET_DIR, GPUConfig, GPUTarget)
names, owns, preset, describe = presets.names, presets.owns, presets.preset, presets.describe


def roofs(config: dict[str, Any]) -> Roofs:
    """The roofline of a GPU with this config: tensor-core BF16 and CUDA-core FP32 peaks
    (SM count x clock x per-clock rate) and DRAM bandwidth."""
    cfg = C.from_dict(GPUConfig, config)
    return Roofs(bandwidth=cfg.dram_bps,
                 compute={"tensor cores (bf16)": cfg.tensor_flops("bf16"),
                          "CUDA cores (fp32)": cfg.fp32_flops},
                 source="the GPU config (SM count x clock x per-clock rate; DRAM GB/s)")


def make(name: str, overrides: dict[str, Any] | None = None) -> GPUTarget:
    """The preset ``name`` with dotted-path ``overrides`` (``{"memory.dram_gbps": 4000}``)."""
    return presets.make(name, overrides)
