"""Where each memory instruction's bytes come from: L1, L2 or DRAM.

The rule (a reuse-distance estimate on the loop nest, decided once per program):

1. *Cold* bytes (an address's first touch in the op) come from where the op's data sits
   when it starts: L2 if the op's footprint on this core (the sum of its non-scratch
   buffers) fits this core's share of L2, else DRAM (L1 first when ``memory.data_in_l1``:
   a scratchpad kernel whose data a DMA placed there). A GEMM's weights (its ``B...``
   input buffers) come from DRAM in a forward pass (``memory.weights_cached`` false: the
   other layers' weights evicted them). Scratch and constant buffers are written or
   loaded by the kernel itself: cold from the smallest level that holds them.
2. A memory instruction whose address does not depend on an enclosing loop's variable
   (and is not data-dependent: a gather's row address in a base register, or an indexed
   access)
   re-touches the same bytes on every iteration of that loop ("the loop carries reuse").
   For invariant loops j1 (innermost) .. jn (outermost) with trips t1..tn, a fraction
   (1 - 1/t1) of its accesses are reuses carried by j1, (1/t1)(1 - 1/t2) by j2, ..., and
   1/(t1...tn) are cold. The reuse distance of loop j is the distinct bytes all memory
   instructions touch during one iteration of j's body (an access touches new bytes on
   each iteration of an inner loop its address moves with, the same ones on the others);
   the reuse hits the smallest level (L1, L2, DRAM) whose per-core capacity holds that
   distance (an LRU cache of that size keeps it). In a shared L2, data that k cores of
   the cluster all read (a GEMM's activations across a column split: the op kind's
   ``sharing``) sits once for all of them, so it counts 1/k against each core's share.
3. Every access (vector or scalar) also passes through L1 at ``l1d.bytes_per_cycle``
   (the port); bytes from DRAM are refilled through L2 and use its bandwidth too.
4. Beyond L1, traffic moves in cache lines (``memory.line_bytes``): a unit-stride access
   moves its bytes, but the elements of a strided or indexed access (the rows of a tile
   access) that sit in different lines each move a line, unless a loop walks along those
   lines (its step on the address is under a line) and they stay in L1 for the
   iterations that touch them; lines that L1 drops between those iterations come back
   from the level that held them meanwhile (:func:`line_factor`).

Levels sustain ``efficiency`` of their bandwidth. Shared caches divide their capacity and
bandwidth equally among the cores of their cluster that run the op's shards, DRAM among
all of them (all shards run the same program concurrently, see replay). The cores of an
op are spread over the clusters (``cluster.clusters``) as evenly as they go.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from typing import Any

from codesign.riscv.config import RiscvConfig
from isa.instructions import InstrDef, lookup
from isa.program import Instr, InstrTiming, Loop, Mem, Node, Program
from isa.timing import TimingParams

LEVELS = ("l1", "l2", "dram")

# Instruction timings by value, for the last few timing parameter sets: programs repeat
# the same instructions (the 16k static instructions of qwen3.5-397b-a17b prefill's shard
# programs on two targets are 3.5k distinct ones), and an Instr's timing is a function of
# its value, its definition and the parameters. Each entry keeps the definition it was
# computed with: an instruction a user redefines (isa.define, replace=True) is timed anew.
class Timings(dict[Instr, tuple[InstrDef, InstrTiming]]):
    """Instruction timings on one set of timing parameters, by value; ``by_id`` holds the
    same entries by instruction object (with the object, so that its id stays its own):
    a program's instructions are timed several times each (memory plan, busy floor, the
    core's records, level bytes), and finding one by value compares it field by field
    (issue #12)."""

    __slots__ = ("by_id",)
    BY_ID_MAX = 200_000  # objects remembered at most (then forgotten at once)

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[int, tuple[Instr, InstrDef, InstrTiming]] = {}


_TIMINGS: OrderedDict[TimingParams, Timings] = OrderedDict()
_TIMINGS_KEPT = 8


def timings(tp: TimingParams) -> Timings:
    """The memo of instruction timings on ``tp`` (see :func:`timing`)."""
    memo = _TIMINGS.get(tp)
    if memo is None:
        memo = _TIMINGS[tp] = Timings()
        while len(_TIMINGS) > _TIMINGS_KEPT:
            _TIMINGS.popitem(last=False)
    else:
        _TIMINGS.move_to_end(tp)
    return memo


def timing(ins: Instr, tp: TimingParams, memo: Timings) -> InstrTiming:
    """``ins.timing(tp)``, computed once per distinct instruction and definition
    (``memo``: :func:`timings` of ``tp``)."""
    d = lookup(ins.op)  # ins.defn, without the property's import
    by_id = memo.by_id
    seen = by_id.get(id(ins))
    if seen is not None and seen[0] is ins and seen[1] is d:
        return seen[2]
    hit = memo.get(ins)
    if hit is None or hit[0] is not d:
        hit = memo[ins] = (d, ins.timing(tp))
    if len(by_id) >= Timings.BY_ID_MAX:
        by_id.clear()
    by_id[id(ins)] = (ins, d, hit[1])
    return hit[1]


@dataclass(frozen=True)
class Hierarchy:
    """Per-core view of the memory hierarchy for one op run on ``cores`` cores."""

    capacity: tuple[float, float, float]  # bytes: L1, L2 share, DRAM (inf)
    bytes_per_cycle: tuple[float, float, float]  # per-core share of each level's sustained
    # bandwidth
    latency: tuple[float, float, float]  # cycles
    # misses of L1 and of L2 this core keeps in flight (inf: unlimited)
    outstanding: tuple[float, float] = (math.inf, math.inf)
    line_bytes: int = 64
    # (buffer name prefix, cores of the cluster that read the same bytes of it): a shared L2
    # holds such data once for all of them (see plan); empty for a private L2
    sharing: tuple[tuple[str, int], ...] = ()
    weights_cached: bool = True  # memory.weights_cached: a GEMM's B may start in L2
    data_in_l1: bool = False  # memory.data_in_l1: the op's data may start in L1

    @classmethod
    def of(cls, cfg: RiscvConfig, cores: int,
           sharing: tuple[tuple[str, int], ...] = ()) -> Hierarchy:
        # an op's ways and programs ask for the same few views of one config many times
        # (the split search's bounds, every core run; issue #12): kept per config object
        key = (id(cfg), cores, sharing)
        hit = _HIERARCHIES.get(key)
        if hit is not None and hit[0] is cfg and type(hit[1]) is cls:
            return hit[1]
        if len(_HIERARCHIES) >= _HIERARCHIES_MAX:
            _HIERARCHIES.clear()
        h = cls._of(cfg, cores, sharing)
        _HIERARCHIES[key] = (cfg, h)
        return h

    @classmethod
    def _of(cls, cfg: RiscvConfig, cores: int,
            sharing: tuple[tuple[str, int], ...]) -> Hierarchy:
        l1, l2 = cfg.l1d, cfg.l2
        c = max(1, cores)
        _, per = cfg.placement(c)  # cores of this op in each cluster used
        shared_data = tuple((prefix, min(k, per)) for prefix, k in sharing
                            if l2.shared and min(k, per) > 1)

        def share(shared: bool) -> int:
            return per if shared else 1

        l1_cap = l1.size_kib * 1024 / share(l1.shared)
        l2_cap = l2.size_kib * 1024 / share(l2.shared)
        l1_bw = l1.bytes_per_cycle * l1.efficiency / share(l1.shared)
        l2_bw = l2.bytes_per_cycle * l2.efficiency / share(l2.shared)
        dram_bw = cfg.dram_bytes_per_cycle() / c
        mlp = tuple(math.inf if lvl.outstanding_misses is None
                    else lvl.outstanding_misses / share(lvl.shared) for lvl in (l1, l2))
        return cls((l1_cap, l2_cap, float("inf")), (l1_bw, l2_bw, dram_bw),
                   (float(l1.latency), float(l2.latency), cfg.dram_latency_cycles()),
                   (mlp[0], mlp[1]), cfg.memory.line_bytes, shared_data,
                   cfg.memory.weights_cached, cfg.memory.data_in_l1)

    def l2_weight(self, buf: str) -> float:
        """The part of a byte of ``buf`` that occupies this core's share of L2: 1/k for
        data the k cores of the cluster all read (one copy serves them), else 1."""
        for prefix, k in self.sharing:
            if buf.startswith(prefix):
                return 1.0 / k
        return 1.0

    def holding(self, nbytes: Bytes, start: int = 0) -> int:
        """The smallest level from ``start`` holding a reuse distance of ``nbytes`` (all
        bytes for L1, the L2-weighted ones for L2)."""
        if start == 0 and nbytes[0] <= self.capacity[0]:
            return 0
        return 1 if nbytes[1] <= self.capacity[1] else 2

    def miss_cycles(self, l2_bytes: float, dram_bytes: float) -> tuple[float, float]:
        """Cycles the L1 and the L2 miss queues are held by a load that brings ``l2_bytes``
        from L2 and ``dram_bytes`` from DRAM into L1: each line holds an entry for the
        latency of the level that serves it, ``outstanding`` entries at a time (Little's
        law: at most outstanding x line / latency bytes per cycle)."""
        line = self.line_bytes
        lat = self.latency
        l1 = (l2_bytes * lat[1] + dram_bytes * lat[2]) / line / self.outstanding[0]
        l2 = dram_bytes * lat[2] / line / self.outstanding[1]
        return l1, l2

    def smallest_holding(self, nbytes: float, start: int = 0) -> int:
        for lvl in range(start, len(LEVELS)):
            if nbytes <= self.capacity[lvl]:
                return lvl
        return len(LEVELS) - 1


# (id of a config, cores, sharing) -> (the config, its Hierarchy.of): the config is kept
# so that its id stays its own; emptied when it grows past _HIERARCHIES_MAX
_HIERARCHIES: dict[tuple[int, int, tuple[tuple[str, int], ...]], tuple[RiscvConfig, Any]] = {}
_HIERARCHIES_MAX = 10_000


def buffer_bytes(prog: Program, name: str) -> int:
    b = prog.buffers[name]
    return b.size * b.eew // 8


def footprint(prog: Program) -> int:
    """Bytes of the op's own data (inputs, outputs; not scratch or constants)."""
    return sum(buffer_bytes(prog, n) for n, b in prog.buffers.items()
               if b.role in ("in", "out", "inout"))


# Bytes as (all of them, their L2 weight): what a private level and a shared L2 hold
Bytes = tuple[float, float]


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


def _address(ins: Instr) -> tuple[frozenset[str], bool]:
    """The loop variables ``ins``'s address moves with, and whether it is held in a
    register (a gather: table[x6], an indexed access)."""
    mem = ins.mem
    assert mem is not None
    return (frozenset(v for v, _ in mem.offset.terms),
            getattr(mem, "base", None) is not None or mem.index is not None)


def _data_dependent(address: tuple[frozenset[str], bool], loop_vars: Set[str]) -> bool:
    """Whether an access at ``address`` (:func:`_address`) inside the loops of
    ``loop_vars`` depends on data (held in a register, or moving with a variable no loop
    steps): no reuse is assumed across any loop."""
    used, in_register = address
    return in_register or not used <= loop_vars


def buffer_role(prog: Program, buf: str) -> str:
    """The role of ``prog``'s buffer ``buf`` (``in`` for one the program does not
    declare)."""
    b = prog.buffers.get(buf)
    return b.role if b is not None else "in"


# What _distinct_bytes needs of a memory instruction: its bytes, :func:`_address`, its L2
# weight; _UNSEEN marks an instruction its memo has not seen yet
_Access = tuple[float, tuple[frozenset[str], bool], float]
_UNSEEN: Any = object()


def _distinct_bytes(nodes: Sequence[Node], inner: tuple[Loop, ...], tp: TimingParams,
                    times: Timings, hier: Hierarchy, outer: frozenset[str],
                    info: dict[int, _Access | None] | None = None,
                    loop_vars: frozenset[str] | None = None) -> Bytes:
    """Distinct bytes the memory instructions of ``nodes`` touch in one execution (inside
    the loops ``inner``): an access touches new bytes on each iteration of an inner loop
    its address moves with, the same bytes on the others (a data-dependent access new
    bytes on every one). Accesses to the same buffer are not merged (an upper bound).

    ``info``: a memo, per static instruction (by ``id``), of what the sum needs of it (its
    bytes, its :func:`_address`, its L2 weight; None without a memory operand), shared by
    the calls of one :func:`plan`;
    ``loop_vars``: ``outer`` and the variables of ``inner`` (computed when not given)."""
    if info is None:
        info = {}
    if loop_vars is None:
        loop_vars = outer | {lp.var for lp in inner}
    total = weighted = 0.0
    for n in nodes:
        if isinstance(n, Loop):
            b = _distinct_bytes(n.body, (*inner, n), tp, times, hier, outer, info,
                                loop_vars | {n.var})
            total += b[0]
            weighted += b[1]
            continue
        got = info.get(id(n), _UNSEEN)
        if got is _UNSEEN:
            mem = n.mem
            got = info[id(n)] = None if mem is None else (
                float(timing(n, tp, times).mem_bytes), _address(n), hier.l2_weight(mem.buf))
        if got is None:  # no memory operand
            continue
        nbytes, address, l2w = got
        every = _data_dependent(address, loop_vars)
        times_new = 1
        for lp in inner:
            if every or lp.var in address[0]:
                times_new *= lp.trip
        b0 = nbytes * times_new
        total += b0
        weighted += b0 * l2w
    return total, weighted


def plan(prog: Program, tp: TimingParams, hier: Hierarchy) -> dict[int, tuple[float, float, float]]:
    """For each static memory instruction (by ``id``): the bytes served by L1, L2 and DRAM
    per byte it accesses. The L1 share is the fraction of its accesses that hit L1; the
    L2 and DRAM shares are the fractions that miss to them times the bytes the
    instruction moves in lines (:func:`line_factor`), plus the lines it re-fetches from the
    level that held them: they sum to 1 for an access that moves whole lines of its own
    data (unit stride)."""
    data = [(buffer_bytes(prog, n), hier.l2_weight(n)) for n, b in prog.buffers.items()
            if b.role in ("in", "out", "inout")]
    cold_data = hier.holding((sum(b for b, _ in data), sum(b * w for b, w in data)),
                             0 if hier.data_in_l1 else 1)
    weights = prog.meta.get("kind") == "gemm" and not hier.weights_cached
    memo: dict[int, float] = {}
    distinct: dict[int, Bytes] = {}  # per loop: what one iteration touches
    info: dict[int, _Access | None] = {}  # _distinct_bytes
    times = timings(tp)
    out: dict[int, tuple[float, float, float]] = {}
    bodies: dict[int, dict[_LineKey, list[int]]] = {}  # line_groups of each body

    def rec(nodes: Sequence[Node], stack: tuple[Loop, ...]) -> None:
        for n in nodes:
            if isinstance(n, Loop):
                rec(n.body, (*stack, n))
                continue
            mem = n.mem
            if mem is None:
                continue
            role = buffer_role(prog, mem.buf)
            if role in ("scratch", "const"):
                own = buffer_bytes(prog, mem.buf)
                cold = hier.holding((own, own * hier.l2_weight(mem.buf)))
            elif weights and mem.buf.startswith("B") and role == "in":
                cold = 2  # a forward pass's weights: evicted since the layer last ran
            else:
                cold = cold_data
            address = _address(n)
            used = address[0]
            data_dependent = _data_dependent(address, {lp.var for lp in stack})
            frac = [0.0, 0.0, 0.0]
            remaining = 1.0
            for loop in reversed(stack):  # innermost first
                if data_dependent or loop.var in used or loop.trip <= 1:
                    continue
                reuse = remaining * (1.0 - 1.0 / loop.trip)
                dist = distinct.get(id(loop))
                if dist is None:
                    outer = frozenset(lp.var for lp in stack[:stack.index(loop) + 1])
                    dist = distinct[id(loop)] = _distinct_bytes(loop.body, (), tp, times, hier,
                                                                outer, info)
                frac[hier.holding(dist)] += reuse
                remaining -= reuse
            frac[cold] += remaining
            lines = line_factor(n, stack, nodes, hier,
                                lambda lp: _loop_iter_bytes(lp, tp, memo, times), bodies)
            moved = [frac[0], frac[1] * lines.own, frac[2] * lines.own]
            if lines.refetch:
                # lines L1 dropped come back from the level that held them meanwhile
                again = hier.smallest_holding(lines.distance, 1)
                moved[again] += (frac[1] + frac[2]) * lines.refetch
            out[id(n)] = (moved[0], moved[1], moved[2])

    rec(prog.body, ())
    return out


@dataclass(frozen=True)
class LineTraffic:
    """Bytes a strided, indexed or tile access moves beyond L1 per byte it accesses, when
    they move in lines: ``own`` from where its data sits (the walk's new bytes), and
    ``refetch`` more from the level that holds ``distance`` bytes (lines a walking loop
    comes back to after L1 has dropped them)."""

    own: float = 1.0
    refetch: float = 0.0
    distance: float = 0.0


def line_factor(ins: Instr, stack: Sequence[Loop], body: Sequence[Node], hier: Hierarchy,
                iter_bytes: Callable[[Loop], float],
                groups: dict[int, dict[_LineKey, list[int]]] | None = None) -> LineTraffic:
    """How ``ins`` moves lines of ``hier.line_bytes`` from L2 or DRAM (own bytes only for
    the others: unit-stride vector accesses move whole lines of their own data, scalar
    accesses walk along rows).

    The instruction touches *pieces* of contiguous bytes, one element (strided, indexed)
    or one row (tile), ``pitch`` bytes apart (its stride; unknown for an indexed gather). A
    piece of a line or more moves its own bytes. A shorter piece moves a line, or ``pitch``
    bytes when pieces share lines. A loop that walks along the line (steps the address by
    ``step`` < line bytes) needs only ``max(piece, step)`` new bytes per iteration
    (``line / trip`` if it ends first); when the line stays in L1 for the ``line / step``
    iterations that touch it (its reuse distance, ``iter_bytes`` of that loop times the
    iterations between the first and the last touch, fits L1), that is all it moves;
    otherwise each iteration moves the line again, the rest of it re-fetched from the
    level that holds one iteration's bytes. The loops that walk are the enclosing ones and
    a loop that follows ``ins`` in its body and continues its walk (``ins`` is its peeled
    first iteration; :func:`_walks`). Accesses of the same body to the same lines (same
    buffer, pattern and loop terms, offsets closer than the bytes one moves) share those
    bytes (``groups``: a memo of :func:`line_groups` by body ``id``, when the caller
    keeps one).
    """
    mem = ins.mem
    assert mem is not None
    if not ins.defn.vector or (mem.pattern == "unit" and
                               ins.defn.exec_kind not in ("tload", "tstore")):
        return LineTraffic()
    elem = max(1, mem.eew // 8)
    if ins.defn.exec_kind in ("tload", "tstore"):
        _, cols = ins.operand("imm")
        piece, pitch = int(cols) * elem, float(mem.stride * elem)
    elif mem.pattern == "strided":
        piece, pitch = elem, float(mem.stride * elem)
    else:  # indexed: one element each, lines unknown
        piece, pitch = elem, math.inf
    line = hier.line_bytes
    if piece >= line:
        return LineTraffic()
    moved = min(float(line), pitch)  # bytes per piece without a walk
    kept, dropped = moved, (moved, 0.0)  # (new bytes per piece, re-fetch distance)
    if mem.pattern != "indexed" and mem.base is None:
        for loop, coef in _walks(ins, stack, body, line):
            step = abs(coef) * elem
            if step >= line or loop.trip <= 1:
                continue
            new = max(piece, step, line / loop.trip)
            # the line's reuse distance: the bytes of the iterations between its first
            # and last touch (rule 2's LRU estimate)
            visits = min(loop.trip, math.ceil(line / step))
            if iter_bytes(loop) * (visits - 1) <= hier.capacity[0]:
                kept = min(kept, new)  # kept in L1: the walk moves each line once
            elif new < dropped[0]:  # dropped by L1: re-fetched one iteration later
                dropped = (new, iter_bytes(loop))
    own, distance = (kept, 0.0) if kept < moved or not dropped[1] else dropped
    total = moved if distance else own
    total = max(piece, total / _sharing(ins, body, total, groups))
    own = min(total, max(piece, own / _sharing(ins, body, own, groups)))
    return LineTraffic(own / piece, (total - own) / piece, distance)


def _walks(ins: Instr, stack: Sequence[Loop], body: Sequence[Node], line: int
           ) -> list[tuple[Loop, int]]:
    """The loops that may walk along the lines ``ins`` touches, each with its coefficient
    on the address: the enclosing loops (innermost first), and the loops of ``body`` that
    continue the walk after ``ins`` (a kernel that peels a loop's first iteration: the
    loop holds the same access, its address stepped by the loop's variable, starting less
    than a line after ``ins``'s)."""
    mem = ins.mem
    assert mem is not None
    elem = max(1, mem.eew // 8)
    coef = dict(mem.offset.terms)
    out = [(loop, coef[loop.var]) for loop in reversed(stack) if coef.get(loop.var)]
    for loop in body:
        if not isinstance(loop, Loop):
            continue
        for other in loop.body:
            if not isinstance(other, Instr) or not _same_lines(ins, other):
                continue
            assert other.mem is not None
            rest = dict(other.mem.offset.terms)
            c = rest.pop(loop.var, 0)
            ahead = (other.mem.offset.const - mem.offset.const) * elem
            if c and rest == coef and 0 < ahead < line:
                out.append((loop, c))
                break
    return out


def _same_lines(ins: Instr, other: Instr) -> bool:
    """``other`` is the access ``ins`` is, up to its offset: same operation, buffer,
    pattern and stride, its address in no register."""
    a, b = ins.mem, other.mem
    return a is not None and b is not None and other.op == ins.op and b.buf == a.buf and \
        b.pattern == a.pattern and b.stride == a.stride and b.base is None and a.base is None


# An access's lines as :func:`_same_lines` and :func:`_sharing` compare them: (operation,
# buffer, pattern, stride, loop terms of its offset)
_LineKey = tuple[str, str, str, int, tuple[tuple[str, int], ...]]


def _line_key(ins: Instr, mem: Mem) -> _LineKey:
    return ins.op, mem.buf, mem.pattern, mem.stride, mem.offset.terms


def line_groups(body: Sequence[Node]) -> dict[_LineKey, list[int]]:
    """The accesses of ``body`` whose address is in no register, by :func:`_line_key`:
    each group's offset constants (what :func:`_sharing` counts; computed once per body
    rather than once per access, issue #12)."""
    out: dict[_LineKey, list[int]] = {}
    for other in body:
        if isinstance(other, Instr):
            m = other.mem
            if m is not None and m.base is None:
                out.setdefault(_line_key(other, m), []).append(m.offset.const)
    return out


def _sharing(ins: Instr, body: Sequence[Node], window: float,
             groups: dict[int, dict[_LineKey, list[int]]] | None = None) -> int:
    """How many accesses of ``body`` (``ins`` among them) touch the ``window`` bytes that
    ``ins`` moves per piece: the same access (:func:`_same_lines`) with the same loop
    terms, offsets less than ``window`` apart (``groups``: a memo of :func:`line_groups`
    by body ``id``)."""
    mem = ins.mem
    assert mem is not None
    elem = max(1, mem.eew // 8)
    n = 0
    if mem.base is None:
        memo = groups if groups is not None else {}
        by_key = memo.get(id(body))
        if by_key is None:
            by_key = memo[id(body)] = line_groups(body)
        c0 = mem.offset.const
        n = sum(1 for c in by_key.get(_line_key(ins, mem), ()) if abs(c - c0) * elem < window)
    return max(1, min(n, int(window // elem)))


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
