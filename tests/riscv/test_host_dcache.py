"""The host's own L1 data cache (``scalar.dcache_kib``, issue #16): scalar loads that miss
it pay ``scalar.dcache_miss_cycles``. Ara's CVA6 reads fmatmul's A operand through it
while Ara's vector loads bypass it; at 128 x 128 on 8 lanes A does not fit and every new
line of a row misses.

Each timing below is a hand count, not the model's formulas; the properties check that
the cache never makes anything faster."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import config as C
from codesign.riscv import make
from codesign.riscv.core import simulate
from isa.instructions import parse_isa
from isa.kernels import lower
from isa.program import Builder, F, V

SPATZ = make("spatz-like").config  # single-issue host, DLEN 256
ISA = parse_isa("rvv")
# the Ara rows' host and vector unit (codesign/validation/riscv_cases.json)
ARA = {"cluster.cores": 1, "vector.vlen": 512, "vector.dlen": 256, "scalar.issue_width": 1,
       "vector.issue_interval": 6, "kernel.library": "ara", "memory.weights_cached": True,
       "vector.mem_ack_cycles": 4, "vector.dispatch_at_commit": True}
LINE = 16  # bytes: four FP32 elements, as CVA6's 32-byte line holds four FP64 ones


def _with(**sets):
    return C.override(SPATZ, sets)


def _walk(trip: int, step: int, reps: int = 1, elems: int = 4096):
    """``reps`` passes of ``trip`` iterations of: flw of element ``step * i`` of a buffer
    of ``elems`` FP32, then a vfadd.vv independent of it (the loop adds its addi, bne)."""
    b = Builder("walk", ISA, 512)
    b.buffer("m", "fp32", elems, "in")
    b.vsetvli(8, 32, 1)
    with b.loop("r", reps), b.loop("i", trip) as i:
        b.emit("flw", F(2), b.mem("m", i * step, 32))
        b.emit("vfadd.vv", V(1), V(16), V(17))
    return b.program()


def _per_iteration(cfg, step: int) -> float:
    # the difference of two trip counts (multiples of the 4 elements of a line) cancels
    # the fill and drain of the pipeline
    full = [simulate(_walk(t, step), cfg, mode="full").cycles for t in (40, 60)]
    return (full[1] - full[0]) / 20


@pytest.mark.parametrize("miss", [0, 5, 14])
def test_a_walk_misses_once_per_line(miss):
    # Hand count, per iteration, the vector instruction handed over at commit: the flw,
    # the vfadd once the load has completed (scalar load latency, plus the miss cycles on
    # the first element of each 16-byte line: one iteration in four), the addi and bne a
    # cycle apart, then the next flw: latency + 3 + miss / 4.
    cfg = _with(**{"vector.dispatch_at_commit": True, "scalar.dcache_kib": 4,
                   "scalar.dcache_line_bytes": LINE, "scalar.dcache_miss_cycles": miss})
    lat = cfg.timing_params().scalar_load_latency
    assert _per_iteration(cfg, 1) == pytest.approx(lat + 3 + miss / 4)
    # a step of a line or more misses on every load
    assert _per_iteration(cfg, 4) == pytest.approx(lat + 3 + miss)


@pytest.mark.parametrize("lines, kib, misses_per_pass", [
    (32, 1, "first"),   # 32 lines of 16 B = 512 B: fits 1 KiB, misses only the first pass
    (128, 1, "all"),    # 2 KiB walked through 1 KiB of LRU lines: every pass misses all
])
def test_a_rewalk_hits_only_when_its_lines_fit(lines, kib, misses_per_pass):
    reps, miss = 3, 10
    sets = {"vector.dispatch_at_commit": True, "scalar.dcache_line_bytes": LINE,
            "memory.weights_cached": False}
    prog = _walk(lines, 4, reps)  # one new line per iteration
    base = simulate(prog, _with(**sets), mode="full").cycles
    cfg = _with(**sets, **{"scalar.dcache_kib": kib, "scalar.dcache_miss_cycles": miss})
    misses = lines if misses_per_pass == "first" else lines * reps
    # each miss delays its vfadd (and everything after it) by the miss cycles
    assert simulate(prog, cfg, mode="full").cycles - base == pytest.approx(misses * miss)


def test_operands_that_fit_start_in_the_host_cache():
    # memory.weights_cached (a kernel timed alone, its operands in the caches): a buffer the
    # cache holds never misses, so timing equals that without the cache
    sets = {"vector.dispatch_at_commit": True, "memory.weights_cached": True}
    prog = _walk(64, 1, 2, elems=256)  # 1 KiB
    base = simulate(prog, _with(**sets), mode="full").cycles
    cfg = _with(**sets, **{"scalar.dcache_kib": 1, "scalar.dcache_line_bytes": LINE})
    assert simulate(prog, cfg, mode="full").cycles == base
    small = _with(**sets, **{"scalar.dcache_kib": 0.5, "scalar.dcache_line_bytes": LINE})
    assert simulate(prog, small, mode="full").cycles > base


def _fmatmul_k_step(dcache: dict, mode: str = "full") -> float:
    """Cycles per k step of Ara's fmatmul_8x8 on one 8-row block of 32 columns (one LMUL-2
    slice at VLEN 512, FP32): the difference of K = 128 and K = 64."""
    cfg = C.override(SPATZ, {**ARA, **dcache})
    cyc = [simulate(lower({"kind": "gemm", "op": "matmul", "M": 8, "N": 32, "K": k},
                          cfg.isa, cfg.core("fp32")), cfg, mode=mode).cycles for k in (64, 128)]
    return (cyc[1] - cyc[0]) / 64


def test_fmatmul_k_step_matches_a_hand_count_with_the_a_misses():
    # Hand count per k step (Ara's fmatmul_8x8, CVA6 host: one vector instruction every
    # issue_interval I = 6 cycles, mem_ack_cycles 4 more after the vle, each sent at commit):
    # 8 vfmacc.vf and 1 vle: 9 I + 4 = 58 cycles. With the host's cache, each row's A walk
    # misses on one element in four (16-byte lines of 4-byte elements): 8 rows / 4 = 2
    # misses per k step. A miss is the flw issued 1 cycle after its row's vfmacc; the next
    # vector instruction, sent at commit, waits until it completes, 1 + 3 + 14 = 18 cycles
    # after that vfmacc instead of I = 6: 12 more per miss, 24 per k step: 82.
    cfg = C.override(SPATZ, ARA)
    interval, ack = cfg.vector.issue_interval, cfg.vector.mem_ack_cycles
    hit = cfg.timing_params().scalar_load_latency
    miss = cfg.scalar.dcache_miss_cycles
    assert (interval, ack, hit, miss) == (6, 4, 3, 14)
    base = 9 * interval + ack
    assert _fmatmul_k_step({}) == pytest.approx(base)
    dc = {"scalar.dcache_kib": 1, "scalar.dcache_line_bytes": LINE}
    per_miss = 1 + hit + miss - interval
    assert _fmatmul_k_step(dc) == pytest.approx(base + 8 / 4 * per_miss)
    # the steady-state extrapolation keeps the rate (its period is two loop trips)
    assert _fmatmul_k_step(dc, "steady") == pytest.approx(base + 8 / 4 * per_miss)


def test_no_preset_has_a_host_dcache():
    # the Ara validation rows set it; every preset's scalar loads hit in l1d
    from codesign import targets
    for name in targets.names():
        cfg = targets.resolve(name, {}).config
        if getattr(cfg, "scalar", None) is None:
            continue
        assert cfg.scalar.dcache_kib == 0, name


@settings(max_examples=8, deadline=None, derandomize=True)
@given(kib=st.sampled_from([0.25, 0.5, 1.0, 4.0]), miss=st.integers(0, 20),
       step=st.integers(1, 6))
def test_the_host_cache_never_makes_a_walk_faster(kib, miss, step):
    sets = {"vector.dispatch_at_commit": True, "memory.weights_cached": False}
    prog = _walk(48, step, 2)
    base = simulate(prog, _with(**sets), mode="full").cycles
    cfg = _with(**sets, **{"scalar.dcache_kib": kib, "scalar.dcache_line_bytes": LINE,
                           "scalar.dcache_miss_cycles": miss})
    with_cache = simulate(prog, cfg, mode="full").cycles
    assert with_cache >= base
    more = _with(**sets, **{"scalar.dcache_kib": kib, "scalar.dcache_line_bytes": LINE,
                            "scalar.dcache_miss_cycles": miss + 3})
    assert simulate(prog, more, mode="full").cycles >= with_cache
