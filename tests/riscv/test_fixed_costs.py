"""Per-instruction fixed costs (issue #16 item 4): the host's vector-issue interval
(``vector.issue_interval``), the vector start-up dead time (``timing.vector_dead_time``)
and the per-class minimum occupancies (``timing.{int,fp,mem}_min_occupancy``).

The loop below is timed against a hand count, not against the model's formulas; the
properties check that none of these costs ever makes anything faster."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import config as C
from codesign.riscv import make
from codesign.riscv.core import simulate
from isa.instructions import parse_isa
from isa.program import Builder, F, V
from isa.timing import MIN_OCCUPANCY_CLASSES

SPATZ = make("spatz-like").config  # single-issue host, DLEN 256, one VA sequencer
ISA = parse_isa("rvv")


def _loop(trip: int) -> Builder:
    """``trip`` iterations of four independent short vfadd.vv (VL 8 at e32: one 256-bit
    element group each) and the loop's addi + bne."""
    b = Builder("short", ISA, 512)
    b.vsetvli(8, 32, 1)
    with b.loop("i", trip):
        for d in range(1, 5):
            b.emit("vfadd.vv", V(d), V(16), V(17))
    return b


def _cycles_per_iteration(cfg) -> float:
    # the difference of two trip counts cancels the fill and drain of the pipeline
    full = [simulate(_loop(t).program(), cfg, mode="full").cycles for t in (40, 60)]
    return (full[1] - full[0]) / 20


def _with(**sets):
    return C.override(SPATZ, sets)


@pytest.mark.parametrize("interval, dead, floor", [
    (1, 0, 0), (2, 0, 0), (3, 0, 0), (6, 0, 0), (1, 4, 0), (3, 4, 0), (6, 4, 0),
    (1, 0, 3), (1, 4, 3), (2, 1, 2)])
def test_short_vector_loop_cycles_match_a_hand_count(interval, dead, floor):
    # Hand count, per iteration, on a single-issue host:
    # - issue: the four vfadds leave the front end `interval` cycles apart; the addi and
    #   bne follow the fourth one cycle apart, and the next iteration's first vfadd waits
    #   for both and for the interval: 3 * interval + max(interval, 3) cycles (6 at 1);
    # - the VA sequencer: each vfadd holds it for max(1 element group, floor) + dead
    #   cycles, four per iteration.
    # The loop runs at the slower of the two (the command queue decouples them).
    issue = 3 * interval + max(interval, 3)
    seq = 4 * (max(1, floor) + dead)
    cfg = _with(**{"vector.issue_interval": interval, "timing.vector_dead_time": dead,
                   "timing.fp_min_occupancy": floor})
    assert _cycles_per_iteration(cfg) == pytest.approx(max(issue, seq))


def test_defaults_add_nothing():
    assert SPATZ.vector.issue_interval == 1
    tp = SPATZ.timing_params()
    assert (tp.vector_dead_time, tp.int_min_occupancy, tp.fp_min_occupancy,
            tp.mem_min_occupancy) == (0, 0, 0, 0)
    assert _cycles_per_iteration(SPATZ) == 6  # the six instructions of an iteration


def test_every_min_occupancy_class_names_built_in_rules():
    from isa.timing import RULES
    for rules in MIN_OCCUPANCY_CLASSES.values():
        assert set(rules) <= set(RULES)


def _program():
    """A real kernel: a small GEMM as the library lowers it (loads, FMAs, stores)."""
    from codesign.riscv.replay import lower
    return lower({"kind": "gemm", "op": "matmul", "M": 8, "N": 32, "K": 16,
                      "dtype": "fp32", "flops": 2 * 8 * 32 * 16, "bytes_read": 4 * 8 * 16 * 2,
                  "bytes_written": 4 * 8 * 32}, SPATZ)


_PROG: list = []  # the program, lowered once


@settings(max_examples=12, deadline=None)
@given(interval=st.integers(1, 8), dead=st.integers(0, 6), fi=st.integers(0, 6),
       ff=st.integers(0, 6), fm=st.integers(0, 6))
def test_fixed_costs_never_make_anything_faster(interval, dead, fi, ff, fm):
    if not _PROG:
        _PROG.append(_program())
    prog = _PROG[0]
    costs = {"vector.issue_interval": interval, "timing.vector_dead_time": dead,
             "timing.int_min_occupancy": fi, "timing.fp_min_occupancy": ff,
             "timing.mem_min_occupancy": fm}
    cfg = _with(**costs)
    base_tp, tp = SPATZ.timing_params(), cfg.timing_params()
    # each instruction: latency and occupancy at least the rule's own
    for ins, _ in prog.walk():
        a, b = ins.timing(base_tp), ins.timing(tp)
        assert b.latency >= a.latency and b.occupancy >= a.occupancy, ins.op
    # the program: never fewer cycles, and each cost alone never fewer either
    base = simulate(prog, SPATZ, mode="full").cycles
    assert simulate(prog, cfg, mode="full").cycles >= base
    for k, v in costs.items():
        assert simulate(prog, _with(**{k: v}), mode="full").cycles >= base, k


