"""The cycle-approximate vector core: a discrete-event model of one core running one
program, with SimPy's semantics (its processes, Store and event order).

Machine (riscv.md §4.1 SiFive7 and §5 "Recommended SimPy core model"):

- **Front end** (a process): in-order, ``scalar.issue_width`` instructions per cycle,
  at most one of them a vector instruction, and vector instructions at least
  ``vector.issue_interval`` cycles apart (the host's vector-issue rate), and
  ``vector.mem_ack_cycles`` more after a vector load or store (a host whose vector unit
  acknowledges memory instructions late); with ``vector.dispatch_at_commit`` a vector
  instruction also waits until every older scalar instruction has completed (a host that
  hands it over non-speculatively, at commit). An instruction
  issues when its scalar source registers are ready (a scalar read of a vector result,
  ``vfmv.f.s``, waits for the vector unit: the scalar round trip); with
  ``scalar.fp_store_load_cycles`` an integer load of a word an FP store wrote issues no
  sooner than that many cycles after the store (two LSUs kept consistent by a queue of
  the FP accesses' addresses). Scalar instructions
  complete after their latency; ``fdiv.s``/``fsqrt.s`` hold the unpipelined divider.
  A load of constant data kept outside the cluster (``memory.const_load_latency``) is a
  round trip to it, and with ``memory.const_loads_in_flight`` it starts only when the
  cluster's path to that memory has a place for it, the op's cores sharing the places
  alike (each load holds this core's share ``const_load_hold`` x cores / places cycles).
  With ``scalar.dcache_kib`` the host has a D-cache of its own that the vector unit
  bypasses (Ara beside CVA6): each dynamic scalar load's address (its buffer, line-aligned,
  at the enclosing loops' current iterations) is looked up in an LRU of whole lines, and a
  miss adds ``scalar.dcache_miss_cycles`` to its latency; when a loop is extrapolated its
  last iteration's scalar loads still bring their lines in.
  With ``scalar.ssr`` the loads a kernel marks as standing for stream semantic registers
  (the program's ``ssr_streams``) issue no instruction: they take no issue slot and have
  no load latency (the streamer runs ahead), a vector one still holding its sequencer for
  its bytes.
  Vector instructions enter the **vector command queue** (a store of
  ``vector.queue_depth`` entries); the front end stalls while it is full.
- **Dispatcher** (a process): takes the queue head in order, one per cycle, into the
  sequencer of its class once that sequencer is free: VA (int, fma, fdiv, reduction,
  permute; ``vector.arith_sequencers`` of them), VL (loads), VS (stores), VE (exp, when
  ``exp.present``), VM (matrix, when ``matrix.present``), and the sequencers of any unit
  a user module registers (``isa.Unit``: its own name, ``Unit.sequencers`` of them). A
  sequencer holds one instruction from entry until its last element group: it waits
  there for its operands, then runs for its occupancy (the instruction's timing rule:
  ceil(VL*SEW/DLEN), VL for strided and indexed accesses, the reduction and vfdiv
  formulas).
- **Operands**: a vector source is ready ``latency`` cycles after its producer started
  (chaining), plus ``max(0, occ_producer - occ_consumer)`` so that the consumer never
  overtakes the producer's element groups. Results whose latency already covers the whole
  instruction (mask results: 2*LMUL+3; reductions, vfdiv, strided: latency >= occupancy)
  are ready at ``start + latency``: mask results do not chain. With ``vector.chaining``
  off a result is ready ``latency`` cycles after the producer's last element group.
  A writer does not start before the previous readers of its registers started (WAR).
- **Memory**: each vector access moves its bytes through the L1 port and, for the
  fraction :mod:`codesign.riscv.memory` assigns to them, through L2 and DRAM (DRAM bytes
  are refilled through L2, so they use L2 bandwidth too); each level
  is a bandwidth resource (its ``free_at`` advances by bytes / bytes-per-cycle), so an
  access occupies its sequencer until both its element groups and its transfers are done.
  Affine (unit-stride and strided) accesses pay the L1 latency when ``memory.prefetch``
  (stream/stride prefetching); indexed gathers the expected latency of the levels serving
  them. With ``memory.prefetch_ahead`` too, an affine load's transfers beyond L1 may take
  place up to that latency before it issues (the prefetcher requested its lines while the
  core worked), never before their channel is free.

**Hierarchical simulation.** A loop is simulated iteration by iteration; after each
iteration the model compares the mean cycles per iteration of the last two windows of
``sim.window`` iterations, measured both where iterations enter (front end) and where they
leave (the end of their last instruction). When all four agree within ``sim.rtol``, the
machine is periodic (loops whose iterations take ``sim.long_iteration_cycles`` or more
use windows of one iteration: nothing in the pipeline outlives such an iteration). Then
the remaining iterations are not simulated (a loop of a shape already found steady
elsewhere in the program only needs two iterations at that rate to confirm it, and with
``sim.reuse_steady`` none: it is extrapolated at that rate after its first iteration); their
cycles
(remaining x cycles per iteration) are added to a clock offset, and simulation continues
after the loop with the state the steady state would have had (shifted in time). Nested
loops are handled inner first, recursively: an outer iteration contains its inner loops'
extrapolated time. ``mode="full"`` simulates every dynamic instruction (for validation).

**Engine.** The two processes are SimPy processes in their semantics, but they are run
as timestamps rather than through ``simpy.Environment``, which costs several event objects
and process switches per instruction (about 15 us; issue #12). The front end is plain
code that advances its clock; the dispatcher is a state machine whose one pending event
is kept as (time, scheduling order). Whenever the front end would wait (a timeout, a put
into the queue, a scalar result of a queued vector instruction) it first runs the
dispatcher's events that SimPy would process before its own: earlier times, and at equal
times the events scheduled earlier, with the Store's rules (a put enters at once when
there is room and its event then lets a waiting get take the head; a get's event lets a
put blocked on the full queue in). Every time is computed by the same arithmetic as the
SimPy version (``now + delay``), so results are identical to the bit:
``tests/riscv/test_core_engine.py`` checks the model against itself written as SimPy
processes and a ``simpy.Store``.
"""

