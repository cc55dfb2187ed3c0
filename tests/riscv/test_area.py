"""Area of a RISC-V cluster (codesign.riscv.area): monotone in every size parameter, more
Xattn hardware never less area, the total the sum of its parts, each component as its formula
says, and the SRAM macro model against the CACTI macros it is fitted on."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import codesign
from codesign import targets
from codesign.riscv.area import area_mm2, area_parts, sram_coef
from codesign.silicon import (
    SRAM_BITCELL_UM2,
    area_scale,
    sram_banked_mm2,
    sram_bitcell_um2,
    sram_macro_cells,
)

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)
TARGETS = ("x280-like", "c950-like", "spatz-like+xattn", "spacemit-x60-like+xattn",
           "c950-like+xattn:vfexp,segred")
# every size parameter of the area model, and how to grow it
SIZES = {
    "vector.vlen": lambda v: v * 2,
    "vector.dlen": lambda v: v * 2,
    "vector.arith_sequencers": lambda v: v + 1,
    "cluster.cores": lambda v: v + 1,
    "l1d.size_kib": lambda v: v * 2,
    "l2.size_kib": lambda v: v * 2,
    "l1d.bytes_per_cycle": lambda v: v * 2,
    "l2.bytes_per_cycle": lambda v: v * 2,
    "cluster.clusters": lambda v: v * 2,
    "dram.bandwidth_gbps": lambda v: v * 4,
    "matrix.macs_per_cycle_at_dlen256": lambda v: v * 2,
    "exp.width_bits": lambda v: (v or 256) * 2,
    "tech.node_nm": lambda v: v * 1.5,
}
XATTN_ITEMS = ("vfexp", "vfexpsub", "segred", "mmacc", "vfrec")


def _area(target: str, overrides: dict) -> float:
    return area_mm2(targets.resolve(target, overrides).config)


@SETTINGS
@given(target=st.sampled_from(TARGETS), path=st.sampled_from(sorted(SIZES)),
       cores=st.integers(1, 8))
def test_area_is_monotone_in_every_size_parameter(target, path, cores):
    # (clusters hold equal numbers of cores: an even count lets the cluster count double)
    base = {"cluster.cores": 2 * cores if path == "cluster.clusters" else cores}
    cfg = targets.resolve(target, base).config
    from codesign import config as C
    value = C.get(cfg, path)
    bigger = {**base, path: SIZES[path](value)}
    assert _area(target, bigger) >= _area(target, base)


@pytest.mark.parametrize("preset", ["c950-like", "spatz-like", "spacemit-x60-like"])
def test_more_xattn_units_never_less_area(preset):
    subsets = [s for n in range(len(XATTN_ITEMS) + 1)
               for s in itertools.combinations(XATTN_ITEMS, n)]

    def area(sub: tuple[str, ...]) -> float:
        return _area(f"{preset}+xattn:{','.join(sub)}" if sub else preset, {})

    areas = {s: area(s) for s in subsets}
    for a, b in itertools.product(subsets, repeat=2):
        if set(a) <= set(b):
            assert areas[a] <= areas[b] + 1e-12, (a, b)
    assert areas[XATTN_ITEMS] > areas[()]
    assert areas[XATTN_ITEMS] == pytest.approx(_area(f"{preset}+xattn", {}))


def test_components_follow_their_formulas():
    cfg = targets.resolve("c950-like+xattn").config
    a, v, n = cfg.area, cfg.vector, cfg.cluster.cores
    s = (cfg.tech.node_nm / a.ref_node_nm) ** 2
    parts = area_parts(cfg)
    fma64 = a.fma_mm2_per_64b * s
    assert parts["scalar"] == pytest.approx(n * a.scalar_core_mm2 * s)
    assert parts["vector_lanes"] == pytest.approx(n * v.dlen / 64 * v.arith_sequencers * fma64)
    # 2 FMA sequencers (3R1W each) + load + store + exp (1R1W) + matrix (3R1W) = 16 ports
    assert parts["vrf"] == pytest.approx(n * 32 * v.vlen * sram_bitcell_um2(5.0)
                                         * a.vrf_cell_factor * (16 / 6) ** 2 / 1e6)
    assert parts["matrix"] == pytest.approx(n * 64 * v.dlen / 256 * a.mac_vs_fma * fma64)
    assert parts["exp"] == pytest.approx(n * v.dlen / 64 * a.exp_vs_fma * fma64)
    # each L2 array: bytes_per_cycle x 8 / 64-bit banks, each a CACTI-fitted macro
    banks = math.ceil(cfg.l2.bytes_per_cycle * 8 / a.sram_bank_bits)
    bits = cfg.l2.size_kib * 8192 / banks
    w = a.sram_bank_bits
    cells = (a.sram_cells_per_bit * bits + a.sram_cells_per_column * w
             + a.sram_cells_per_column_sq * w * w
             + a.sram_cells_per_column_route * w * math.sqrt(bits))
    arrays = cfg.cluster.clusters if cfg.l2.shared else n
    assert parts["l2"] == pytest.approx(arrays * banks * cells * SRAM_BITCELL_UM2[5.0] / 1e6)
    # 179.2 GB/s of DDR5-5600 x64 channels: 4 controllers
    assert parts["memory_controllers"] == pytest.approx(4 * a.channel_mm2)


def test_plain_rvv_has_no_xattn_parts():
    parts = area_parts(targets.resolve("c950-like").config)
    assert not {"exp", "segred", "matrix", "rec"} & set(parts)


@given(st.floats(2.0, 60.0), st.floats(1.01, 3.0))
def test_sram_density_falls_with_the_node_and_hits_the_table(node, grow):
    # (to rounding: a node that is a table entry is read back through exp(log(.)))
    assert sram_bitcell_um2(node * grow) >= sram_bitcell_um2(node) * (1 - 1e-12)
    for n, cell in SRAM_BITCELL_UM2.items():
        assert sram_bitcell_um2(n) == pytest.approx(cell)
    assert area_scale(node * grow, node) == pytest.approx(grow ** 2)


def _cacti_macros() -> list[dict[str, str]]:
    path = Path(codesign.__file__).parent / "validation" / "sram_cacti.csv"
    with path.open() as f:
        return list(csv.DictReader(ln for ln in f if not ln.startswith("#")))


def test_sram_macro_model_reproduces_the_cacti_macros():
    # the 44 CACTI 7.0 macros at 22 nm the sram_cells_* constants are fitted on, each
    # within 7% (the fit's worst), in CACTI's own 146 F^2 bit cell
    coef = sram_coef(targets.resolve("spatz-like").config)
    cacti_cell = 146 * 0.022 ** 2
    rows = _cacti_macros()
    assert len(rows) == 44
    errors = [sram_macro_cells(float(r["kib"]) * 8192, float(r["width_bits"]), coef)
              * cacti_cell / 1e6 / float(r["area_mm2"]) - 1 for r in rows]
    assert max(map(abs, errors)) < 0.07
    assert math.sqrt(sum(e * e for e in errors) / len(errors)) < 0.035
    # a second port costs more than splitting the array into two banks of one port each,
    # which is why the model buys bandwidth with banks
    for r in rows:
        bits, w = float(r["kib"]) * 8192, float(r["width_bits"])
        two_banks = 2 * sram_macro_cells(bits / 2, w, coef) * cacti_cell / 1e6
        assert float(r["area_2port_mm2"]) > two_banks


@settings(max_examples=200, deadline=None, derandomize=True)
@given(kib=st.floats(0.5, 8192), bw=st.floats(1, 4096), grow=st.floats(1.0, 8.0),
       node=st.sampled_from(sorted(SRAM_BITCELL_UM2)), bank=st.sampled_from([32, 64, 128]))
def test_banked_sram_is_monotone_in_size_and_bandwidth(kib, bw, grow, node, bank):
    coef = sram_coef(targets.resolve("spatz-like").config)
    bits = kib * 8192

    def area(b: float, w: float) -> float:
        return sram_banked_mm2(node, b, w, bank, coef)

    assert area(bits * grow, bw) >= area(bits, bw) * (1 - 1e-12)
    assert area(bits, bw * grow) >= area(bits, bw) * (1 - 1e-12)
    banks = max(1, math.ceil(bw / bank - 1e-9))
    assert area(bits, bw) == pytest.approx(
        banks * sram_macro_cells(bits / banks, min(bw, bank), coef)
        * sram_bitcell_um2(node) / 1e6)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(target=st.sampled_from(TARGETS), cores=st.integers(1, 16),
       l1_bw=st.sampled_from([8.0, 32.0, 256.0]), l2_bw=st.sampled_from([16.0, 64.0, 512.0]),
       node=st.sampled_from([5.0, 12.0, 22.0]))
def test_area_is_the_sum_of_its_parts(target, cores, l1_bw, l2_bw, node):
    cfg = targets.resolve(target, {"cluster.cores": cores, "l1d.bytes_per_cycle": l1_bw,
                                   "l2.bytes_per_cycle": l2_bw, "tech.node_nm": node}).config
    parts = area_parts(cfg)
    assert all(v >= 0 for v in parts.values())
    assert area_mm2(cfg) == pytest.approx(math.fsum(parts.values()), rel=1e-12)
    # the SRAM parts, independently: arrays x banked macro of the level
    for name, level in (("l1", cfg.l1d), ("l2", cfg.l2)):
        arrays = cfg.cluster.clusters if level.shared else cfg.cluster.cores
        one = sram_banked_mm2(node, level.size_kib * 8192, level.bytes_per_cycle * 8,
                              cfg.area.sram_bank_bits, sram_coef(cfg))
        assert parts[name] == pytest.approx(arrays * one)