def test_the_dead_time_applies_on_a_narrower_exp_datapath_too():
    # x280-like+xattn with a 128-bit exp unit: vfexp.v at VL 16, e32 holds it for
    # 16 * 32 / 128 = 4 element groups, plus the dead time (hand count)
    from codesign.riscv.core import CoreSim
    for dead in (0, 3):
        cfg = make("x280-like+xattn", {"exp.width_bits": 128,
                                       "timing.vector_dead_time": dead}).config
        b = Builder("exp", cfg.parsed_isa, cfg.vector.vlen)
        b.vsetvli(16, 32, 1)
        ins = b.emit("vfexp.v", V(8), V(16))
        prog = b.program()
        assert CoreSim(prog, cfg).timed(ins).occ == 4 + dead


# ---- the host's handshake (vector.mem_ack_cycles, vector.dispatch_at_commit) --------------

def _handshake_cycles(cfg, body) -> float:
    """Cycles per iteration of a loop whose body ``body(b)`` emits (the loop adds its addi
    and bne), on the single-issue Spatz-like host."""
    def prog(trip: int):
        b = Builder("handshake", ISA, 512)
        b.buffer("m", "fp32", 1024, "scratch")
        b.vsetvli(8, 32, 1)
        with b.loop("i", trip):
            body(b)
        return b.program()
    full = [simulate(prog(t), cfg, mode="full").cycles for t in (40, 60)]
    return (full[1] - full[0]) / 20


def _vle_then_three_vfadds(b) -> None:
    b.emit("vle32.v", V(8), b.mem("m", 0, 32))
    for d in range(1, 4):
        b.emit("vfadd.vv", V(d), V(16), V(17))


@pytest.mark.parametrize("interval, ack", [(1, 0), (1, 4), (3, 0), (3, 4), (6, 4), (2, 7)])
def test_a_vector_memory_instruction_holds_the_handshake_mem_ack_cycles_longer(interval, ack):
    # Hand count, per iteration: the vle, then the first vfadd interval + ack cycles after
    # it (Ara acknowledges a load only once its address generator has issued the AXI
    # request), the other two interval apart, and the next vle max(interval, 3) after the
    # last one (the addi and bne between). Short independent instructions: the sequencers
    # keep up.
    cfg = _with(**{"vector.issue_interval": interval, "vector.mem_ack_cycles": ack})
    assert _handshake_cycles(cfg, _vle_then_three_vfadds) == \
        pytest.approx((interval + ack) + 2 * interval + max(interval, 3))


def _flw_then_vfadd(b) -> None:
    b.emit("flw", F(2), b.mem("m", 0, 32))
    b.emit("vfadd.vv", V(1), V(16), V(17))  # independent of the load


@pytest.mark.parametrize("at_commit", [False, True])
def test_at_commit_a_vector_instruction_waits_for_the_older_scalar_load(at_commit):
    # Hand count, per iteration: the flw; the vfadd one cycle later, or, handed over at
    # commit, once the load has completed (its scalar load latency); then the addi and the
    # bne a cycle apart, and the next flw: 4 cycles, or latency + 3.
    cfg = _with(**{"vector.dispatch_at_commit": at_commit})
    lat = cfg.timing_params().scalar_load_latency
    assert lat > 1
    assert _handshake_cycles(cfg, _flw_then_vfadd) == (lat + 3 if at_commit else 4)


def test_no_preset_has_the_hosts_handshake():
    # the Ara validation rows set them; every preset's host hands vector instructions over
    # as it issues them
    from codesign import targets
    for name in targets.names():
        cfg = targets.resolve(name, {}).config
        if getattr(cfg, "vector", None) is None:
            continue
        assert cfg.vector.mem_ack_cycles == 0 and not cfg.vector.dispatch_at_commit, name


@settings(max_examples=10, deadline=None, derandomize=True)
@given(interval=st.integers(1, 8), ack=st.integers(0, 6), at_commit=st.booleans())
def test_the_handshake_never_makes_a_kernel_faster(interval, ack, at_commit):
    # Up to less than a cycle: a later vector memory instruction can meet the shared L1
    # port at a better moment (the greedy schedule's anomaly; the GEMM below takes 652.375
    # cycles at interval 1 and 652.25 with mem_ack_cycles 3, 664 with 4).
    if not _PROG:
        _PROG.append(_program())
    prog = _PROG[0]
    base = simulate(prog, _with(**{"vector.issue_interval": interval}), mode="full").cycles
    for sets in ({"vector.mem_ack_cycles": ack}, {"vector.dispatch_at_commit": at_commit},
                 {"vector.mem_ack_cycles": ack, "vector.dispatch_at_commit": at_commit}):
        cfg = _with(**{"vector.issue_interval": interval, **sets})
        assert simulate(prog, cfg, mode="full").cycles > base - 1, sets