from __future__ import annotations

import gc
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from codesign.riscv import memory
from codesign.riscv.config import RiscvConfig
from isa.instructions import lookup
from isa.instructions import unit as isa_unit
from isa.instructions import units as isa_units
from isa.program import Instr, InstrTiming, Loop, Node, Program
from isa.timing import TimingParams

# Memory channels an access moves through (indices of CoreSim.channel_free): the L1 port
# (loads, and stores when there is one port), L2, DRAM, the L1 store port of a two-port L1
# (memory.l1_ports = 2), and the L1 and L2 miss queues a load's lines occupy for the
# latency of the level serving them (l1d/l2.outstanding_misses; their "bytes" are cycles).
L1, L2, DRAM, L1_STORE, MISS_L1, MISS_L2 = 0, 1, 2, 3, 4, 5
# A register no instruction has read yet constrains no writer (write-after-read).
NEVER = -math.inf
INF = math.inf
# What the dispatcher waits on (its SimPy process's pending event): a get on the empty
# command queue (nothing scheduled), a get that found an instruction, the timeout until
# the instruction's sequencer is free, the one-cycle timeout after a dispatch.
_D_IDLE, _D_GET, _D_SEQ, _D_NEXT = range(4)

# The timing rules of the scalar FPU's instructions (isa.timing.RULES): computational,
# min/max and sign injection, results to integer registers.
SCALAR_FP_RULES = frozenset({"sfp", "sfpn", "sfpx"})

# Sequencer classes: the built-in ones; a unit with a sequencer of its own (isa.Unit) adds
# its name.
VA, VL, VS, VE, VM = "VA", "VL", "VS", "VE", "VM"


def sequencer(cfg: RiscvConfig, unit_name: str) -> str:
    """The sequencer class that runs instructions of ``unit_name`` on this core: the
    unit's own (``isa.Unit.sequencer``), except that the Xattn exp and matrix units share
    the arithmetic sequencers when the config says they are not present."""
    u = isa_unit(unit_name)
    if (u.name == "exp" and not cfg.exp.present) or (u.name == "matrix" and
                                                     not cfg.matrix.present):
        return VA
    return u.sequencer


def sequencer_counts(cfg: RiscvConfig) -> dict[str, int]:
    """How many instructions each sequencer class runs at once."""
    out = {VL: 1, VS: 1, VA: cfg.vector.arith_sequencers}
    for u in isa_units().values():
        if u.own_sequencer:
            out.setdefault(u.sequencer, u.sequencers)
    return out


def occupancy(cfg: RiscvConfig, tp: TimingParams, t: InstrTiming) -> float:
    """Cycles an instruction holds its sequencer at least: its timing rule's occupancy;
    on the Xattn exp unit its element groups at the unit's own width (``exp.width_bits``)
    plus the start-up dead time."""
    if t.unit == "exp":
        w = cfg.exp_width_bits
        if w != cfg.vector.dlen and t.vl and t.sew:
            return float(max(1, math.ceil(t.vl * t.sew / w)) + tp.vector_dead_time)
    return float(t.occupancy)


def ssr_streams(prog: Program, cfg: RiscvConfig) -> frozenset[str]:
    """The buffers whose loads stand for SSR streams on this core (``scalar.ssr``)."""
    return frozenset(prog.meta.get("ssr_streams", ())) if cfg.scalar.ssr else frozenset()


def busy_floor(prog: Program, cfg: RiscvConfig) -> float:
    """Cycles no run of ``prog`` on one core of ``cfg`` can beat, from its dynamic
    instruction counts (no simulation): each sequencer class holds every instruction it
    runs for at least its :func:`occupancy`, ``n`` instructions at once (its count,
    :func:`sequencer_counts`); the front end issues ``scalar.issue_width`` instructions a
    cycle, vector ones ``vector.issue_interval`` cycles apart, and the dispatcher one
    vector instruction a cycle; the last completion comes
    no earlier than the last issue. Exact bounds of a full simulation; a steady-state one
    extrapolates loops at the rate their iterations ran, which meets them once periodic
    (``tests/riscv/test_replay.py`` checks the bound against simulations)."""
    tp = cfg.timing_params()
    times = memory.timings(tp)
    busy: dict[str, float] = {}
    n_instr = n_vec = n_streamed = 0
    streams = ssr_streams(prog, cfg)
    for ins, count in prog.walk():
        if not count:
            continue
        d = lookup(ins.op)
        stream = ins.mem is not None and ins.mem.buf in streams and d.exec_kind in (
            "vload", "sload")
        if not stream:
            n_instr += count
        if not d.vector or d.exec_kind == "vset":
            continue
        if stream:
            n_streamed += count
        else:
            n_vec += count
        t = memory.timing(ins, tp, times)
        seq = sequencer(cfg, t.unit)
        busy[seq] = busy.get(seq, 0.0) + count * occupancy(cfg, tp, t)
    n_seq = sequencer_counts(cfg)
    # the last of n instructions issues in cycle ceil(n / width) - 1 at the earliest; the
    # last vector one in cycle (n_vec - 1) x vector.issue_interval (dispatched no earlier)
    # and runs for a cycle at least
    vec = (n_vec - 1) * max(1, cfg.vector.issue_interval) + 1 if n_vec else 0
    # streamed vector loads take no issue slot but pass the dispatcher, one a cycle
    dispatched = n_vec + n_streamed
    return max([b / n_seq[seq] for seq, b in busy.items()] +
               [float(vec), float(dispatched), n_instr / cfg.scalar.issue_width - 1.0])


