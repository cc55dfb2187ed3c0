"""Energy of a replayed trace on a RISC-V cluster (issue #17), from the simulated work.

Each op row of :func:`codesign.riscv.replay.replay` carries the work its cores did
(:data:`codesign.riscv.replay.WORK_COLUMNS`): the occupancy cycles of each unit class (one
cycle = one element group of the unit's datapath), the matrix array's MACs, the bytes at
L1, L2 and DRAM, and the executed instructions. Dynamic energy charges each of them its
constant of :class:`codesign.riscv.config.EnergyConfig`:

- every instruction: ``instr_pj`` (fetch, decode, issue), but the loads that stand for
  SSR streams (``stream_instructions``: an SSR turns an FPU operand read into a memory
  read with no instruction, Schuiki et al., 'Stream Semantic Registers', IEEE TC 2021,
  arXiv 1911.08356; their bytes and register traffic are still charged);
- every scalar FP operation: its 32 bits at ``fma_pj_per_bit`` (``fdiv_pj_per_bit`` per
  cycle for a divide or square root), in the ``fma`` / ``fdiv`` parts (no VRF traffic);
- every vector element group: the VRF traffic, ``vrf_pj_per_bit`` x datapath bits, plus
  its unit's ``<unit>_pj_per_bit`` x bits (the FP units' datapath is ``fp_path_bits``,
  the exp unit's its own width, the others DLEN); load/store groups pay the VRF only,
  their bytes pay the memory levels; the matrix array pays ``matrix_pj_per_mac`` per MAC;
- bytes: L1 every byte a memory instruction moves, L2 the bytes it serves and refills,
  DRAM the bytes it serves at the technology's pJ/bit.

Memory arrays cost more per access the larger they are: the VRF, L1 and L2 energies per
bit are given at a reference size and scale as sqrt(size / reference), the rule of
Horowitz's SRAM figures (8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ per 64-bit access: 4x the
size, 2x the energy; 32x, 5x). The L1 and L2 size is the array one core accesses (a
shared cache's whole size).

Units a user module registers (:func:`isa.instructions.register_unit`) have no energy
constant: their instructions pay ``instr_pj`` only.

The cluster's logic also spends energy every cycle, whether its units work or stall:
the clock tree, the pipeline and state registers and the control that toggle with the
clock (the ``clock`` part): ``clock_pj_per_mm2_cycle`` x the logic area at the area
model's reference node (:func:`logic_mm2_at_ref`: the same design at any node, the
node's C ~ L entering through the dynamic scale) per cycle of the pass's latency. Without
it a core that waits (a long-latency load, a divide, an FPU-to-integer round trip) would
cost leakage only.

On-chip constants scale from ``energy.ref_node_nm`` / ``ref_voltage_v`` to ``tech`` by
:func:`codesign.silicon.energy_scale`. Static power is leakage: logic area (from
:mod:`codesign.riscv.area`) x ``logic_leak_mw_per_mm2`` plus SRAM MiB x
``sram_leak_mw_per_mib`` (densities at the config's voltage), over the pass's latency.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from codesign.riscv import area as A
from codesign.riscv.config import RiscvConfig
from codesign.silicon import dram_pj_per_bit, energy_scale

PJ = 1e-12
# unit class -> the EnergyConfig field of its datapath energy (load/store: VRF only)
UNIT_FIELDS = {"int": "int_pj_per_bit", "fma": "fma_pj_per_bit", "fdiv": "fdiv_pj_per_bit",
               "reduction": "reduction_pj_per_bit", "permute": "permute_pj_per_bit",
               "exp": "exp_pj_per_bit", "load": None, "store": None, "matrix": None}
FP_UNITS = ("fma", "fdiv", "reduction")
# the scalar FPU's bits (codesign.riscv.replay.WORK_COLUMNS), charged at the FP units' rates
SCALAR_FP = {"fma": "scalar_fp_bits", "fdiv": "scalar_fdiv_bits"}
# the parts of a pass's energy (Result.energy_parts), in report order
PARTS = ("instructions", *UNIT_FIELDS, "vrf", "l1", "l2", "dram", "clock", "static")


def datapath_bits(cfg: RiscvConfig, unit: str) -> float:
    """Bits one occupancy cycle of ``unit`` processes."""
    if unit in FP_UNITS:
        return float(cfg.timing_params().fp_path_bits)
    if unit == "exp":
        return float(cfg.exp_width_bits)
    return float(cfg.vector.dlen)


L1_REF_KIB, L2_REF_KIB = 32.0, 1024.0  # the sizes of l1/l2_pj_per_byte (Horowitz's arrays)


def size_scale(kib: float, ref_kib: float) -> float:
    """Energy per access of a ``kib`` array over a ``ref_kib`` one: sqrt of the sizes."""
    return math.sqrt(kib / ref_kib)


def dynamic_scale(cfg: RiscvConfig) -> float:
    e, t = cfg.energy, cfg.tech
    return energy_scale(t.node_nm, t.voltage_v, e.ref_node_nm, e.ref_voltage_v)


def op_energy(ops: pd.DataFrame, cfg: RiscvConfig) -> pd.DataFrame:
    """Dynamic joules of one instance of each row, by part (columns of :data:`PARTS` but
    ``static``); a row's ``energy_j`` is their sum."""
    return pd.DataFrame(part_arrays(ops, cfg), index=ops.index)


