"""The RISC-V vector core target family: presets in ``codesign/presets/riscv/*.toml``.

Target names: ``NAME`` (plain RVV 1.0), ``NAME+xattn`` (every Xattn instruction) and
``NAME+xattn:ITEMS`` (a subset for ablations: ``vfexp``, ``vfexpsub``, ``segred``,
``mmacc``, ``vfrec`` or mnemonics; ``-ITEM`` to remove items), where NAME is a preset.
Any registered extension is a suffix the same way: ``NAME+ime`` adds SpacemiT's IME
(:mod:`isa.ime`, int8 matrix tiles), ``NAME+xattn+ime`` both.
The registry (:mod:`codesign.targets`) calls :func:`names`, :func:`owns` and :func:`make`.

Model: :mod:`codesign.riscv.core` (SimPy core, steady-state extrapolation),
:mod:`codesign.riscv.memory` (where bytes come from), :mod:`codesign.riscv.replay` (ops
over the cluster's cores, roofline, bound), :mod:`codesign.riscv.cache` (memoization).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from codesign import config as C
from codesign.errors import CodesignError
from codesign.riscv.config import RiscvConfig
from codesign.targets import PresetFamily, PresetTarget, Roofs
from isa.errors import IsaError
from isa.instructions import parse_isa

if TYPE_CHECKING:
    import pandas as pd

FAMILY = "riscv"
# What timing a trace imports beyond this module (lazily: `codesign targets` needs none of
# it); a sweep worker imports it as it starts (codesign.sweep.worker.timing_modules).
TIMING_MODULES = ("codesign.riscv.replay", "codesign.riscv.energy", "codesign.riscv.area")
PRESET_DIR = Path(__file__).resolve().parent.parent / "presets" / "riscv"


@dataclass
class RiscvTarget(PresetTarget):
    """A RISC-V cluster preset with overrides applied; ``simulate`` times a trace on it."""

    family: ClassVar[str] = FAMILY
    config: RiscvConfig
    mode: str = "steady"  # "full": simulate every instruction (validation only)

    def time_ops(self, ops: pd.DataFrame) -> pd.DataFrame:
        from codesign.riscv.replay import replay
        return replay(ops, self.config, self.mode)

    def energy_and_area(self, ops: pd.DataFrame, latency_s: float
                        ) -> tuple[pd.DataFrame, dict[str, float], dict[str, float]]:
        """Energy from the replayed work (codesign.riscv.energy), area from the config
        (codesign.riscv.area)."""
        from codesign.riscv import area, energy
        if ops.empty:
            return ops, {}, area.area_parts(self.config)
        parts = energy.part_arrays(ops, self.config)
        ops = ops.assign(energy_j=energy.row_energy(parts))
        return ops, energy.energy_parts(ops, latency_s, self.config, parts), \
            area.area_parts(self.config)


class RiscvFamily(PresetFamily):
    """Presets named ``NAME``, ``NAME+xattn`` and ``NAME+xattn:ITEMS``: the suffix sets the
    ISA."""

    def names(self) -> list[str]:
        """Every preset, plain and with all Xattn instructions."""
        return [n for p in self.presets() for n in (p, f"{p}+xattn")]

    def base(self, name: str) -> str:
        return str(name).partition("+")[0]

    def name_overrides(self, name: str) -> dict[str, Any]:
        _, plus, ext = str(name).partition("+")
        isa = f"rvv+{ext}" if plus else "rvv"
        try:
            parse_isa(isa)
        except IsaError as exc:
            raise CodesignError(f"target {name!r}: {exc}") from None
        return {"isa": isa}

    def describe(self, name: str) -> str:
        """The preset's description and the ISA the name enables (the plain and the Xattn
        targets of one preset differ only there)."""
        isa = parse_isa(self.name_overrides(name)["isa"])
        if isa.name == "rvv":
            return f"{super().describe(name)}; plain RVV 1.0"
        ext = ", ".join(_extension_items(isa, e) for e in isa.name.split("+")[1:])
        return f"{super().describe(name)}; RVV 1.0 + {ext}"

    def unknown(self, name: str) -> CodesignError:
        return CodesignError(f"unknown RISC-V target {name!r}; valid presets: "
                             f"{', '.join(self.presets())} (add +xattn, +xattn:ITEMS or "
                             "+ime)")


def _extension_items(isa: Any, part: str) -> str:
    """What one ``+EXT[:ITEMS]`` part of an ISA enables: Xattn's instructions by name (its
    ablations name them), another extension by name and its description."""
    from isa.instructions import EXTENSIONS
    ext = part.partition(":")[0]
    enabled = isa.extension_enabled(ext)
    if ext == "xattn" or len(enabled) < len(EXTENSIONS[ext].mnemonics):
        return ", ".join(enabled)
    return f"{ext} ({EXTENSIONS[ext].doc})"


presets = RiscvFamily(FAMILY, PRESET_DIR, RiscvConfig, RiscvTarget)
names, owns, preset, describe = presets.names, presets.owns, presets.preset, presets.describe


def roofs(config: dict[str, Any]) -> Roofs:
    """The roofline of a cluster with this config: cores x FLOP/cycle x clock (the vector
    FMAs, plus the matrix array where the ISA enables it), DRAM and L2 bandwidth."""
    from codesign.riscv.replay import peak_flops_per_cycle

    cfg = C.from_dict(RiscvConfig, config)
    matrix = " + matrix" if cfg.parsed_isa.has("vfwmmacc.vv") else ""
    matrix += " + IME" if cfg.parsed_isa.has("smt.vmadot") else ""
    cores = cfg.cluster.cores
    return Roofs(bandwidth=cfg.dram.bandwidth_gbps * 1e9,
                 compute={f"vector FMA{matrix} ({cores} cores)":
                          peak_flops_per_cycle(cfg) * cores * cfg.freq_hz},
                 source="the RISC-V config (codesign.riscv.replay.roofline_seconds: cores x "
                        "FLOP/cycle x clock; DRAM and L2 bandwidth)",
                 other_bandwidths={"L2 bandwidth": cfg.cluster_l2_bytes_per_s})


def make(name: str, overrides: dict[str, Any] | None = None) -> RiscvTarget:
    """The target ``name`` with dotted-path ``overrides`` (``{"vector.dlen": 512}``)."""
    return presets.make(name, overrides)
