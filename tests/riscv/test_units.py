"""A user's functional unit and instruction timing, declared outside the package, are
timed by the SimPy core with no edit to it (isa.Unit, isa.timing rules)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from codesign.riscv import make
from codesign.riscv.core import simulate
from isa import Builder, Extension, F, Unit, V, define, parse_isa, register_extension, register_unit
from isa.timing import chunks


def _sigmoid(vd, op1, vs2):
    return 1 / (1 + np.exp(-vs2))


def _define(latency: int, sequencers: int) -> None:
    register_unit(Unit("t_sigmoid", "VTSIG", sequencers=sequencers), replace=True)
    d = define("t_vfsig.v", "vd vs2", "t_sigmoid", "valu",
               lambda ins, p: (latency, chunks(ins, p)), _sigmoid, extension="t_sig")
    register_extension(Extension("t_sig", (d,)), replace=True)


def _program(n_independent: int, dependent: bool):
    b = Builder("sig", parse_isa("rvv+t_sig"), 512)
    b.vsetvli(16, 32, 1)  # e32 m1: VL 16 x 32 bit = 2 element groups at DLEN 256
    for d in range(n_independent):
        b.emit("t_vfsig.v", V(8 + d), V(1))
    if dependent:
        b.emit("vfadd.vf", V(20), V(8), F(1))
    return b.program()


@pytest.mark.parametrize(("sequencers", "gap"), [(1, 2), (2, 1)])
def test_a_user_unit_runs_on_its_own_sequencers(sequencers, gap):
    """Four independent instructions of occupancy 2: one sequencer starts one every 2
    cycles, two sequencers one every cycle (the dispatcher's rate)."""
    _define(12, sequencers)
    stats = simulate(_program(4, False), make("x280-like").config, mode="full", log=True)
    starts = [s for _, _, s, _ in stats.log]
    assert {t1 - t0 for t0, t1 in itertools.pairwise(starts)} == {gap}


@pytest.mark.parametrize("latency", [5, 12, 40])
def test_a_user_timing_rule_sets_the_dependent_start(latency):
    """A dependent vfadd (on the arithmetic sequencer) starts exactly the rule's latency
    after its producer on the user unit: chaining across sequencers."""
    _define(latency, 1)
    stats = simulate(_program(1, True), make("x280-like").config, mode="full", log=True)
    s = [x[2] for x in stats.log]
    assert s[1] - s[0] == latency


def test_units_sharing_a_sequencer_must_agree_on_its_count():
    from isa import IsaError
    _define(12, 1)
    with pytest.raises(IsaError, match="VTSIG"):
        register_unit(Unit("t_other", "VTSIG", sequencers=3))


def test_redefining_the_timing_changes_the_program_signature():
    """Timing memos key on the program signature: an instruction redefined with another
    latency must not be served the old time."""
    _define(12, 1)
    a = _program(1, True).signature()
    _define(13, 1)
    b = _program(1, True).signature()
    _define(12, 2)
    c = _program(1, True).signature()
    assert len({a, b, c}) == 3


def test_work_on_a_user_unit_counts_as_compute():
    from codesign.riscv.replay import time_program
    _define(12, 1)
    b = Builder("sig", parse_isa("rvv+t_sig"), 512)
    b.vsetvli(16, 32, 1)
    with b.loop("i", 200):
        for d in range(4):
            b.emit("t_vfsig.v", V(8 + d), V(1))
    t = time_program(b.program(), make("x280-like").config)
    assert t["bound"] == "compute"
    assert t["cycles"] == pytest.approx(200 * 4 * 2, rel=0.02)
