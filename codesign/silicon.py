"""Silicon facts shared by the energy and area models (issue #17): DRAM energy per bit by
memory technology, SRAM density by process node, and the node-scaling rule.

Scaling rule (Dennard et al., "Design of ion-implanted MOSFETs with very small physical
dimensions", IEEE JSSC 9(5), 1974; constant-field scaling): linear dimensions scale with
the feature size L, so area ~ L^2 and switched capacitance ~ L; the dynamic energy of a
switching event is C V^2, hence ~ L V^2 with the supply voltage V taken from the config
(not assumed to scale with L). Static power is taken ~ area x V (a constant leakage
current per unit area at a given V: assumed; below ~28 nm leakage per area does not fall,
which ideal scaling of the area already captures). Ideal scaling is optimistic below
about 16 nm (Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS
device performance from 180 nm to 7 nm", Integration 58, 2017, find that energy per
operation falls more slowly there): constants should be taken from silicon at a node
close to the target's, which is why every constant names the node it was measured at.

SRAM does not scale ideally at all below 16 nm, so caches use a table of published
bit-cell areas by node (:data:`SRAM_BITCELL_UM2`) rather than the L^2 rule. A macro around
the cells (row decoders, sense amplifiers, write drivers, the data bus) is counted in bit
cells by :func:`sram_macro_cells`, a fit to CACTI 7.0 (codesign/validation/sram_cacti.csv),
so it scales with the node's bit cell; an array of a given bandwidth is built from banks of
a fixed width (:func:`sram_banked_mm2`).
"""

from __future__ import annotations

import math

from codesign.errors import CodesignError

# DRAM access energy per bit transferred (array + I/O), by technology. Chip-external:
# not node-scaled. [?] marks a recollection of a vendor or paper figure (check before
# relying on it).
DRAM_PJ_PER_BIT: dict[str, float] = {
    "lpddr4x": 6.0,  # [?] Micron/Samsung LPDDR4X ~6 pJ/bit system figures
    "lpddr5": 5.0,  # [?] Samsung LPDDR5 ~20% below LPDDR4X
    "lpddr5x": 4.5,  # [?] Samsung LPDDR5X ~10% below LPDDR5
    "ddr4": 15.0,  # [?] O'Connor et al., MICRO 2017 ("Fine-grained DRAM") Fig. 1: DDR4 ~15
    "ddr5": 12.0,  # [?] DDR5 at 1.1 V vs DDR4's 1.2 V: (1.1/1.2)^2 x DDR4 (assumed rule)
    # Micron, "Ultra-Bandwidth Solutions" memory comparison table
    # (micron.com/products/ultra-bandwidth-solutions), row "Average Device Power (pJ/bit)":
    # GDDR6 7.5, GDDR6X 7.25, HBM2E 6.0 (the DRAM device's energy per bit; the host PHY
    # is the GPU's)
    "gddr6": 7.5,  # Micron table above
    "gddr6x": 7.25,  # Micron table above
    # Micron's HBM2E figure (table above); O'Connor et al., MICRO 2017 ("Fine-grained
    # DRAM") give 3.9 pJ/bit for HBM2, a simulated device at their row locality
    "hbm2e": 6.0,
    # Samsung, HBM3E "Shinebolt" announcement (Oct 2023; AnandTech/hwupgrade reports):
    # 10% more power-efficient than its HBM3 "Icebolt" at the same clock; taken as 1.1x the
    # HBM3E figure below (a vendor's ratio on another vendor's absolute)
    "hbm3": 2.64,
    # Micron HBM3E ("HBM3 Gen2") announcement, 26 Jul 2023: 2.5x performance per watt over
    # Micron's HBM2E; with bandwidth as the performance, energy per bit is 6.0 / 2.5 = 2.4.
    # Micron HBM3E is the H200's memory (Micron, "HBM3E 8-high 24GB ... will ship in the
    # NVIDIA H200", micron.com blog, May 2024)
    "hbm3e": 2.4,
}

