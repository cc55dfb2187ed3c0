"""The core model's event engine against SimPy itself.

``CoreSim`` runs the front end and the dispatcher as timestamps, in the order SimPy 4
processes events (by time, then by scheduling order). The reference below is that model
as two SimPy processes (the front end; the dispatcher taking the head of a
``simpy.Store`` of ``vector.queue_depth`` entries), with the same timing arithmetic
(``CoreSim._dispatch``, ``_complete_scalar``). Simulating every instruction
(``mode="full"``), both must give the same start and end of every vector instruction and
the same cycles, to the last bit: on a small kernel of every kind the library lowers, on
two cores, and on random instruction mixes (vector-to-scalar round trips, scalar loads
sharing the L1 port, divides, a short queue, a slow vector-issue rate, a dead time).
"""

from __future__ import annotations

import math

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.riscv import make
from codesign.riscv.core import CoreSim, _Signal, _Tracker, simulate
from isa import kernels
from isa.program import Builder, F, Loop, V, X

from .test_core_steady_state import _cases


class _EventSignal(_Signal):
    """A scalar result as a SimPy event: the dispatcher firing it succeeds the event."""

    __slots__ = ("_at", "event")

    def __init__(self, env: simpy.Environment) -> None:
        self.event = env.event()
        self._at: tuple[float, int] | None = None

    @property  # type: ignore[override]
    def fired(self) -> tuple[float, int] | None:
        return self._at

    @fired.setter
    def fired(self, at: tuple[float, int] | None) -> None:
        self._at = at
        if at is not None:
            self.event.succeed()


class SimPyReference:
    """The core model as SimPy processes, every instruction simulated."""

    def __init__(self, prog, cfg, cores: int = 1) -> None:
        self.sim = CoreSim(prog, cfg, cores, mode="full", log=True)
        self.env = simpy.Environment()
        self.queue = simpy.Store(self.env, capacity=cfg.vector.queue_depth)

    def run(self) -> tuple[float, list[tuple[int, str, float, float]]]:
        sim, env = self.sim, self.env
        env.process(self._dispatcher())
        done = env.process(self._nodes(sim.prog.body))
        env.run()
        assert done.triggered
        cycles = max(sim.end, env.now, *sim.channel_free)
        return cycles, [(i, sim._mnemonic[i], s, e) for i, _, s, e in sim.log]

    def _nodes(self, nodes):
        for n in nodes:
            if isinstance(n, Loop):
                yield from self._loop(n)
            else:
                yield from self._issue(self.sim.timed(n))

    def _loop(self, loop):
        sim, tr = self.sim, _Tracker()
        sim.trackers.append((tr, 0))
        for it in range(loop.trip):
            sim.trackers[-1] = (tr, it)
            tr.starts.append(self.env.now)
            tr.ends.append(-1.0)
            yield from self._nodes(loop.body)
        sim.trackers.pop()

    def _issue(self, r):
        sim, env = self.sim, self.env
        sim.n_sim += 1
        ready = env.now
        for pend, ready_at, regs in ((sim.x_pend, sim.x_ready, r.xs),
                                     (sim.f_pend, sim.f_ready, r.fsrc)):
            for reg in regs:
                if pend[reg] is not None:
                    yield pend[reg].event
                ready = max(ready, ready_at[reg])
        if r.vector:
            ready = max(ready, sim.vset_ready, sim.vec_next)
            if sim.at_commit:  # handed over at commit: after the older scalar instructions
                ready = max(ready, sim.scalar_done)
        if r.is_sdiv:
            ready = max(ready, sim.sdiv_free)
        if ready > env.now:
            yield env.timeout(ready - env.now)
        if env.now >= sim.cycle + 1:
            sim.cycle, sim.slots, sim.vec_in_cycle = math.floor(env.now), 0, False
        if sim.slots >= sim.issue_width or (r.vector and sim.vec_in_cycle):
            yield env.timeout(sim.cycle + 1 - env.now)
            sim.cycle, sim.slots, sim.vec_in_cycle = math.floor(env.now), 0, False
        sim.slots += 1
        sim.vec_in_cycle = sim.vec_in_cycle or r.vector
        if r.vector and (sim.issue_interval > 1 or r.ack):  # the host's vector-issue rate
            sim.vec_next = sim.cycle + sim.issue_interval + r.ack
        if not r.vector:
            sim.now = env.now
            sim._complete_scalar(r)
            return
        signals = []
        for pend, ready_at, regs in ((sim.x_pend, sim.x_ready, r.xd),
                                     (sim.f_pend, sim.f_ready, r.fdst)):
            for reg in regs:
                sig = pend[reg] = _EventSignal(env)
                signals.append((pend, ready_at, reg, sig))
        yield self.queue.put((r, tuple(sim.trackers), signals))

    def _dispatcher(self):
        sim, env = self.sim, self.env
        while True:
            entry = yield self.queue.get()
            frees = sim.seq_free[entry[0].seq]
            k = min(range(len(frees)), key=frees.__getitem__) if len(frees) > 1 else 0
            if frees[k] > env.now:
                yield env.timeout(frees[k] - env.now)
            sim.now = env.now
            sim._dispatch(entry, frees, k)
            yield env.timeout(1)