def part_arrays(ops: pd.DataFrame, cfg: RiscvConfig) -> dict[str, np.ndarray]:
    """:func:`op_energy`'s columns as arrays (the same arithmetic, without building a
    DataFrame column by column: a warm run's main cost otherwise)."""
    e = cfg.energy
    k = dynamic_scale(cfg) * PJ
    col = {c: ops[c].to_numpy() for c in ("cluster_instructions", "matrix_macs", "l1_bytes",
                                           "l2_bytes", "dram_bytes")}
    out: dict[str, np.ndarray] = {}
    fetched = col["cluster_instructions"] - ops["stream_instructions"].to_numpy()
    out["instructions"] = fetched * e.instr_pj * k
    vrf: Any = 0.0
    for unit, fld in UNIT_FIELDS.items():
        work = ops[f"work_{unit}"].to_numpy()
        if unit == "matrix":
            out[unit] = col["matrix_macs"] * e.matrix_pj_per_mac * k
            vrf = vrf + work * cfg.vector.dlen
            continue
        bits = work * datapath_bits(cfg, unit)
        out[unit] = bits * getattr(e, fld) * k if fld else 0.0 * bits
        vrf = vrf + bits
        if unit in SCALAR_FP and fld:  # the scalar FPU: its datapath energy, no VRF traffic
            out[unit] = out[unit] + ops[SCALAR_FP[unit]].to_numpy() * getattr(e, fld) * k
    vrf_kib = 32 * cfg.vector.vlen / 8 / 1024
    out["vrf"] = vrf * e.vrf_pj_per_bit * size_scale(vrf_kib, e.vrf_ref_kib) * k
    out["l1"] = col["l1_bytes"] * e.l1_pj_per_byte * size_scale(cfg.l1d.size_kib,
                                                                L1_REF_KIB) * k
    out["l2"] = (col["l2_bytes"] + col["dram_bytes"]) * e.l2_pj_per_byte * \
        size_scale(cfg.l2.size_kib, L2_REF_KIB) * k
    out["dram"] = col["dram_bytes"] * 8 * dram_pj_per_bit(e.dram_technology) * PJ
    return {p: np.asarray(v, dtype=float) for p, v in out.items()}


def row_energy(parts: dict[str, np.ndarray]) -> np.ndarray:
    """Each row's dynamic joules: the sum of its parts, added in :data:`PARTS` order."""
    total: np.ndarray | None = None
    for v in parts.values():
        total = v if total is None else total + v
    return np.zeros(0) if total is None else total


def static_power_w(cfg: RiscvConfig, with_l2: bool = True) -> float:
    """Leakage of the cluster: its logic and its SRAM (see the module doc); ``with_l2``
    false leaves the L2 out (a cluster measured alone, as Spatz's)."""
    e = cfg.energy
    parts = A.area_parts(cfg)
    logic = sum(v for p, v in parts.items() if p not in A.NOT_LOGIC)
    mib = A.sram_mib(cfg) if with_l2 else A.sram_mib(cfg) - A.l2_mib(cfg)
    return (logic * e.logic_leak_mw_per_mm2 + mib * e.sram_leak_mw_per_mib) * 1e-3


def logic_mm2_at_ref(cfg: RiscvConfig) -> float:
    """The cluster's logic area (the area parts that leak as logic) at
    ``area.ref_node_nm``: the design's size, independent of its node."""
    at_ref = replace(cfg, tech=replace(cfg.tech, node_nm=cfg.area.ref_node_nm))
    return sum(v for p, v in A.area_parts(at_ref).items() if p not in A.NOT_LOGIC)


def clock_power_w(cfg: RiscvConfig) -> float:
    """The clock part's power (see the module doc): joules per cycle x cycles per second."""
    per_cycle = cfg.energy.clock_pj_per_mm2_cycle * logic_mm2_at_ref(cfg) * \
        dynamic_scale(cfg) * PJ
    return per_cycle * cfg.scalar.freq_ghz * 1e9


def energy_parts(ops: pd.DataFrame, latency_s: float, cfg: RiscvConfig,
                 parts: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Joules of the pass by part: each dynamic part summed over rows x repeat, and the
    clock and static power over the latency (``parts``: :func:`part_arrays` when computed)."""
    per = part_arrays(ops, cfg) if parts is None else parts
    repeat = ops["repeat"].to_numpy()
    out = {p: float((v * repeat).sum()) for p, v in per.items()}
    out["clock"] = clock_power_w(cfg) * latency_s
    out["static"] = static_power_w(cfg) * latency_s
    return out
