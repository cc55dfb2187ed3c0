"""Where each memory instruction's bytes come from: L1, L2 or DRAM.

The rule (a reuse-distance estimate on the loop nest, decided once per program):

1. *Cold* bytes (an address's first touch in the op) come from where the op's data sits
   when it starts: L2 if the op's footprint on this core (the sum of its non-scratch
   buffers) fits this core's share of L2, else DRAM. Scratch and constant buffers are
   written or loaded by the kernel itself: cold from the smallest level that holds them.
2. A memory instruction whose address does not depend on an enclosing loop's variable
   (and is not data-dependent: a gather's row address in a base register, or an indexed
   access)
   re-touches the same bytes on every iteration of that loop ("the loop carries reuse").
   For invariant loops j1 (innermost) .. jn (outermost) with trips t1..tn, a fraction
   (1 - 1/t1) of its accesses are reuses carried by j1, (1/t1)(1 - 1/t2) by j2, ..., and
   1/(t1...tn) are cold. The reuse distance of loop j is the bytes all memory instructions
   move during one iteration of j's body; the reuse hits the smallest level (L1, L2, DRAM)
   whose per-core capacity holds that distance (an LRU cache of that size keeps it).
3. Every access (vector or scalar) also passes through L1 at ``l1d.bytes_per_cycle``
   (the port); bytes from DRAM are refilled through L2 and use its bandwidth too.

Shared caches and DRAM divide their capacity and bandwidth equally among the cores that
run the op's shards (all shards run the same program concurrently, see replay).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from codesign.riscv.config import RiscvConfig
from isa.instructions import InstrDef, lookup
from isa.program import Instr, InstrTiming, Loop, Node, Program
from isa.timing import TimingParams

LEVELS = ("l1", "l2", "dram")

# Instruction timings by value, for the last few timing parameter sets: programs repeat
# the same instructions (the 16k static instructions of qwen3.5-397b-a17b prefill's shard
# programs on two targets are 3.5k distinct ones), and an Instr's timing is a function of
# its value, its definition and the parameters. Each entry keeps the definition it was
# computed with: an instruction a user redefines (isa.define, replace=True) is timed anew.
Timings = dict[Instr, tuple[InstrDef, InstrTiming]]
_TIMINGS: OrderedDict[TimingParams, Timings] = OrderedDict()
_TIMINGS_KEPT = 8


def timings(tp: TimingParams) -> Timings:
    """The memo of instruction timings on ``tp`` (see :func:`timing`)."""
    memo = _TIMINGS.get(tp)
    if memo is None:
        memo = _TIMINGS[tp] = {}
        while len(_TIMINGS) > _TIMINGS_KEPT:
            _TIMINGS.popitem(last=False)
    else:
        _TIMINGS.move_to_end(tp)
    return memo


def timing(ins: Instr, tp: TimingParams, memo: Timings) -> InstrTiming:
    """``ins.timing(tp)``, computed once per distinct instruction and definition
    (``memo``: :func:`timings` of ``tp``)."""
    d = lookup(ins.op)  # ins.defn, without the property's import
    hit = memo.get(ins)
    if hit is None or hit[0] is not d:
        hit = memo[ins] = (d, ins.timing(tp))
    return hit[1]


@dataclass(frozen=True)
class Hierarchy:
    """Per-core view of the memory hierarchy for one op run on ``cores`` cores."""

    capacity: tuple[float, float, float]  # bytes: L1, L2 share, DRAM (inf)
    bytes_per_cycle: tuple[float, float, float]  # per-core share of each level's bandwidth
    latency: tuple[float, float, float]  # cycles

    @classmethod
    def of(cls, cfg: RiscvConfig, cores: int) -> Hierarchy:
        l1, l2 = cfg.l1d, cfg.l2
        c = max(1, cores)
        l1_cap = l1.size_kib * 1024 / (c if l1.shared else 1)
        l2_cap = l2.size_kib * 1024 / (c if l2.shared else 1)
        l1_bw = l1.bytes_per_cycle / (c if l1.shared else 1)
        l2_bw = l2.bytes_per_cycle / (c if l2.shared else 1)
        dram_bw = cfg.dram_bytes_per_cycle() / c
        return cls((l1_cap, l2_cap, float("inf")), (l1_bw, l2_bw, dram_bw),
                   (float(l1.latency), float(l2.latency), cfg.dram_latency_cycles()))

    def smallest_holding(self, nbytes: float, start: int = 0) -> int:
        for lvl in range(start, len(LEVELS)):
            if nbytes <= self.capacity[lvl]:
                return lvl
        return len(LEVELS) - 1


def buffer_bytes(prog: Program, name: str) -> int:
    b = prog.buffers[name]
    return b.size * b.eew // 8


def footprint(prog: Program) -> int:
    """Bytes of the op's own data (inputs, outputs; not scratch or constants)."""
    return sum(buffer_bytes(prog, n) for n, b in prog.buffers.items()
               if b.role in ("in", "out", "inout"))