@dataclass(slots=True)
class _Rec:
    """One static instruction, pre-timed for this core."""

    vector: bool
    seq: str
    unit: str
    occ: float
    lat: float
    whole: bool  # latency covers the whole instruction (no element-group chaining)
    vsrc: tuple[int, ...]
    vdst: tuple[int, ...]
    xsrc: tuple[int, ...]
    xdst: tuple[int, ...]
    fsrc: tuple[int, ...]
    fdst: tuple[int, ...]
    mem: tuple[tuple[int, float], ...] = ()  # (channel: L1 .. L1_STORE, bytes)
    extra_lat: float = 0.0
    # memory.prefetch_ahead: how long before its issue a prefetched load's transfers beyond
    # L1 may take place (the latency of the levels serving it)
    lead: float = 0.0
    is_vset: bool = False
    is_sdiv: bool = False
    # a constant load's share of the cluster's constant-load places (memory.
    # const_loads_in_flight): cycles it holds this core's turn; 0: unlimited
    const_slot: float = 0.0
    stream: bool = False  # a load standing for an SSR stream (scalar.ssr): no instruction
    ack: float = 0.0  # vector.mem_ack_cycles of a vector load or store
    # a scalar load through the host's own D-cache (scalar.dcache_kib): its buffer, its
    # address's constant and loop terms (elements) and its element bytes
    dc: tuple[str, int, tuple[tuple[str, int], ...], int] | None = None
    # scalar.fp_store_load_cycles: the address (as ``dc``) of an FP store that an integer
    # load of its word waits for, or of such an integer load; which of them
    caq: tuple[str, int, tuple[tuple[str, int], ...], int] | None = None
    caq_store: bool = False
    index: int = 0  # position in program order (static), for logs
    # what the engine iterates over: the integer registers but x0 (always ready, never
    # written), each vector register once
    xs: tuple[int, ...] = ()
    xd: tuple[int, ...] = ()
    vs: tuple[int, ...] = ()
    vd: tuple[int, ...] = ()
    # set once the record is complete (CoreSim._rec): what each issue and dispatch would
    # otherwise recompute
    lat_all: float = 0.0  # lat + extra_lat: when its result is ready after its start
    shape: int = 0  # a hash of everything above that sets its timing (not its addresses)
    # what replay's counts read: the bytes it accesses if it has a memory operand (else
    # None), and whether its timing rule is the scalar FPU's (SCALAR_FP_RULES)
    access_bytes: int | None = None
    sfp: bool = False
    waits: bool = False  # it has scalar sources (xs or fsrc) to wait for
    # each of them as (the core's pending signals, ready times of its file, register)
    sources: tuple[tuple[list[_Signal | None], list[float], int], ...] = ()
    signals: bool = False  # it writes scalar registers (xd or fdst)
    # a vector instruction's sequencer class: when each of its sequencers is free
    frees: list[float] = field(default_factory=list)


# What the dispatcher knows of a vector register's last writer (env time): its start,
# latency, occupancy and whether its result covers the whole instruction (no chaining).
# One tuple per dispatched instruction, shared by the registers of its group.
_Writer = tuple[float, float, float, bool]
_NO_WRITER: _Writer = (0.0, 0.0, 0.0, True)


@dataclass(slots=True)
class _Tracker:
    """Iteration timing of one loop being simulated (virtual cycles)."""

    starts: list[float] = field(default_factory=list)  # by iteration, as it was entered
    ends: list[float] = field(default_factory=list)  # by iteration: its last completion
    dispatched: int = -1  # highest iteration the dispatcher has seen


class _Signal:
    """A scalar result of a queued vector instruction (SimPy: an event the dispatcher
    succeeds): when it fired, as (env time, event order)."""

    __slots__ = ("fired",)

    def __init__(self) -> None:
        self.fired: tuple[float, int] | None = None


# A command queue entry: the instruction, the (loop tracker, iteration) pairs it belongs
# to, and the scalar results it writes: (pending list, ready list, register, signal).
_Entry = tuple[_Rec, tuple[tuple[_Tracker, int], ...],
               Sequence[tuple[list[_Signal | None], list[float], int, _Signal]]]


# A body node as the front end runs it: (handler, its loop or pre-timed instruction).
_Step = tuple[Callable[[Any], None], Any]


