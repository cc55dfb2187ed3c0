"""Area of a RISC-V cluster (codesign.riscv.area): monotone in every size parameter, more
Xattn hardware never less area, each component as its formula says."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import targets
from codesign.riscv.area import area_mm2, area_parts
from codesign.silicon import (
    SRAM_BITCELL_UM2,
    area_scale,
    sram_bitcell_um2,
    sram_mm2_per_mib,
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
    base = {"cluster.cores": cores}
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
    mib = SRAM_BITCELL_UM2[5.0] * 8 * 2 ** 20 / a.sram_array_efficiency / 1e6
    assert parts["l2"] == pytest.approx(n * cfg.l2.size_kib / 1024 * mib)
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
    assert sram_mm2_per_mib(node, 0.5) == pytest.approx(2 * sram_mm2_per_mib(node, 1.0))
    assert area_scale(node * grow, node) == pytest.approx(grow ** 2)
