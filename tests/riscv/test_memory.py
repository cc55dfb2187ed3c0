"""codesign.riscv.memory: where each access's bytes come from, against hand calculations
of the reuse rule on small loop nests."""

from __future__ import annotations

import pytest

from codesign.errors import CodesignError
from codesign.riscv import make, memory
from codesign.riscv.memory import Hierarchy, footprint, level_bytes, plan
from codesign.riscv.replay import time_program
from isa.instructions import parse_isa
from isa.program import Builder, F, V

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


@pytest.mark.parametrize(("n_elems", "cold_level"), [
    (64 * 16, 0),                # 4 KiB: fits the 32 KiB L1 -> the stream hits L1
    (1 << 14, 1),                # 64 KiB: does not -> from L2, as without the option
])
def test_data_in_l1_starts_the_ops_data_in_l1_when_it_fits(n_elems, cold_level):
    """memory.data_in_l1 (a scratchpad kernel fed by a DMA beforehand): cold bytes come
    from L1 when the op's footprint fits the core's share of it."""
    cfg = make("x280-like", {"memory.data_in_l1": True}).config
    assert cfg.l1d.size_kib == 32 and not make("x280-like").config.memory.data_in_l1
    (frac,) = plan(_stream(n_elems, 64, reread=False), cfg.timing_params(),
                   Hierarchy.of(cfg, 1)).values()
    want = [0.0, 0.0, 0.0]
    want[cold_level] = 1.0
    assert frac == pytest.approx(tuple(want))


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


# ---- cache lines: strided, indexed and tile accesses -------------------------------------
def _strided(stride: int, trips: int = 64, walk: int = 0, vl: int = 16):
    """A loop of ``trips`` strided loads of ``vl`` FP32 elements ``stride`` elements apart,
    each at a new row block (``walk`` = 0), or (``walk`` elements per iteration) walking
    along the rows: the same rows, the next column."""
    b = Builder("strided", ISA, 512)
    b.buffer("x", "fp32", 1 << 22)
    b.vsetvli(vl, 32, 1)
    with b.loop("i", trips) as i:
        off = i * walk if walk else i * (stride * vl)
        b.emit("vlse32.v", V(8), b.mem("x", off, 32, "strided", stride))
    return b.program()


def _beyond_l1(prog, cfg):
    (frac,) = plan(prog, cfg.timing_params(), Hierarchy.of(cfg, 1)).values()
    return frac[1] + frac[2]  # bytes moved beyond L1 per byte accessed


def test_a_unit_stride_access_moves_its_own_bytes():
    cfg = make("x280-like").config
    for n_elems in (64 * 16, 1 << 22):
        assert _beyond_l1(_stream(n_elems, 64, reread=False), cfg) == pytest.approx(1.0)


@pytest.mark.parametrize("stride", [16, 32, 1000])  # 64 B, 128 B, 4000 B apart
def test_a_strided_access_with_stride_of_a_line_or_more_moves_a_line_per_element(stride):
    cfg = make("x280-like").config
    prog = _strided(stride)
    line = cfg.memory.line_bytes
    assert line == 64
    assert _beyond_l1(prog, cfg) == pytest.approx(line / 4)
    _, l2, dram = level_bytes(prog, cfg.timing_params(), Hierarchy.of(cfg, 1))
    assert l2 + dram == pytest.approx(64 * 16 * line)  # 64 loads x 16 elements x a line


@pytest.mark.parametrize(("stride", "moved"), [(1, 4), (2, 8), (4, 16), (8, 32)])
def test_a_strided_access_within_a_line_moves_the_stride(stride, moved):
    """Elements closer than a line share lines: each moves ``stride x 4`` bytes."""
    cfg = make("x280-like").config
    assert _beyond_l1(_strided(stride), cfg) * 4 == pytest.approx(moved)


def test_a_loop_that_walks_along_the_lines_moves_each_line_once():
    """Column by column over 16 rows 4 KiB apart: the next column is 4 B further along the
    same 16 lines, which stay in L1 (16 lines x 16 columns), so each element moves its own
    4 B: line / step = 16 iterations share each line."""
    cfg = make("x280-like").config
    prog = _strided(1024, trips=64, walk=1)
    assert _beyond_l1(prog, cfg) == pytest.approx(1.0)
    # with a 512 B L1 that cannot keep the 16 lines each element moves a line again: its
    # own 4 B from DRAM, where the 16 MiB of data sit, the other 60 B from L2, which holds
    # the lines between one column and the next
    small = make("x280-like", {"l1d.size_kib": 0.5}).config
    (frac,) = plan(prog, small.timing_params(), Hierarchy.of(small, 1)).values()
    assert frac == pytest.approx((0.0, 15.0, 1.0))