# Published 6T high-density SRAM bit-cell areas (um^2) by node (nm).
SRAM_BITCELL_UM2: dict[float, float] = {
    45.0: 0.346,  # Intel 45 nm (Mistry et al., IEDM 2007)
    28.0: 0.127,  # TSMC 28 nm HD (IEDM 2011 reports 0.127)
    22.0: 0.110,  # GF 22FDX HD bit cell [?] (GlobalFoundries 22FDX brief)
    16.0: 0.074,  # TSMC 16FF+ (IEDM 2013)
    12.0: 0.064,  # [?] GF 12LP HD bit cell (12LP brief: 0.064)
    7.0: 0.027,  # TSMC N7 (IEDM 2016)
    5.0: 0.021,  # TSMC N5 (IEDM 2019)
    3.0: 0.0199,  # TSMC N3E (IEDM 2022 / ISSCC 2023: no shrink from N5)
}
MIB_BITS = 8 * 2 ** 20


def dram_pj_per_bit(technology: str) -> float:
    """DRAM energy per bit of ``technology``; one line naming the valid ones if unknown."""
    e = DRAM_PJ_PER_BIT.get(str(technology).lower())
    if e is None:
        raise CodesignError(f"unknown DRAM technology {technology!r}; valid: "
                            f"{', '.join(DRAM_PJ_PER_BIT)}")
    return e


def area_scale(node_nm: float, ref_nm: float) -> float:
    """Logic area at ``node_nm`` over its area at ``ref_nm`` (L^2)."""
    return (node_nm / ref_nm) ** 2


def energy_scale(node_nm: float, volt: float, ref_nm: float, ref_volt: float) -> float:
    """Dynamic energy per event at (node, V) over (ref node, ref V): C V^2, C ~ L."""
    return (node_nm / ref_nm) * (volt / ref_volt) ** 2


def static_scale(node_nm: float, volt: float, ref_nm: float, ref_volt: float) -> float:
    """Static power at (node, V) over (ref node, ref V): area x V (see module doc)."""
    return area_scale(node_nm, ref_nm) * (volt / ref_volt)


def sram_bitcell_um2(node_nm: float) -> float:
    """The bit-cell area at ``node_nm``: the table's value, log-log interpolated between
    its nodes, clamped to its ends."""
    nodes = sorted(SRAM_BITCELL_UM2)
    if node_nm <= nodes[0]:
        return SRAM_BITCELL_UM2[nodes[0]]
    if node_nm >= nodes[-1]:
        return SRAM_BITCELL_UM2[nodes[-1]]
    hi = next(n for n in nodes if n >= node_nm)
    lo = nodes[nodes.index(hi) - 1]
    t = math.log(node_nm / lo) / math.log(hi / lo)
    a, b = math.log(SRAM_BITCELL_UM2[lo]), math.log(SRAM_BITCELL_UM2[hi])
    return math.exp(a + t * (b - a))


def sram_macro_cells(bits: float, width_bits: float,
                     coef: tuple[float, float, float, float]) -> float:
    """Area of one single-port SRAM macro of ``bits`` bits read ``width_bits`` at a time, in
    bit cells: ``coef`` = (a, b, c, d) of a x bits (the cells and their row periphery) +
    b x w (a sense amplifier, write driver and latch per column of the port) + c x w^2 (the
    w-bit data bus across the w columns) + d x w x sqrt(bits) (the data bus routed across the
    array), with w = ``width_bits``."""
    a, b, c, d = coef
    w = width_bits
    return a * bits + b * w + c * w * w + d * w * math.sqrt(bits)


def sram_banked_mm2(node_nm: float, bits: float, bandwidth_bits: float, bank_bits: float,
                    coef: tuple[float, float, float, float]) -> float:
    """mm^2 of an SRAM array of ``bits`` bits delivering ``bandwidth_bits`` bits a cycle: as
    many single-port banks of ``bank_bits`` bits as the bandwidth needs (one narrower bank
    if it needs less than one), the bits split evenly over them, each a
    :func:`sram_macro_cells` macro of the node's bit cell."""
    if bits <= 0:
        return 0.0
    banks = max(1, math.ceil(bandwidth_bits / bank_bits - 1e-9))
    width = min(bandwidth_bits, bank_bits)
    return banks * sram_macro_cells(bits / banks, width, coef) * sram_bitcell_um2(node_nm) / 1e6