def _body_bytes(nodes: Sequence[Node], tp: TimingParams, memo: dict[int, float],
                times: Timings) -> float:
    """Bytes all memory instructions move in one execution of ``nodes``."""
    total = 0.0
    for n in nodes:
        if isinstance(n, Loop):
            total += n.trip * _loop_iter_bytes(n, tp, memo, times)
        elif n.mem is not None:
            total += float(timing(n, tp, times).mem_bytes)
    return total


def _loop_iter_bytes(loop: Loop, tp: TimingParams, memo: dict[int, float],
                     times: Timings) -> float:
    key = id(loop)
    if key not in memo:
        memo[key] = _body_bytes(loop.body, tp, memo, times)
    return memo[key]


def plan(prog: Program, tp: TimingParams, hier: Hierarchy) -> dict[int, tuple[float, float, float]]:
    """For each static memory instruction (by ``id``): the fraction of its bytes
    served by L1, L2 and DRAM (summing to 1)."""
    cold_data = hier.smallest_holding(footprint(prog), start=1)
    memo: dict[int, float] = {}
    times = timings(tp)
    out: dict[int, tuple[float, float, float]] = {}

    def rec(nodes: Sequence[Node], stack: tuple[Loop, ...]) -> None:
        for n in nodes:
            if isinstance(n, Loop):
                rec(n.body, (*stack, n))
                continue
            mem = n.mem
            if mem is None:
                continue
            role = prog.buffers[mem.buf].role if mem.buf in prog.buffers else "in"
            if role in ("scratch", "const"):
                cold = hier.smallest_holding(buffer_bytes(prog, mem.buf))
            else:
                cold = cold_data
            used = {v for v, _ in mem.offset.terms}
            loop_vars = {lp.var for lp in stack}
            # an address held in a register (a gather: table[x6]) is data-dependent: no
            # reuse is assumed across any loop
            data_dependent = bool(used - loop_vars) or getattr(mem, "base", None) is not None \
                or mem.index is not None
            frac = [0.0, 0.0, 0.0]
            remaining = 1.0
            for loop in reversed(stack):  # innermost first
                if data_dependent or loop.var in used or loop.trip <= 1:
                    continue
                reuse = remaining * (1.0 - 1.0 / loop.trip)
                dist = _loop_iter_bytes(loop, tp, memo, times)
                frac[hier.smallest_holding(dist)] += reuse
                remaining -= reuse
            frac[cold] += remaining
            out[id(n)] = (frac[0], frac[1], frac[2])

    rec(prog.body, ())
    return out


def level_bytes(prog: Program, tp: TimingParams, hier: Hierarchy,
                fractions: dict[int, tuple[float, float, float]] | None = None
                ) -> tuple[float, float, float]:
    """Dynamic bytes served by L1, L2 and DRAM over the whole program (one core)."""
    fractions = fractions if fractions is not None else plan(prog, tp, hier)
    memo = timings(tp)
    tot = [0.0, 0.0, 0.0]
    for ins, count in prog.walk():
        f = fractions.get(id(ins))
        if f is None or not count:
            continue
        nb = timing(ins, tp, memo).mem_bytes * count
        for lvl in range(3):
            tot[lvl] += nb * f[lvl]
    return tot[0], tot[1], tot[2]
