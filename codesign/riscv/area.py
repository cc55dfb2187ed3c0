"""Area of a RISC-V cluster by component, as a function of its config (issue #17).

Components (mm^2, :class:`codesign.riscv.config.AreaConfig` holds the constants):

- ``scalar``: ``cores`` x ``scalar_core_mm2``;
- ``vector_lanes``: the FMA/integer/permute datapath, ``fma_mm2_per_64b`` per 64 bits of
  the widest arithmetic path (DLEN, or the FP path where it is wider) x the arithmetic
  sequencers (a multi-FMA core has one datapath per sequencer);
- ``vrf``: 32 x VLEN bits of latch/flop register file, the node's SRAM bit cell x
  ``vrf_cell_factor`` per bit at ``vrf_ref_ports`` ports, x (ports / that)^2 (:func:`vrf_ports`);
- one part per Xattn hardware block the ISA enables (:data:`XATTN_BLOCKS`): ``exp`` (as
  wide as the exp datapath), ``segred`` (an adder tree per DLEN), ``matrix`` (per MAC of
  the vfwmmacc array), ``rec`` (vfrec's reciprocal seed, sized as the exp unit);
- ``l1``, ``l2``: SRAM (one array per cluster if shared, one per core if private) of
  ``bytes_per_cycle`` x 8 / ``area.sram_bank_bits`` single-port banks
  (:func:`codesign.silicon.sram_banked_mm2`: a CACTI-fitted macro of the node's bit cell),
  so an array's bandwidth costs area as well as its size;
- ``cluster``: interconnect, DMA and control per core;
- ``memory_controllers``: one controller + PHY per ``area.channel_gbps`` of DRAM bandwidth.

Logic areas are at ``area.ref_node_nm`` and scale to ``tech.node_nm`` as L^2
(:func:`codesign.silicon.area_scale`); the PHYs are analog and do not scale.
"""

from __future__ import annotations

import math

from codesign.riscv.config import CacheConfig, RiscvConfig
from codesign.silicon import area_scale, sram_banked_mm2, sram_bitcell_um2
from isa.instructions import lookup

# unit of an Xattn instruction -> the hardware block it needs
XATTN_BLOCKS = {"exp": "exp", "reduction": "segred", "matrix": "matrix", "fma": "rec"}
SRAM_PARTS = ("l1", "l2")
NOT_LOGIC = (*SRAM_PARTS, "memory_controllers")  # parts that do not leak as logic


def xattn_blocks(cfg: RiscvConfig) -> set[str]:
    """The Xattn hardware blocks the config's ISA needs."""
    isa = cfg.parsed_isa
    out = set()
    for ext in isa.name.split("+")[1:]:
        name = ext.partition(":")[0]
        for m in isa.extension_enabled(name):
            block = XATTN_BLOCKS.get(lookup(m).unit)
            if block:
                out.add(block)
    return out


def vrf_ports(cfg: RiscvConfig) -> int:
    """Read + write ports of the VRF: 3R1W per arithmetic sequencer (an FMA reads three
    operands), one write for loads, one read for stores, and the Xattn blocks that run on
    sequencers of their own: exp 1R1W, the matrix array 3R1W (A, B and C tiles)."""
    blocks = xattn_blocks(cfg)
    return (4 * cfg.vector.arith_sequencers + 2
            + (2 if "exp" in blocks and cfg.exp.present else 0)
            + (4 if "matrix" in blocks and cfg.matrix.present else 0))


def sram_mib(cfg: RiscvConfig) -> float:
    """MiB of SRAM in the cluster: every core's L1, and the L2 (shared or per core)."""
    return (_sram_kib(cfg, cfg.l1d) + _sram_kib(cfg, cfg.l2)) / 1024


def l2_mib(cfg: RiscvConfig) -> float:
    return _sram_kib(cfg, cfg.l2) / 1024


def sram_coef(cfg: RiscvConfig) -> tuple[float, float, float, float]:
    """The SRAM macro fit of the config (codesign.silicon.sram_macro_cells' a, b, c, d)."""
    a = cfg.area
    return (a.sram_cells_per_bit, a.sram_cells_per_column, a.sram_cells_per_column_sq,
            a.sram_cells_per_column_route)


def sram_level_mm2(cfg: RiscvConfig, level: CacheConfig) -> float:
    """mm^2 of one cache level in the system: its arrays (one per cluster if shared, one per
    core if not), each banked for the level's bytes_per_cycle."""
    return _arrays(cfg, level) * sram_banked_mm2(cfg.tech.node_nm, level.size_kib * 8192,
                                    level.bytes_per_cycle * 8, cfg.area.sram_bank_bits,
                                    sram_coef(cfg))


def _arrays(cfg: RiscvConfig, level: CacheConfig) -> int:
    """Arrays of one cache level in the system: one per cluster if shared, one per core if
    not."""
    return cfg.cluster.clusters if level.shared else cfg.cluster.cores


def _sram_kib(cfg: RiscvConfig, level: CacheConfig) -> float:
    """KiB of one cache level in the system (:func:`_arrays` of it)."""
    return level.size_kib * _arrays(cfg, level)


def area_parts(cfg: RiscvConfig) -> dict[str, float]:
    """mm^2 by component (see the module doc)."""
    a, v = cfg.area, cfg.vector
    s = area_scale(cfg.tech.node_nm, a.ref_node_nm)
    cores = cfg.cluster.cores
    fma64 = a.fma_mm2_per_64b * s
    path = max(v.dlen, cfg.timing_params().fp_path_bits)
    parts = {
        "scalar": cores * a.scalar_core_mm2 * s,
        "vector_lanes": cores * path / 64 * v.arith_sequencers * fma64,
        "vrf": cores * 32 * v.vlen * sram_bitcell_um2(cfg.tech.node_nm) * a.vrf_cell_factor
        * (vrf_ports(cfg) / a.vrf_ref_ports) ** 2 / 1e6,
    }
    blocks = xattn_blocks(cfg)
    if "exp" in blocks:
        parts["exp"] = cores * cfg.exp_width_bits / 64 * a.exp_vs_fma * fma64
    if "segred" in blocks:
        parts["segred"] = cores * v.dlen / 64 * a.segred_vs_fma * fma64
    if "matrix" in blocks:
        macs = cfg.timing_params().mmacc_macs_per_cycle
        parts["matrix"] = cores * macs * a.mac_vs_fma * fma64
    if "rec" in blocks:
        parts["rec"] = cores * path / 64 * a.exp_vs_fma * fma64
    parts["l1"] = sram_level_mm2(cfg, cfg.l1d)
    parts["l2"] = sram_level_mm2(cfg, cfg.l2)
    parts["cluster"] = cores * a.cluster_overhead_mm2_per_core * s
    parts["memory_controllers"] = math.ceil(cfg.dram.bandwidth_gbps / a.channel_gbps) * \
        a.channel_mm2
    return parts


def area_mm2(cfg: RiscvConfig) -> float:
    return sum(area_parts(cfg).values())
