"""The Nvidia-style GPU target family: presets in ``codesign/presets/gpu/*.toml``, each run
by a serving engine from ``codesign/presets/engines/*.toml`` (default :data:`DEFAULT_ENGINE`).

An engine profile is a TOML file whose tables set fields of the GPU config by dotted
path (``[engine]``: fusion rules, launch mode per phase, step and sampler costs;
``[launch]``, ``[efficiency]``, ``[quant]``: the kernels the engine brings), plus a
``[meta]`` table with its description, sources and which fields were fitted on which
validation rows. The order: GPU preset, then engine, then the caller's overrides.

The registry (:mod:`codesign.targets`) calls :func:`names`, :func:`owns` and :func:`make`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from codesign import config as C
from codesign.errors import CodesignError
from codesign.gpu import power
from codesign.gpu.config import GPUConfig
from codesign.gpu.model import engine_rows, time_ops
from codesign.result import Result
from codesign.targets import PresetFamily, PresetTarget, Roofs, capacity_bytes

FAMILY = "gpu"
PRESET_DIR = Path(__file__).resolve().parent.parent / "presets" / "gpu"
ENGINE_DIR = Path(__file__).resolve().parent.parent / "presets" / "engines"
DEFAULT_ENGINE = "vllm"


@dataclass
class GPUTarget(PresetTarget):
    """A GPU preset with its engine and overrides applied; ``simulate`` times a trace."""

    family: ClassVar[str] = FAMILY
    config: GPUConfig

    def time_ops(self, ops: pd.DataFrame) -> pd.DataFrame:
        return time_ops(self.config, ops)

    def phase_config(self, phase: str) -> GPUConfig:
        """The config a pass of ``phase`` runs with: ``launch.mode = engine`` resolves to
        the engine's launch mode for the phase."""
        if self.config.launch.mode != "engine":
            return self.config
        return C.override(self.config, {"launch.mode": self.config.engine.launch_mode(phase)})

    def simulate(self, trace: Any) -> Result:
        """The trace's kernels as the engine fuses and launches them; a model's pass (a
        trace that records its model config) also pays the engine's step: host time and
        the sampler over the vocabulary. Sustained work (the scenario's ``sustained``, or
        a pass outlasting the power limiter's window) runs at the clock the limiter
        holds it to (:mod:`codesign.gpu.power`); every row records its ``clock_mhz``."""
        scen = dict(trace.meta.get("scenario", {}))
        phase = str(scen.get("phase", "prefill"))
        cfg = self.phase_config(phase)
        ops = self._pass(cfg, trace)
        ratio = None
        if scen.get("sustained") or power.is_sustained(cfg, float(ops["total_seconds"].sum())):
            passes: dict[float, pd.DataFrame] = {}  # by clock: the bisection's, reused

            def at(c: GPUConfig) -> pd.DataFrame:
                if c.sm.clock_mhz not in passes:
                    passes[c.sm.clock_mhz] = self._pass(c, trace)
                return passes[c.sm.clock_mhz]

            ratio = power.clock_ratio(cfg, ops, at)
            if ratio < 1.0:
                cfg = power.at_clock(cfg, ratio)
                ops = at(cfg)
        ops, energy = power.energy(ops, cfg, ratio)
        ops["clock_mhz"] = cfg.sm.clock_mhz
        return Result(
            target=self.name, ops=ops, latency_s=float(ops["total_seconds"].sum()),
            trace_meta=dict(trace.meta), config=C.to_dict(self.config),
            fingerprint=self.fingerprint, family=self.family,
            capacity_bytes=capacity_bytes(self), energy_parts=energy,
        )

    @staticmethod
    def _pass(cfg: GPUConfig, trace: Any) -> pd.DataFrame:
        """The trace's rows timed on ``cfg``, with the engine's step for a model's pass."""
        scen = dict(trace.meta.get("scenario", {}))
        ops = time_ops(cfg, trace.ops)
        model = trace.meta.get("config")
        if isinstance(model, dict) and "vocab_size" in model:
            first = int(trace.ops["op_id"].max()) + 1 if len(trace.ops) else 0
            steps = engine_rows(cfg, str(scen.get("phase", "prefill")),
                                int(scen.get("batch", 1)), int(model["vocab_size"]), first,
                                gpu_seconds=float(ops["total_seconds"].sum()))
            ops = pd.concat([ops, steps], ignore_index=True)
        return ops


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


def engines() -> list[str]:
    """The engine profiles: ``codesign/presets/engines/<name>.toml``."""
    return sorted(p.stem for p in ENGINE_DIR.glob("*.toml"))


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def engine_profile(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An engine's settings (dotted GPU-config paths -> values) and its ``[meta]``."""
    if name not in engines():
        raise CodesignError(f"unknown engine {name!r}; valid: {', '.join(engines())}")
    path = ENGINE_DIR / f"{name}.toml"
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise CodesignError(f"engine preset {str(path)!r} is not valid TOML: {exc}") from None
    meta = data.pop("meta", {})
    return _flatten(data), meta


def make(name: str, overrides: dict[str, Any] | None = None) -> GPUTarget:
    """The preset ``name`` run by the engine ``overrides["engine"]`` (default
    :data:`DEFAULT_ENGINE`), with the other dotted-path ``overrides`` applied on top
    (``{"memory.dram_gbps": 4000}``)."""
    rest = dict(overrides or {})
    engine = str(rest.pop("engine", DEFAULT_ENGINE))
    settings, _ = engine_profile(engine)
    target = presets.make(name, {})
    cfg = C.override(C.override(target.config, settings), rest)
    return GPUTarget(name=name, config=cfg, meta=target.meta)