def test_an_indexed_gather_moves_a_line_per_element():
    cfg = make("x280-like").config
    b = Builder("gather", ISA, 512)
    b.buffer("x", "fp32", 1 << 22)
    b.vsetvli(16, 32, 1)
    with b.loop("i", 64):
        b.emit("vluxei32.v", V(8), b.mem("x", 0, 32, "indexed", index=V(16)))
    assert _beyond_l1(b.program(), cfg) == pytest.approx(64 / 4)


def test_one_byte_lines_undo_the_line_model():
    cfg = make("x280-like", {"memory.line_bytes": 1}).config
    assert _beyond_l1(_strided(1000), cfg) == pytest.approx(1.0)


# ---- clusters -----------------------------------------------------------------------------
K1ISH = {"l2.size_kib": 512.0, "l2.bytes_per_cycle": 16.0, "cluster.clusters": 2}


def test_cores_get_the_share_of_their_own_clusters_l2():
    """8 cores in 2 clusters, each cluster with its own 512 KiB shared L2 (the K1): an op on
    8 cores puts 4 on each cluster, and each core gets 1/4 of its cluster's L2; DRAM is
    shared by all 8."""
    cfg = make("spacemit-x60-like", K1ISH).config
    assert cfg.cluster.cores == 8 and cfg.placement(8) == (2, 4)
    h = Hierarchy.of(cfg, 8)
    assert h.capacity[1] == 512 * 1024 / 4
    assert h.bytes_per_cycle[1] == 16.0 / 4
    assert h.bytes_per_cycle[2] == pytest.approx(10.66 / 1.6 / 8)
    # 2 cores spread one per cluster: each has a whole L2; 3 cores: at most 2 share one
    assert cfg.placement(2) == (2, 1) and Hierarchy.of(cfg, 2).capacity[1] == 512 * 1024
    assert cfg.placement(3) == (2, 2) and Hierarchy.of(cfg, 3).capacity[1] == 256 * 1024
    # one cluster of 8 sharing one L2 of that size: each core gets half as much
    one = make("spacemit-x60-like", {**K1ISH, "cluster.clusters": 1}).config
    assert Hierarchy.of(one, 8).capacity[1] == 512 * 1024 / 8
    # the system has one L2 per cluster: twice the L2 bandwidth and SRAM of one cluster
    assert cfg.cluster_l2_bytes_per_s == 2 * one.cluster_l2_bytes_per_s


def test_private_caches_ignore_the_clusters():
    cfg = make("x280-like", {"cluster.cores": 4, "cluster.clusters": 2}).config
    h = Hierarchy.of(cfg, 4)
    assert h.capacity[:2] == (cfg.l1d.size_kib * 1024, cfg.l2.size_kib * 1024)


def test_cores_not_a_multiple_of_the_clusters_is_one_clear_error():
    with pytest.raises(CodesignError) as exc:
        make("spacemit-x60-like", {"cluster.clusters": 3})
    msg = str(exc.value)
    assert "\n" not in msg
    assert "cluster.cores = 8 is not a multiple of cluster.clusters = 3" in msg
    assert "1, 2, 4, 8" in msg  # the valid cluster counts