def _agree(prog, cfg, cores: int = 1) -> None:
    fast = simulate(prog, cfg, cores, mode="full", log=True)
    cycles, log = SimPyReference(prog, cfg, cores).run()
    assert fast.log == log
    assert fast.cycles == cycles


@pytest.mark.parametrize(("row", "target"), list(_cases()))
def test_kernels_time_as_in_simpy(row, target):
    cfg = make(target).config
    _agree(kernels.lower(row, cfg.isa, cfg.core(row["dtype"])), cfg, cores=2)


# random straight-line mixes inside a loop: (mnemonic, operand builder)
_OPS = {
    "vfadd": lambda b, d, s: b.emit("vfadd.vv", V(d), V(s), V((s + 8) % 32)),
    "vfmacc": lambda b, d, s: b.emit("vfmacc.vf", V(d), F(1), V(s)),
    "vfredusum": lambda b, d, s: b.emit("vfredusum.vs", V(d), V(s), V(d)),
    "vle": lambda b, d, s: b.emit("vle32.v", V(d), b.mem("m", 16 * s, 32)),
    "vse": lambda b, d, s: b.emit("vse32.v", V(s), b.mem("m", 16 * d, 32)),
    "vfmv.f.s": lambda b, d, s: b.emit("vfmv.f.s", F(2 + d % 4), V(s)),
    "fadd": lambda b, d, s: b.emit("fadd.s", F(6), F(2 + d % 4), F(2 + s % 4)),
    "fdiv": lambda b, d, s: b.emit("fdiv.s", F(7), F(2 + d % 4), F(1)),
    "flw": lambda b, d, s: b.emit("flw", F(2 + d % 4), b.mem("m", d, 32)),
    "addi": lambda b, d, s: b.emit("addi", X(5 + d % 3), X(5 + s % 3), 1),
}


@st.composite
def _mixes(draw):
    ops = draw(st.lists(st.tuples(st.sampled_from(sorted(_OPS)), st.integers(0, 3),
                                  st.integers(0, 3)), min_size=1, max_size=14))
    # vector.issue_interval, timing.vector_dead_time, vector.mem_ack_cycles and
    # vector.dispatch_at_commit: the per-instruction fixed costs and the host's handshake
    return ops, draw(st.integers(1, 5)), draw(st.sampled_from([1, 2, 4, 8])), \
        draw(st.sampled_from([1, 1, 3, 6])), draw(st.sampled_from([0, 0, 2])), \
        draw(st.sampled_from([0, 0, 4])), draw(st.booleans())


@settings(max_examples=60, deadline=None, derandomize=True)
@given(_mixes())
def test_random_mixes_time_as_in_simpy(mix):
    ops, trip, depth, interval, dead, ack, at_commit = mix
    cfg = make("x280-like+xattn", {"vector.queue_depth": depth,
                                   "vector.issue_interval": interval,
                                   "timing.vector_dead_time": dead,
                                   "vector.mem_ack_cycles": ack,
                                   "vector.dispatch_at_commit": at_commit}).config
    b = Builder("mix", cfg.parsed_isa, cfg.vector.vlen)
    b.buffer("m", "fp32", 1 << 10, "scratch")
    b.vsetvli(16, 32, 2)
    with b.loop("i", trip):
        for name, d, s in ops:
            _OPS[name](b, 8 * d, 8 * s)
    _agree(b.program(), cfg)


@pytest.mark.parametrize(("row", "target"), list(_cases())[:6])
def test_a_finished_simulation_is_freed_without_the_cyclic_collector(row, target):
    """Issue #12: a simulator holds its bound methods while it runs (each body's handlers);
    once run it is freed by reference counting alone, with its records, instead of
    becoming thousands of objects of cyclic garbage per sweep point."""
    import gc
    import weakref

    cfg = make(target).config
    sim = CoreSim(kernels.lower(row, cfg.isa, cfg.core(row["dtype"])), cfg)
    stats = sim.run()
    first, _ = next(iter(sim.prog.walk()))
    assert stats.cycles > 0 and sim.timed(first).occ >= 0  # still answers
    ref = weakref.ref(sim)
    gc.disable()
    try:
        del sim
        assert ref() is None
    finally:
        gc.enable()