@dataclass
class SimStats:
    cycles: float
    simulated_instructions: int
    log: list[tuple[int, str, float, float]] | None = None  # (index, mnemonic, start, end)


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: a run allocates hundreds of thousands of
    short-lived tuples (queue entries, writers) that reference counting frees, and the
    collector's passes over them cost 7-15% of the run while finding no cycles (a replay
    pauses it for all its lowering and runs: :func:`codesign.riscv.replay.replay`)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class CoreSim:
    """Simulate one program on one core of ``cfg`` while ``cores`` cores share L2/DRAM."""

    def __init__(self, prog: Program, cfg: RiscvConfig, cores: int = 1, mode: str = "steady",
                 log: bool = False, sharing: tuple[tuple[str, int], ...] = ()) -> None:
        if mode not in ("steady", "full"):
            raise ValueError(f"mode must be 'steady' or 'full', got {mode!r}")
        self.prog, self.cfg, self.mode = prog, cfg, mode
        self.tp: TimingParams = cfg.timing_params()
        self.hier = memory.Hierarchy.of(cfg, cores, sharing)
        self._timings = memory.timings(self.tp)
        self.fractions = memory.plan(prog, self.tp, self.hier)
        self.recs: dict[int, _Rec] = {}
        # (its timing's id, whether it has a memory operand) -> the record of instructions
        # without memory accesses (their timings live in self._timings while this runs)
        self._alike: dict[tuple[int, bool], _Rec] = {}
        # each static instruction's position in program order (logs only)
        self._order = {id(ins): i for i, (ins, _) in enumerate(prog.walk())} if log else {}
        self._has_vec: dict[int, bool] = {}
        self.log: list[tuple[int, str, float, float]] | None = [] if log else None
        self._mnemonic: dict[int, str] = {}
        self._loop_keys: dict[int, int] = {}
        self.cpi_memo: dict[int, float] = {}  # loop timing key -> steady cycles/iteration
        self._bodies: dict[int, list[_Step]] = {}
        self.issue_width = cfg.scalar.issue_width
        self.chaining = cfg.vector.chaining
        # ---- simulation state (env time unless said otherwise) ----
        self.now = 0.0  # env time of the event being processed
        self.eid = 0  # events scheduled so far: orders events of the same time
        self.depth = cfg.vector.queue_depth
        self.queue: deque[_Entry] = deque()  # the vector command queue
        self.put_waiting: _Entry | None = None  # the front end's entry, queue full
        self.put_wake = (0.0, 0)  # (time, order) of that put's event once it entered
        self.d_state = _D_IDLE  # what the dispatcher waits on
        self.d_t, self.d_e = INF, 0  # (time, order) of its scheduled event
        self.d_entry: _Entry | None = None  # the instruction it holds
        self.d_k = 0  # the sequencer of its class it takes
        self.offset = 0.0  # virtual cycles skipped by extrapolated loops
        self.end = 0.0  # virtual time of the last completion seen
        self.n_sim = 0
        self.v_writer = [_NO_WRITER] * 32  # each vector register's last writer
        self.v_read = [NEVER] * 32  # its readers' latest start and end (write-after-read)
        self.v_read_end = [NEVER] * 32
        self.x_ready = [0.0] * 32
        self.f_ready = [0.0] * 32
        self.x_pend: list[_Signal | None] = [None] * 32
        self.f_pend: list[_Signal | None] = [None] * 32
        self.sdiv_free = 0.0
        # memory.const_loads_in_flight: when the cluster's path to its constant data next
        # admits one of this core's constant loads, and the cycles each holds its share
        # (the op's cores in one cluster share the places alike)
        mc = cfg.memory
        self.const_slot = (mc.const_load_hold * cfg.placement(cores)[1] /
                           mc.const_loads_in_flight
                           if mc.const_loads_in_flight and mc.const_load_latency else 0.0)
        self.const_free = 0.0
        self.streams = ssr_streams(prog, cfg)
        self.vset_ready = 0.0
        # the earliest cycle the next vector instruction may issue (vector.issue_interval)
        self.issue_interval = cfg.vector.issue_interval
        self.vec_next = 0.0
        # vector.dispatch_at_commit: the latest completion of an issued scalar instruction
        self.at_commit = cfg.vector.dispatch_at_commit
        self.scalar_done = 0.0
        # scalar.dcache_kib: the host's D-cache as an LRU of (buffer, line) (insertion
        # order = recency), its capacity in lines; each enclosing loop's current iteration
        sc = cfg.scalar
        self.dc_lines = int(sc.dcache_kib * 1024 // sc.dcache_line_bytes) \
            if sc.dcache_kib > 0 else 0
        if self.dc_lines and cfg.memory.weights_cached and \
                self._scalar_bytes() <= self.dc_lines * sc.dcache_line_bytes:
            # operands start in the caches (memory.weights_cached) and all the data the
            # scalar loads read fits the host's: it starts there and is never evicted
            self.dc_lines = 0
        self.dcache: dict[tuple[str, int], None] = {}
        # scalar.fp_store_load_cycles: (buffer, word) of each FP store -> when an integer
        # load of that word may issue
        self.caq_free: dict[tuple[str, int], float] = {}
        self.iters: dict[str, int] = {}
        self.cycle = -1.0  # the front end's current issue cycle
        self.slots = 0  # instructions issued in it
        self.vec_in_cycle = False
        self.seq_free = {seq: [0.0] * n for seq, n in sequencer_counts(cfg).items()}
        bpc = self.hier.bytes_per_cycle
        self.channel_free = [0.0] * 6  # by channel L1, L2, DRAM, L1_STORE, MISS_L1, MISS_L2
        self.channel_bpc = (bpc[0], bpc[1], bpc[2], bpc[0], 1.0, 1.0)
        self.trackers: list[tuple[_Tracker, int]] = []
        self.tags: tuple[tuple[_Tracker, int], ...] = ()  # the trackers, as a tuple

    # ---- static preparation -----------------------------------------------------------
    def timed(self, ins: Instr) -> _Rec:
        """``ins`` as this core times it (unit, sequencer, occupancy, latency ...)."""
        return self._rec(ins)

    def _rec(self, ins: Instr) -> _Rec:
        r = self.recs.get(id(ins))
        if r is not None:
            return r
        cfg = self.cfg
        t = memory.timing(ins, self.tp, self._timings)
        # an instruction that touches no memory times as every equal one does: one
        # record serves them all (unrolled kernels repeat each many times; issue #12)
        alike = (id(t), ins.mem is not None) if t.mem is None and self.log is None else None
        if alike is not None:
            r = self._alike.get(alike)
            if r is not None:
                self.recs[id(ins)] = r
                return r
        d = ins.defn
        unit = t.unit
        vector = d.vector and d.exec_kind != "vset"
        occ, lat = occupancy(cfg, self.tp, t), float(t.latency)
        seq = sequencer(cfg, unit)
        rec = _Rec(vector=vector, seq=seq, unit=unit, occ=occ, lat=lat,
                   whole=t.is_mask or lat >= occ, vsrc=t.vsrc, vdst=t.vdst, xsrc=t.xsrc,
                   xdst=t.xdst, fsrc=t.fsrc, fdst=t.fdst, is_vset=d.exec_kind == "vset",
                   is_sdiv=d.timing == "sfdiv",
                   index=self._order.get(id(ins), len(self._order)),
                   xs=tuple(x for x in t.xsrc if x), xd=tuple(x for x in t.xdst if x),
                   vs=tuple(dict.fromkeys(t.vsrc)), vd=tuple(dict.fromkeys(t.vdst)))
        if t.mem is not None:
            f = self.fractions.get(id(ins), (1.0, 0.0, 0.0))
            port = L1_STORE if (t.mem == "store" and cfg.memory.l1_ports > 1) else L1
            mem = [(port, float(t.mem_bytes))]
            # bytes from DRAM are refilled through L2: both levels' bandwidth is used
            if f[1] + f[2] > 0:
                mem.append((L2, t.mem_bytes * (f[1] + f[2])))
            if f[2] > 0:
                mem.append((DRAM, t.mem_bytes * f[2]))
            if t.mem == "load" and f[1] + f[2] > 0:
                # loads wait for their lines: the miss queues bound what is in flight;
                # stores are posted (write buffer) and hold no entry
                for ch, cyc in zip((MISS_L1, MISS_L2), self.hier.miss_cycles(
                        t.mem_bytes * f[1], t.mem_bytes * f[2]), strict=True):
                    if cyc > 0:
                        mem.append((ch, cyc))
            rec.mem = tuple(mem)
            if not vector and ins.mem is not None and t.mem == "load" and \
                    cfg.memory.const_load_latency and \
                    memory.buffer_role(self.prog, ins.mem.buf) == "const":
                # constant data linked outside the cluster, uncached: a round trip per load
                rec.lat = float(cfg.memory.const_load_latency)
                rec.const_slot = self.const_slot
            m = ins.mem
            # a scalar access at an affine address: (buffer, constant, loop terms, bytes)
            at = (m.buf, m.offset.const, m.offset.terms, max(1, m.eew // 8)) if (
                not vector and m is not None and m.base is None and m.index is None) else None
            if vector:
                rec.ack = float(cfg.vector.mem_ack_cycles)
            elif self.dc_lines and t.mem == "load" and at is not None:
                rec.dc = at
            if cfg.scalar.fp_store_load_cycles and at is not None and \
                    ((t.mem == "store" and t.fsrc) or (t.mem == "load" and t.xdst)):
                rec.caq = at
                rec.caq_store = t.mem == "store"
            prefetched = cfg.memory.prefetch and t.mem_pattern != "indexed"
            if t.mem == "load" and prefetched and cfg.memory.prefetch_ahead and \
                    f[1] + f[2] > 0:
                h = self.hier.latency
                rec.lead = (f[1] * h[1] + f[2] * h[2]) / (f[1] + f[2])
            if vector and t.mem == "load" and not prefetched:
                h = self.hier.latency
                # the expected latency of the levels serving its accesses (the L2 and
                # DRAM shares carry the line factor: normalised to the accesses)
                total = f[0] + f[1] + f[2]
                rec.extra_lat = (f[1] * (h[1] - h[0]) + f[2] * (h[2] - h[0])) / total
            if t.mem == "load" and ins.mem is not None and ins.mem.buf in self.streams:
                # an SSR stream: read ahead by the streamer, no load latency
                rec.stream, rec.lat, rec.extra_lat, rec.whole = True, 0.0, 0.0, t.is_mask
        rec.lat_all = rec.lat + rec.extra_lat
        rec.access_bytes = t.mem_bytes if ins.mem is not None else None
        rec.sfp = d.timing in SCALAR_FP_RULES
        rec.shape = hash((rec.vector, rec.seq, rec.occ, rec.lat, rec.whole, rec.vsrc, rec.vdst,
                          rec.xsrc, rec.xdst, rec.fsrc, rec.fdst, rec.mem, rec.extra_lat, rec.lead,
                          rec.is_vset, rec.is_sdiv, rec.ack, rec.dc, rec.const_slot,
                          rec.stream, rec.caq, rec.caq_store))
        rec.waits = bool(rec.xs or rec.fsrc)
        rec.sources = (*((self.x_pend, self.x_ready, x) for x in rec.xs),
                       *((self.f_pend, self.f_ready, f) for f in rec.fsrc))
        rec.signals = bool(rec.xd or rec.fdst)
        if vector:
            rec.frees = self.seq_free[seq]
        self.recs[id(ins)] = rec
        if alike is not None:
            self._alike[alike] = rec
        self._mnemonic[rec.index] = ins.op
        return rec

    def _body_has_vector(self, nodes: Sequence[Node], key: int) -> bool:
        v = self._has_vec.get(key)
        if v is None:
            v = False
            for n in nodes:
                if isinstance(n, Loop):
                    v = v or self._body_has_vector(n.body, id(n))
                elif self._rec(n).vector:
                    v = True
            self._has_vec[key] = v
        return v

    def _loop_key(self, loop: Loop) -> int:
        """A hash of everything that sets a loop body's timing (not its addresses): loops
        of the same shape in different places share their steady state."""
        k = self._loop_keys.get(id(loop))
        if k is None:
            parts: list[object] = []
            for n in loop.body:
                if isinstance(n, Loop):
                    parts.append(("L", n.trip, self._loop_key(n)))
                else:
                    parts.append(self._rec(n).shape)
            k = self._loop_keys[id(loop)] = hash(tuple(parts))
        return k

    # ---- run ----------------------------------------------------------------------------
    def run(self) -> SimStats:
        with no_cyclic_gc():
            try:
                self._nodes(self.prog.body)  # the front end, to its last instruction
                while self.d_t != INF:  # the dispatcher drains the command queue
                    self._d_step(INF)
            finally:
                # the bodies hold this simulator's bound methods (a reference cycle):
                # dropped, a finished simulator is freed at once by reference counting,
                # not left to the cyclic collector (~3,000 objects per sweep point)
                self._bodies.clear()
        if self.put_waiting is not None or self.queue:
            raise RuntimeError("core model deadlocked")
        # the op is done when its last result is written and its last transfer is over
        cycles = max(self.end, self.now + self.offset, max(self.channel_free) + self.offset)
        log = None
        if self.log is not None:
            log = [(i, self._mnemonic[i], s, e) for i, _, s, e in self.log]
        return SimStats(cycles, self.n_sim, log)

    # ---- the event order ----------------------------------------------------------------
    def _wait_until(self, t: float) -> None:
        """The front end sleeps until ``t`` (a timeout): the dispatcher's events due
        before it run first."""
        self.eid += 1
        e = self.eid
        while self.d_t < t or (self.d_t == t and self.d_e < e):
            self._d_step(t)
        self.now = t

    def _dispatch_before(self, t: float, e: int) -> None:
        """Run the dispatcher's events ordered before the event (t, e)."""
        while self.d_t < t or (self.d_t == t and self.d_e < e):
            self._d_step(t)

    def _wait_signal(self, sig: _Signal) -> None:
        """The front end waits for a vector instruction's scalar result to be dispatched."""
        while sig.fired is None:
            if self.d_t == INF:
                raise RuntimeError("core model deadlocked")
            self._d_step(INF)
        t, e = sig.fired
        self._dispatch_before(t, e)
        self.now = t

    def _d_take(self) -> None:
        """The dispatcher's get finds an instruction: its event is scheduled now."""
        self.d_entry = self.queue.popleft()
        self.eid += 1
        self.d_state, self.d_t, self.d_e = _D_GET, self.now, self.eid

    def _d_step(self, t: float) -> None:
        """Process the dispatcher's next event; when that starts a get due before the
        front end's next event (at ``t``: a get scheduled now is ordered after it at equal
        times), the get too."""
        st = self.d_state
        self.now = now = self.d_t
        if st == _D_NEXT:  # one cycle after a dispatch: the next get
            if not self.queue:
                self.d_state, self.d_t = _D_IDLE, INF
                return
            self.d_entry = self.queue.popleft()
            self.eid += 1
            st = self.d_state = _D_GET
            self.d_e = self.eid
            if now >= t:
                return
        entry = self.d_entry
        assert entry is not None
        frees = entry[0].frees
        if st == _D_GET:
            # the get's event lets a put blocked on the full queue in
            if self.put_waiting is not None and len(self.queue) < self.depth:
                self.queue.append(self.put_waiting)
                self.put_waiting = None
                self.eid += 1
                self.put_wake = (now, self.eid)
            if len(frees) == 1:
                k = 0
            elif len(frees) == 2:  # min() of two: the first of equals
                k = 0 if frees[0] <= frees[1] else 1
            else:
                k = min(range(len(frees)), key=frees.__getitem__)
            self.d_k = k
            if frees[k] > now:  # until the sequencer is free
                self.eid += 1
                self.d_state, self.d_t, self.d_e = _D_SEQ, now + (frees[k] - now), self.eid
                return
        else:
            k = self.d_k
        self._dispatch(entry, frees, k)
        self.eid += 1
        self.d_state, self.d_t, self.d_e = _D_NEXT, now + 1, self.eid

    # ---- front end ------------------------------------------------------------------------
    def _body(self, nodes: Sequence[Node]) -> list[_Step]:
        """A body as the front end runs it: each instruction pre-timed, each node with
        its handler (once per static body)."""
        b = self._bodies.get(id(nodes))
        if b is None:
            b = self._bodies[id(nodes)] = [(self._loop, n) if isinstance(n, Loop)
                                           else (self._issue, self._rec(n)) for n in nodes]
        return b

    def _nodes(self, nodes: Sequence[Node]) -> None:
        for run, node in self._body(nodes):
            run(node)

    def _loop(self, loop: Loop) -> None:
        trip = int(loop.trip)
        if trip <= 0:
            return
        sim = self.cfg.sim
        w = sim.window
        tr = _Tracker()
        has_vec = self._body_has_vector(loop.body, id(loop))
        key = self._loop_key(loop) if self.mode != "full" else 0
        known = self.cpi_memo.get(key)
        trackers = self.trackers
        trackers.append((tr, 0))
        depth = len(trackers) - 1
        body = self._body(loop.body)
        try:
            for it in range(trip):
                self.iters[loop.var] = it
                trackers[depth] = (tr, it)
                self.tags = tuple(trackers)
                tr.starts.append(self.now + self.offset)
                tr.ends.append(-1.0)
                for run, node in body:
                    run(node)
                if self.mode == "full" or it + 1 >= trip:
                    continue
                complete = tr.dispatched if has_vec else it + 1
                if w > 1 and complete >= 2 and \
                        tr.ends[complete - 1] - tr.ends[complete - 2] >= sim.long_iteration_cycles:
                    w = 1  # long iterations: the pipeline carries no state across them
                cpi = None
                if known is not None and sim.reuse_steady:
                    cpi = known  # steady before in this program: not confirmed again
                elif known is not None and complete >= 2:
                    # a loop of this shape was steady before: confirm it is here too
                    tol = sim.rtol * known + 1e-9
                    if abs(tr.ends[complete - 1] - tr.ends[complete - 2] - known) <= tol and \
                            abs(tr.starts[-1] - tr.starts[-2] - known) <= tol:
                        cpi = known
                if cpi is None:
                    cpi = self._steady(tr, complete, w, sim.rtol,
                                       force=it + 1 >= sim.max_iterations)
                if cpi is not None:
                    self.cpi_memo.setdefault(key, cpi)
                    self.offset += (trip - it - 1) * cpi
                    if self.dc_lines:
                        self._touch_last(loop, trip)
                    break
        finally:
            self.trackers.pop()
            self.tags = tuple(self.trackers)

    @staticmethod
    def _steady(tr: _Tracker, complete: int, w: int, rtol: float, force: bool) -> float | None:
        """Cycles per iteration if the loop is in steady state (or ``force``), else None."""
        if w == 1 and complete == 2:
            # long iterations: the first one, timed from its start, is the older window
            e_new, e_old = tr.ends[1] - tr.ends[0], tr.ends[0] - tr.starts[0]
            s_new = tr.starts[1] - tr.starts[0]
            tol = rtol * max(e_new, 1e-9) + 1e-9
            if abs(e_new - e_old) <= tol and abs(e_new - s_new) <= tol:
                return e_new
        if complete < 2 * w + 1 or len(tr.starts) < 2 * w + 1:
            if force and complete >= 2:
                return (tr.ends[complete - 1] - tr.ends[0]) / (complete - 1)
            return None
        e = [tr.ends[i] for i in range(complete - 2 * w - 1, complete)]
        s = tr.starts[-2 * w - 1:]
        e_new, e_old = (e[-1] - e[w]) / w, (e[w] - e[0]) / w
        s_new, s_old = (s[-1] - s[w]) / w, (s[w] - s[0]) / w
        tol = rtol * max(e_new, 1e-9) + 1e-9
        if force or (abs(e_new - e_old) <= tol and abs(s_new - s_old) <= tol
                     and abs(e_new - s_new) <= tol):
            return e_new
        return None

    def _issue(self, r: _Rec) -> None:
        """Issue one instruction from the in-order front end."""
        self.n_sim += 1
        if r.stream:
            self._stream(r)
            return
        # the in-order pipe stalls until the scalar sources (and the vtype, the
        # unpipelined divider) are ready
        ready = self._scalar_sources_ready(r, self.now) if r.waits else self.now
        now = self.now
        vector = r.vector
        if vector:
            gate = self.vset_ready
            if self.vec_next > gate:  # the host's vector-issue rate
                gate = self.vec_next
            if self.at_commit and self.scalar_done > gate:  # sent at commit
                gate = self.scalar_done
            if gate > ready:
                ready = gate
        if r.is_sdiv and self.sdiv_free > ready:
            ready = self.sdiv_free
        if r.caq is not None and not r.caq_store:  # held until the FP store completes
            free = self.caq_free.get(self._word(r.caq), 0.0)
            if free > ready:
                ready = free
        if ready > now:
            self._wait_until(now + (ready - now))
            now = self.now
        # issue_width instructions per cycle, at most one of them a vector instruction
        cycle = self.cycle
        if now >= cycle + 1:  # a new cycle
            self.cycle = cycle = math.floor(now)
            self.slots, self.vec_in_cycle = 0, False
        if self.slots >= self.issue_width or (vector and self.vec_in_cycle):
            self._wait_until(now + (cycle + 1 - now))
            self.cycle = cycle = math.floor(self.now)
            self.slots, self.vec_in_cycle = 0, False
        self.slots += 1
        if vector:
            self.vec_in_cycle = True
            if self.issue_interval > 1 or r.ack:
                self.vec_next = cycle + self.issue_interval + r.ack
            self._enqueue(r)
        else:
            self._complete_scalar(r)

    def _stream(self, r: _Rec) -> None:
        """A load standing for an SSR stream (scalar.ssr): no issue slot, no vector-issue
        gap; a vector one still enters the command queue for its sequencer and bytes."""
        ready = self._scalar_sources_ready(r, self.now) if r.waits else self.now
        if r.vector and self.vset_ready > ready:
            ready = self.vset_ready
        now = self.now
        if ready > now:
            self._wait_until(now + (ready - now))
        if r.vector:
            self._enqueue(r)
        else:
            self._complete_scalar(r)

    def _scalar_sources_ready(self, r: _Rec, ready: float) -> float:
        """Wait for scalar sources a queued vector instruction writes; when they are ready."""
        for pend, ready_at, reg in r.sources:
            sig = pend[reg]
            if sig is not None:
                self._wait_signal(sig)
            if ready_at[reg] > ready:
                ready = ready_at[reg]
        return ready

    def _enqueue(self, r: _Rec) -> None:
        """Into the vector command queue; while it is full, until the dispatcher takes
        the head (SimPy's Store: a put enters at once when there is room, and its event
        then lets a waiting get take the head). Scalar results of the instruction become
        pending signals the dispatcher fires."""
        signals: list[tuple[list[_Signal | None], list[float], int, _Signal]] | tuple[()]
        signals = ()  # (shared: an entry's signals are never added to)
        if r.signals:
            signals = []
            for reg in r.xd:
                sig = self.x_pend[reg] = _Signal()
                signals.append((self.x_pend, self.x_ready, reg, sig))
            for reg in r.fdst:
                sig = self.f_pend[reg] = _Signal()
                signals.append((self.f_pend, self.f_ready, reg, sig))
        entry = (r, self.tags, signals)
        q = self.queue
        if len(q) < self.depth:
            q.append(entry)
            self.eid += 1
            t, e = self.now, self.eid
        else:
            self.put_waiting = entry
            while self.put_waiting is not None:
                if self.d_t == INF:
                    raise RuntimeError("core model deadlocked")
                self._d_step(INF)
            t, e = self.put_wake
        while self.d_t < t or (self.d_t == t and self.d_e < e):
            self._d_step(t)
        self.now = t
        if self.d_state == _D_IDLE and q:
            self._d_take()

    def _complete_scalar(self, r: _Rec) -> None:
        """A scalar instruction completes after its latency."""
        now = self.now
        done = now + r.lat
        if r.const_slot:  # it starts once the constant path has a place for it
            start = self.const_free if self.const_free > now else now
            self.const_free = start + r.const_slot
            done = start + r.lat
        if r.dc is not None and not self._dc_hit(r.dc):
            done += self.cfg.scalar.dcache_miss_cycles
        if r.mem:  # scalar accesses use the hierarchy's bandwidth too (not waited for)
            lf, bpc = self.channel_free, self.channel_bpc
            ahead = now - r.lead  # prefetched: beyond L1 from here (memory.prefetch_ahead)
            for lvl, nbytes in r.mem:
                at = now if lvl in (L1, L1_STORE) else ahead
                lf[lvl] = (lf[lvl] if lf[lvl] >= at else at) + nbytes / bpc[lvl]
        if r.is_sdiv:
            self.sdiv_free = now + r.occ
        if r.caq_store and r.caq is not None:
            self.caq_free[self._word(r.caq)] = now + self.cfg.scalar.fp_store_load_cycles
        if done > self.scalar_done:
            self.scalar_done = done
        if r.is_vset and self.cfg.vector.vset_bubble:
            self.vset_ready = now + self.cfg.vector.vset_bubble
        for reg in r.xd:
            self.x_ready[reg] = done
        for reg in r.fdst:
            self.f_ready[reg] = done
        vdone = done + self.offset
        for tr, it in self.trackers:
            ends = tr.ends
            if vdone > ends[it]:
                ends[it] = vdone
        if vdone > self.end:
            self.end = vdone

    def _scalar_bytes(self) -> int:
        """Bytes of the buffers the program's scalar loads read."""
        bufs = {ins.mem.buf for ins, _ in self.prog.walk()
                if ins.mem is not None and not ins.defn.vector and
                memory.timing(ins, self.tp, self._timings).mem == "load"}
        return sum(memory.buffer_bytes(self.prog, b) for b in bufs if b in self.prog.buffers)

    def _block(self, at: tuple[str, int, tuple[tuple[str, int], ...], int],
               block_bytes: int) -> tuple[str, int]:
        """(buffer, block) of a scalar access (``_Rec.dc``'s form) at the enclosing loops'
        current iterations, in blocks of ``block_bytes``."""
        buf, const, terms, elem = at
        addr = const
        for var, coef in terms:
            addr += coef * self.iters.get(var, 0)
        return buf, addr * elem // block_bytes

    def _word(self, at: tuple[str, int, tuple[tuple[str, int], ...], int]) -> tuple[str, int]:
        """(buffer, word) of a scalar access, the word scalar.fp_store_load_word_bytes."""
        return self._block(at, self.cfg.scalar.fp_store_load_word_bytes)

    def _dc_hit(self, dc: tuple[str, int, tuple[tuple[str, int], ...], int]) -> bool:
        """Whether the host's D-cache holds the line of this dynamic scalar load (its
        address at the enclosing loops' current iterations); the line is then the most
        recently used, brought in on a miss (the least recently used one dropped)."""
        line = self._block(dc, self.cfg.scalar.dcache_line_bytes)
        cache = self.dcache
        if line in cache:
            del cache[line]
            cache[line] = None
            return True
        cache[line] = None
        if len(cache) > self.dc_lines:
            del cache[next(iter(cache))]
        return False

    def _touch_last(self, loop: Loop, trip: int) -> None:
        """After extrapolating ``loop``: its last iteration's scalar loads (those of its
        own body; not of inner loops) bring their lines into the D-cache, as simulating it
        would have (a walk's line is then warm for the code after the loop)."""
        self.iters[loop.var] = trip - 1
        for n in loop.body:
            if not isinstance(n, Loop):
                dc = self._rec(n).dc
                if dc is not None:
                    self._dc_hit(dc)

    # ---- vector dispatch ------------------------------------------------------------------
    def _dispatch(self, entry: _Entry, frees: list[float], k: int) -> None:
        """The queue head enters sequencer ``k`` of its class now (env time)."""
        r, tags, signals = entry
        now = self.now
        start = self._start(r, now)
        occ = r.occ
        lat = r.lat_all
        end = start + occ
        if r.mem:
            lf, bpc = self.channel_free, self.channel_bpc
            ahead = start - r.lead  # the L1 port at issue; beyond it from here (prefetch)
            for lvl, nbytes in r.mem:
                at = start if lvl in (L1, L1_STORE) else ahead
                t0 = lf[lvl] if lf[lvl] > at else at
                t = lf[lvl] = t0 + nbytes / bpc[lvl]
                if t > end:
                    end = t
        eff = end - start
        rd, rde = self.v_read, self.v_read_end
        for reg in r.vs:
            if start > rd[reg]:
                rd[reg] = start
            if end > rde[reg]:
                rde[reg] = end
        w = (start, lat, eff, r.whole)
        vw = self.v_writer
        for reg in r.vd:
            vw[reg] = w
        for pend, ready, reg, sig in signals:  # vector -> scalar results
            ready[reg] = start + lat
            if pend[reg] is sig:
                pend[reg] = None
            self.eid += 1
            sig.fired = (now, self.eid)
        frees[k] = end
        # completion: the last element group's result is written
        done = start + lat if r.whole else start + eff - 1 + lat
        vend = (end if end > done else done) + self.offset
        for tr, it in tags:
            ends = tr.ends
            if vend > ends[it]:
                ends[it] = vend
            if it > tr.dispatched:
                tr.dispatched = it
        if vend > self.end:
            self.end = vend
        if self.log is not None:
            self.log.append((r.index, "", start + self.offset, end + self.offset))


    def _start(self, r: _Rec, start: float) -> float:
        """When ``r`` can start at or after ``start``: its vector sources ready (chaining)
        and each element group it writes read by the readers before it (WAR)."""
        occ = r.occ
        last = None
        vw = self.v_writer
        for reg in r.vs:
            w = vw[reg]
            if w is last:  # the rest of the writer's register group
                continue
            last = w
            ws, wl, wo, whole = w
            if whole:
                t = ws + wl
            elif self.chaining:
                t = ws + wl + (wo - occ if wo - occ > 0.0 else 0.0)
            else:
                t = ws + wo - 1 + wl
            if t > start:
                start = t
        lat = r.lat_all
        rd, rde = self.v_read, self.v_read_end
        for reg in r.vd:
            a, b = rd[reg], rde[reg] - occ
            t = (a if a >= b else b) - lat + 1
            if t > start:
                start = t
        return start


def simulate(prog: Program, cfg: RiscvConfig, cores: int = 1, mode: str = "steady",
             log: bool = False) -> SimStats:
    """Cycles of ``prog`` on one core of ``cfg`` (``cores`` cores share L2/DRAM)."""
    return CoreSim(prog, cfg, cores, mode, log).run()