# ---- outstanding misses and sustained efficiency ---------------------------------------
def _dram_stream(cfg_overrides, loads: bool = True):
    """Cycles of one core streaming 16 MiB from DRAM (loads) or to it (stores)."""
    cfg = make("x280-like", cfg_overrides).config
    b = Builder("stream", ISA, 512)
    b.buffer("x", "fp32", 1 << 22)
    b.vsetvli(16, 32, 1)
    with b.loop("i", (1 << 22) // 16) as i:
        b.emit("vle32.v" if loads else "vse32.v", V(8), b.mem("x", i * 16, 32))
    return cfg, time_program(b.program(), cfg)["cycles"]


def test_outstanding_misses_cap_a_cores_bandwidth_at_littles_law():
    """2 lines in flight for 100 ns each: at most 2 x 64 B / 100 ns = 1.28 GB/s."""
    cfg, cycles = _dram_stream({"l1d.outstanding_misses": 2.0})
    lat = cfg.dram_latency_cycles()
    assert cycles == pytest.approx((1 << 24) / (2 * 64 / lat), rel=0.01)
    # stores are posted: no miss entry, DRAM-bound
    _, store_cycles = _dram_stream({"l1d.outstanding_misses": 2.0}, loads=False)
    assert store_cycles < cycles / 4


def test_dram_efficiency_scales_a_dram_bound_stream():
    cfg, full = _dram_stream({})
    assert full == pytest.approx((1 << 24) / cfg.dram_bytes_per_cycle(), rel=0.01)
    _, half = _dram_stream({"dram.efficiency": 0.5})
    assert half == pytest.approx(2 * full, rel=0.01)


def _loads_then_work(work: int, prefetch_ahead: bool, reread: bool = False,
                     scalar: bool = False) -> float:
    """Cycles per iteration of a loop that loads 128 B (two vle32) from a 4 MiB stream (or,
    ``reread``, the same 128 B: L1 hits), then runs ``work`` dependent vfadd on them and
    reads the result into a scalar (vfmv.f.s + fadd: the front end waits for it, as
    ggml's dot products wait for vmv.x.s), on one core with 2 lines in flight; ``scalar``:
    each iteration also loads one float of a second stream with a scalar load (as ggml's
    Q6_K dot product loads its scales with lb)."""
    cfg = make("x280-like", {"l1d.outstanding_misses": 2.0,
                             "memory.prefetch_ahead": prefetch_ahead}).config
    trips = 1 << 15
    b = Builder("stream", ISA, 512)
    b.buffer("x", "fp32", 32 * trips)
    b.buffer("s", "fp32", trips)
    b.vsetvli(16, 32, 1)
    with b.loop("i", trips) as i:
        for j in range(2):
            b.emit("vle32.v", V(8 + j), b.mem("x", (0 if reread else i * 32) + 16 * j, 32))
        for _ in range(work):
            b.emit("vfadd.vv", V(8), V(8), V(9))
        b.emit("vfmv.f.s", F(1), V(8))
        b.emit("fadd.s", F(2), F(2), F(1))
        if scalar:  # issued when the work is done (after the scalar read of its result)
            b.emit("flw", F(3), b.mem("s", i, 32))
    return time_program(b.program(), cfg)["cycles"] / trips


@pytest.mark.parametrize("work", [0, 10, 40])
def test_prefetch_ahead_overlaps_a_stream_with_the_work_between_its_loads(work):
    """memory.prefetch_ahead: the lines of the next loads are fetched while the core works,
    so an iteration takes max(its memory time, its time with the data in L1) instead of
    about their sum; the memory time itself is still Little's law's (2 lines x 64 B per
    DRAM latency: the lead never adds bandwidth), and it is never slower than without."""
    lat = make("x280-like").config.dram_latency_cycles()
    memory_bound = 2 * 64 / (2 * 64 / lat)  # 128 B per iteration at 2 lines per latency
    in_l1 = _loads_then_work(work, False, reread=True)
    ahead, at_issue = _loads_then_work(work, True), _loads_then_work(work, False)
    assert ahead == pytest.approx(max(memory_bound, in_l1), rel=0.01)
    assert ahead <= at_issue
    if work:  # the load that waits for the first one's lines sits in front of the work
        assert at_issue > max(memory_bound, in_l1) + 0.4 * min(memory_bound, in_l1)
    # a scalar load of another stream (4 B an iteration) takes its lines ahead too: it does
    # not hand the channels' idle time back (memory time + 4/128 of it)
    with_scalar = _loads_then_work(work, True, scalar=True)
    assert with_scalar == pytest.approx(max(memory_bound * (1 + 4 / 128), in_l1), rel=0.02)


def _ime_shard():
    """llama.cpp's IME GEMM on the K1's IME cluster, one of four column shards."""
    from codesign import kinds, targets
    from codesign.riscv.replay import lower
    from workloads.schema import Op
    op = Op.from_row({"kind": "gemm", "op": "matmul", "M": 512, "N": 2048, "K": 2048,
                      "G": 1, "dtype": "bf16", "weight_dtype": "q4_0"})
    cfg = targets.resolve("spacemit-k1+ime", {"cluster.cores": 4, "cluster.clusters": 1,
                                               "kernel.library": "llamacpp"}).config
    shard, cores = kinds.splits(op, 4, cfg.vector.vlen)[0]
    return cfg, lower(shard, cfg), cores, kinds.sharing(op, shard)


def test_a_reuse_distance_counts_the_bytes_an_iteration_touches_once():
    """The column-group loop of llama.cpp's IME GEMM re-reads one 16-column group of B
    (two 8-column panels) for each of the chunk's 32 row blocks: one iteration touches
    the chunk's quantised A and its scales (a quarter of Aq and Ad: 128 of 512 rows) and
    one group of B (1/32 of Bqi, Bs), not 32 groups."""
    from isa.program import Loop
    cfg, prog, cores, _ = _ime_shard()
    tp = cfg.timing_params()
    hier = memory.Hierarchy.of(cfg, cores)
    mc = next(n for n in prog.body if isinstance(n, Loop) and n.var == "mc")
    j = next(n for n in mc.body if isinstance(n, Loop) and n.var == "j")
    size = {n: memory.buffer_bytes(prog, n) for n in prog.buffers}
    expect = (size["Aq"] + size["Ad"]) / 4 + (size["Bqi"] + size["Bs"]) / 32
    distinct = memory._distinct_bytes(j.body, (), tp, memory.timings(tp), hier,
                                      frozenset({"mc", "j"}))[0]
    moved = memory._loop_iter_bytes(j, tp, {}, memory.timings(tp))
    assert distinct == pytest.approx(expect, rel=0.05)
    assert moved > 1.5 * distinct


def test_a_shared_l2_holds_data_every_core_reads_once():
    """The four column shards all read the same quantised activations: with one copy in
    the cluster's 512 KiB L2 they come from L2 across the column groups; counted once per
    core (a quarter of L2 each) they came from DRAM for every group of 16 columns (32
    groups of a 512-column shard: about 32 x the chunks' A at 1.125 bytes per element,
    against the weights' 0.6 MB and the cold A once when shared)."""
    cfg, prog, cores, sharing = _ime_shard()
    assert sharing == (("A", 4),)
    tp = cfg.timing_params()
    alone = memory.level_bytes(prog, tp, memory.Hierarchy.of(cfg, cores))[2]
    shared = memory.level_bytes(prog, tp, memory.Hierarchy.of(cfg, cores, sharing))[2]
    assert shared < 0.2 * alone
    # a private L2 holds one core's data: sharing changes nothing there
    private = make("c950-like").config
    assert memory.Hierarchy.of(private, 8, (("A", 8),)).sharing == ()
    assert memory.Hierarchy.of(cfg, cores, sharing).l2_weight("Aq") == 0.25
    assert memory.Hierarchy.of(cfg, cores, sharing).l2_weight("Bqi") == 1.0


def test_a_forward_passs_weights_come_from_dram_a_lone_kernels_from_l2():
    """A 512 KiB weight matrix fits c950-like's 1 MiB L2: timed alone (a benchmark loop)
    it is read from L2; in a forward pass the other layers' weights evicted it, so it is
    read from DRAM once (memory.weights_cached)."""
    from codesign.riscv.replay import lower
    row = {"kind": "gemm", "op": "matmul", "M": 1, "N": 512, "K": 512, "G": 1,
           "dtype": "bf16"}
    weights = 512 * 512 * 2
    out = {}
    for cached in (False, True):
        cfg = make("c950-like", {"memory.weights_cached": cached,
                                 "cluster.cores": 1}).config
        prog = lower(row, cfg)
        out[cached] = level_bytes(prog, cfg.timing_params(), Hierarchy.of(cfg, 1))
    assert out[False][2] >= weights  # every weight byte from DRAM
    assert out[True][2] == 0 and out[True][1] >= weights  # from L2


def test_llamacpp_ime_gemm_streams_a_from_dram_once_per_16_columns():
    """Issue #16: ggml's SpacemiT M4 kernel computes 4 rows x 16 columns over all of K per
    call (ime.cpp compute_block_count_n = 16), so a row block's quantised A comes from
    where it sits once per 16 columns. Hand calculation on one K1 core (512 KiB L2),
    M = 128 (one chunk), N = 64, K = 4096: the chunk's codes Aq are 512 KiB, its scales
    Ad 256 KiB, together over L2, while a row block with one group of B fits. The 8
    panel reads of Aq (4 MiB loaded) split as: the second panel of each group re-reads
    the row block from L2 (1/2), the first panel of group 1 finds the codes where the
    quantiser left them (L2, 1/8), the first panel of groups 2..4 from DRAM (3/8: 1.5
    MiB); per 8-column panel it was 7/8 (3.5 MiB)."""
    from collections import defaultdict

    from codesign import targets
    from codesign.riscv.core import CoreSim
    from codesign.riscv.replay import lower
    from workloads.schema import Op
    cfg = targets.resolve("spacemit-k1+ime", {"cluster.cores": 1, "cluster.clusters": 1,
                                               "kernel.library": "llamacpp"}).config
    m, n, kk = 128, 64, 4096
    prog = lower(Op(kind="gemm", dtype="bf16", weight_dtype="q4_0", M=m, N=n, K=kk, G=1),
                 cfg)
    sim = CoreSim(prog, cfg, 1, "steady")
    assert sim.hier.capacity[1] == 512 * 1024
    fr = memory.plan(prog, sim.tp, sim.hier)
    loads: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    memo = memory.timings(sim.tp)
    for ins, count in prog.walk():
        if ins.mem is None or not count or ins.defn.exec_kind != "vload":
            continue
        nb = memory.timing(ins, sim.tp, memo).mem_bytes * count
        for lvl, f in enumerate(fr[id(ins)]):
            loads[ins.mem.buf][lvl] += nb * f
    panel_reads = n // 8 * m * kk  # the codes once per 8-column panel: 4 MiB
    assert sum(loads["Aq"]) == panel_reads
    assert loads["Aq"][2] == pytest.approx(3 / 8 * panel_reads, rel=1e-9)
    assert loads["Aq"][1] == pytest.approx(5 / 8 * panel_reads, rel=1e-9)
