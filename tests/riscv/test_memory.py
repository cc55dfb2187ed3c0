"""codesign.riscv.memory: where each access's bytes come from, against hand calculations
of the reuse rule on small loop nests."""

from __future__ import annotations

import pytest

from codesign.riscv import make
from codesign.riscv.memory import Hierarchy, footprint, level_bytes, plan
from isa.instructions import parse_isa
from isa.program import Builder, V

ISA = parse_isa("rvv")


def _stream(n_elems: int, trips: int, reread: bool):
    """A loop of ``trips`` iterations loading 16 FP32 (64 B) from ``x``: at a new address
    each iteration, or (``reread``) the same 64 B every time."""
    b = Builder("stream", ISA, 512)
    b.buffer("x", "fp32", n_elems)
    b.vsetvli(16, 32, 1)
    with b.loop("i", trips) as i:
        b.emit("vle32.v", V(8), b.mem("x", 0 if reread else i * 16, 32))
    return b.program()


def test_the_hierarchy_divides_shared_levels_among_the_cores():
    cfg = make("spacemit-x60-like").config  # private 32 KiB L1, shared 1 MiB L2, 10.66 GB/s
    h = Hierarchy.of(cfg, cores=4)
    assert h.capacity[0] == 32 * 1024 and h.capacity[1] == 1024 * 1024 / 4
    assert h.bytes_per_cycle[1] == cfg.l2.bytes_per_cycle / 4
    assert h.bytes_per_cycle[2] == pytest.approx(10.66 / 1.6 / 4)  # GB/s / GHz / cores
    assert h.latency[2] == pytest.approx(cfg.dram.latency_ns * 1.6)


@pytest.mark.parametrize(("n_elems", "cold_level"), [
    (64 * 16, 1),                # 4 KiB of data: fits L2 -> cold bytes come from L2
    (1 << 22, 2),                # 16 MiB: beyond a 1 MiB L2 -> from DRAM
])
def test_a_stream_touches_every_byte_once_from_where_the_data_sits(n_elems, cold_level):
    cfg = make("x280-like").config
    prog = _stream(n_elems, 64, reread=False)
    h = Hierarchy.of(cfg, 1)
    (frac,) = plan(prog, cfg.timing_params(), h).values()
    want = [0.0, 0.0, 0.0]
    want[cold_level] = 1.0
    assert frac == pytest.approx(tuple(want))
    assert footprint(prog) == n_elems * 4


def test_a_reread_loop_hits_l1_for_all_but_its_first_touch():
    """The same 64 B in each of 100 iterations: 1/100 cold (from L2, the data fits it),
    99/100 reuses at a distance of 64 B (an L1 hit)."""
    cfg = make("x280-like").config
    prog = _stream(16, 100, reread=True)
    h = Hierarchy.of(cfg, 1)
    (frac,) = plan(prog, cfg.timing_params(), h).values()
    assert frac == pytest.approx((0.99, 0.01, 0.0))
    l1, l2, dram = level_bytes(prog, cfg.timing_params(), h)
    assert (l1, l2, dram) == pytest.approx((0.99 * 6400, 0.01 * 6400, 0.0))


def test_reuse_farther_than_l1_comes_from_l2():
    """An outer loop re-reads a 64 KiB row that the inner loop streams: the reuse distance
    (64 KiB per outer iteration) is beyond the 32 KiB L1 but inside L2."""
    cfg = make("x280-like").config
    b = Builder("rows", ISA, 512)
    b.buffer("x", "fp32", 16 * 1024)
    b.vsetvli(16, 32, 1)
    with b.loop("r", 10), b.loop("i", 1024) as i:
        b.emit("vle32.v", V(8), b.mem("x", i * 16, 32))
    prog = b.program()
    (frac,) = plan(prog, cfg.timing_params(), Hierarchy.of(cfg, 1)).values()
    assert frac == pytest.approx((0.0, 1.0, 0.0))  # 9/10 reuses from L2, 1/10 cold from L2
