"""Trace replay on a cluster: split each op over the cores, time one shard, build the Result.

Schedule. A forward pass is a chain of dependent ops, so the cluster runs them one after
another; each op is split into equal shards over ``c <= cluster.cores`` cores that run
concurrently (the remaining cores idle for that op). Shards are identical programs, so one
shard is simulated (:mod:`codesign.riscv.core`) with the shared levels giving each core
its share: DRAM 1/c of its bandwidth, a shared L2 (one per cluster, ``cluster.clusters``)
1/(cores of the op in that cluster) of its bandwidth and capacity
(:meth:`RiscvConfig.placement`); the op takes the shard's cycles, plus
``cluster.fork_join_ns`` when it runs on more than one core (the threads' barrier), and
with llama.cpp's kernels ``kernel.llamacpp_op_ns``. The largest shard is the one timed
(ceil division). ``repeat`` multiplies the op's time; it never re-simulates. Where a kind
offers several ways to split (GEMMs: row x column grids on any number of cores), the
fastest is kept (:func:`time_op`).

How each kind is split (its rule in :mod:`codesign.kinds`, :func:`split`):

- gemm: by groups G (MoE experts) when G >= c, else the fastest grid of M rows x N
  columns (columns in multiples of one vector, VLEN/8, the kernel's column block);
- attention: by sequences, then by KV heads (each core keeps whole GQA groups), then by
  query heads within a group; linear_attention: by sequences x heads;
- conv1d: by channels N;
- norm, softmax, rope, reduction, router, embedding: by rows M;
- activation, elementwise, copy: by rows M, or by columns N when M < c.

Roofline (per op instance): ``max(flops / cluster peak, bytes / bandwidth)``, where bytes
are the trace's bytes, or what the kernel's c shards actually move from that level if
fewer (a copy out of a strided view reads less than the trace's whole source tensor; a
gather reads int32 row indices where the trace counts int64), the peak is every core's
FMA datapath (2 FLOP per MAC: arith_sequencers x fp_path/16 BF16 widening MACs per cycle
on a SiFive7-like core, fp_path/32 otherwise; see :func:`peak_flops_per_cycle`) plus the
Xattn matrix array when the ISA enables vfwmmacc and the IME unit when it enables
smt.vmadot (2 FLOP per MAC each), and the bandwidth is
DRAM's when the op's data does not fit in L2 (the rule of :mod:`codesign.riscv.memory`),
else the cluster's L2 bandwidth.

Bound: the resource busy the largest fraction of the op's cycles, if at least
``sim.bound_threshold``: "compute" (a compute sequencer doing FMA/int/permute/exp/matrix
work), "memory" (load/store sequencers, L1 port, L2 or DRAM bandwidth), "issue" (front
end slots, or the command queue's one dispatch per cycle); otherwise "latency" (the core
waits on dependences: reductions, divides, scalar round trips, pipeline fill).
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from codesign import config as C
from codesign import kinds
from codesign.errors import CodesignError
from codesign.result import TRACE_COLUMNS, finish_columns, finish_ops
from codesign.riscv import cache, lowering, memory
from codesign.riscv.config import RiscvConfig
from codesign.riscv.core import (
    VL,
    VS,
    CoreSim,
    busy_floor,
    no_cyclic_gc,
    sequencer,
    sequencer_counts,
)
from isa.errors import IsaError
from isa.instructions import UNITS
from isa.kernels import ggml, ggml_kq, ime, quant
from isa.program import Program
from workloads.schema import Op, dtype_bytes, record_columns

VECTOR_UNITS = tuple(u for u in UNITS if u != "scalar")
UTIL_COLUMNS = (*(f"util_{u}" for u in VECTOR_UNITS), "util_issue", "util_l1", "util_l2",
                "util_dram")
# Per-instance work of all cores that energy is charged for (codesign.riscv.energy):
# occupancy cycles of each unit class (element groups), bytes at each level, matrix MACs
# (and the row's cluster_instructions).
# The scalar FPU's work: ``scalar_fp_bits`` the bits of its FP operations (an FP result from
# FP sources: arithmetic, min/max, sign moves; FP32, 32 bits each), ``scalar_fdiv_bits``
# its divider's bits x the cycles it holds it (as the vector fdiv's occupancy).
# ``stream_instructions``: the loads of the buffers a program's ``ssr_streams`` meta names
# (stand-ins for Snitch's stream semantic registers: counted and timed as loads, but no
# instruction is fetched for them).
WORK_COLUMNS = (*(f"work_{u}" for u in VECTOR_UNITS), "matrix_macs", "l1_bytes",
                "l2_bytes", "dram_bytes", "scalar_fp_bits", "scalar_fdiv_bits",
                "stream_instructions")
SCALAR_FP_BITS = 32  # every scalar FP instruction of the ISA is single precision (.s)
# Work that makes an op compute bound: the built-in compute units and every unit a user
# module registers (reduction/fdiv are latency-bound: their occupancy is their latency).
LATENCY_WORK = ("scalar", "reduction", "fdiv", "load", "store")
# Trace dtype -> the Core's storage dtype. Integer rows (positions, expert indices) carry
# their own dtype in the row, which the integer kernels read; the Core's dtype only picks
# the floating-point storage of float operands.
_DTYPES = {"bf16": "bf16", "fp16": "bf16", "fp32": "fp32", "int64": "fp32", "int32": "fp32"}


# ---- splitting an op over cores: each kind's rule (codesign.kinds) ----------------------
split = kinds.split


def lower(op: Op | Mapping[str, Any], cfg: RiscvConfig, gemm_nc: int = 0) -> Program:
    """The shard's instruction program (isa.kernels); ``gemm_nc`` as
    :meth:`RiscvConfig.core` takes it."""
    return _lower_signed(op, cfg, gemm_nc)[0]


def _lower_signed(op: Op | Mapping[str, Any], cfg: RiscvConfig, gemm_nc: int = 0,
                  registry: str | None = None) -> tuple[Program, lowering.Lowered]:
    """:func:`lower`, memoized across configs whose ISA and core answer the kernel's
    questions alike (:mod:`codesign.riscv.lowering`), and its memo entry (the program's
    signature, computed once, and other facts of it); ``registry``:
    :func:`cache.registry_identity` when the caller has it."""
    from isa import kernels
    op = op if isinstance(op, Op) else Op.from_row(op)
    dtype = _DTYPES.get(op.dtype or "bf16")
    if dtype is None:
        raise MissingKernel(f"op {op.name!r}: dtype {op.dtype!r} has no RISC-V kernel; "
                            f"valid: {', '.join(_DTYPES)}")
    try:
        return lowering.lowered((op, dtype, gemm_nc), cfg.parsed_isa, cfg.core(dtype, gemm_nc),
                                registry or cache.registry_identity(),
                                lambda isa, core: kernels.lower(op, isa, core))
    except IsaError as exc:
        raise MissingKernel(f"op {op.name!r} ({op.kind}): {exc}") from None


def time_program(prog: Program, cfg: RiscvConfig, cores: int = 1, mode: str = "steady",
                 fingerprint: str | None = None,
                 sharing: tuple[tuple[str, int], ...] = (),
                 signature: str | None = None) -> dict[str, Any]:
    """Cycles, utilisation and counts of one core running ``prog`` (memoized), while
    ``cores`` cores run shards; ``sharing`` names the buffers several of them read alike
    (:class:`codesign.riscv.memory.Hierarchy`); ``signature``: ``prog.signature()``
    when the caller has it."""
    fp = fingerprint or timing_fingerprint(cfg)
    sig = signature or prog.signature()  # renders and hashes the program: once per op
    k = cache.key(sig, fp, cores, mode + "".join(f"|{p}{n}" for p, n in sharing))
    hit = cache.get(k)
    if hit is not None:
        return {**hit, "cached": True}
    t0 = time.perf_counter()
    sim = CoreSim(prog, cfg, cores, mode, sharing=sharing)
    stats = sim.run()
    cycles = max(stats.cycles, 1.0)
    busy = {u: 0.0 for u in VECTOR_UNITS}
    seq_work: dict[str, float] = {}  # compute work per sequencer class
    n_instr = n_vec = n_stream = 0
    streams = frozenset(prog.meta.get("ssr_streams", ()))
    sfp_bits = sfdiv_bits = 0.0
    macs: float = 0
    total_bytes: float = 0  # L1 bytes (scalar accesses too)
    for ins, count in prog.walk():
        if not count:
            continue
        rec = sim.timed(ins)
        n_instr += count
        if rec.access_bytes is not None:
            total_bytes += rec.access_bytes * count
        if ins.mem is not None and ins.mem.buf in streams and \
                ins.defn.exec_kind in ("vload", "sload"):
            n_stream += count
        if rec.unit == "matrix":
            macs += count * rec.occ
        if not rec.vector:
            if rec.is_sdiv:
                sfdiv_bits += count * SCALAR_FP_BITS * rec.occ
            elif rec.fdst and rec.fsrc and rec.sfp:
                sfp_bits += count * SCALAR_FP_BITS
            continue
        n_vec += count
        if rec.unit in busy:
            busy[rec.unit] += count * rec.occ
        if rec.unit not in LATENCY_WORK and rec.seq not in (VL, VS):
            seq_work[rec.seq] = seq_work.get(rec.seq, 0.0) + count * rec.occ
    tp = sim.tp
    macs *= tp.mmacc_macs_per_cycle
    lv = memory.level_bytes(prog, tp, sim.hier, sim.fractions)
    n_seq = sequencer_counts(cfg)
    bpc = sim.hier.bytes_per_cycle
    util = {f"util_{u}": busy[u] / cycles / n_seq[sequencer(cfg, u)] for u in VECTOR_UNITS}
    util["util_issue"] = n_instr / (cfg.scalar.issue_width * cycles)
    ports = 1 if cfg.memory.l1_ports == 1 else 2
    util["util_l1"] = total_bytes / (bpc[0] * ports * cycles)
    util["util_l2"] = (lv[1] + lv[2]) / (bpc[1] * cycles)  # DRAM refills pass through L2
    util["util_dram"] = lv[2] / (bpc[2] * cycles)
    compute = max((w / (n_seq[seq] * cycles) for seq, w in seq_work.items()), default=0.0)
    mem = max(util["util_load"], util["util_store"], util["util_l1"], util["util_l2"],
              util["util_dram"])
    issue = max(util["util_issue"], n_vec / cycles)
    pressures = {"compute": compute, "memory": mem, "issue": issue}
    bound = max(pressures, key=pressures.__getitem__)
    if pressures[bound] < cfg.sim.bound_threshold:
        bound = "latency"
    footprint = memory.footprint(prog)
    cold = sim.hier.smallest_holding(footprint, 1)
    out = {
        "cycles": cycles, "instructions": n_instr, "vector_instructions": n_vec,
        "simulated_instructions": stats.simulated_instructions,
        "sim_seconds": time.perf_counter() - t0, "bound": bound,
        "cold_level": memory.LEVELS[cold], "l2_bytes": lv[1], "dram_bytes": lv[2],
        "footprint": footprint, "beyond_l1_bytes": lv[2] if cold == 2 else lv[1] + lv[2],
        "signature": sig, **util,
        # the work energy is charged for (codesign.riscv.energy): one core's
        "l1_bytes": total_bytes, "matrix_macs": macs,
        **{f"work_{u}": busy[u] for u in VECTOR_UNITS},
        "scalar_fp_bits": sfp_bits, "scalar_fdiv_bits": sfdiv_bits,
        "stream_instructions": n_stream,
    }
    cache.put(k, out)
    return {**out, "cached": False}


# ---- roofline -----------------------------------------------------------------------------
def peak_flops_per_cycle(cfg: RiscvConfig, dtype: str = "bf16") -> float:
    """FLOP per cycle of one core: FMA datapaths plus the Xattn matrix array if enabled.

    A BF16 op's peak is the widening FMA's (``vfwmaccbf16``): on a core that sequences
    widening ops by their source EEW (SiFive7) it multiplies fp_path/16 BF16 pairs per
    cycle, twice the FP32 FMA rate; otherwise fp_path/32 (FP32 results per cycle)."""
    tp = cfg.timing_params()
    eew = 16 if dtype == "bf16" and tp.widening_by_source else 32
    vec = 2.0 * cfg.vector.arith_sequencers * tp.fp_path_bits / eew
    # the SpacemiT IME unit (isa.ime) runs beside them: int8 GEMMs of quantised weights
    # reach its MACs, so a bound that holds for every op counts them
    ime = 2.0 * tp.ime_macs_per_cycle if cfg.parsed_isa.has("smt.vmadot") else 0.0
    if not cfg.parsed_isa.has("vfwmmacc.vv"):
        return vec + ime
    mat = 2.0 * tp.mmacc_macs_per_cycle
    return (vec + mat if cfg.matrix.present else max(vec, mat)) + ime


def roofline_seconds(flops: float, nbytes: float, cfg: RiscvConfig, in_dram: bool,
                     peak: float | None = None) -> float:
    """``max(flops / peak, bytes / bandwidth)``; ``peak`` (the cluster's FLOP/s,
    :func:`cluster_peak`) when the caller has it already."""
    if peak is None:
        peak = cluster_peak(cfg)
    bw = cfg.dram.bandwidth_gbps * 1e9 if in_dram else cfg.cluster_l2_bytes_per_s
    return max(flops / peak, nbytes / bw)


def cluster_peak(cfg: RiscvConfig) -> float:
    """FLOP/s of the whole cluster: every core's :func:`peak_flops_per_cycle` x clock."""
    return peak_flops_per_cycle(cfg) * cfg.cluster.cores * cfg.freq_hz


# ---- replay -------------------------------------------------------------------------------
def _shape_key(op: Op) -> Op:
    """What an op's timing depends on: the record without its name, counts and repeat."""
    return op.replace(name="", flops=0, bytes_read=0, bytes_written=0, repeat=1)


class MissingKernel(CodesignError):
    """The kernel library cannot lower this op (yet)."""


def time_op(op: Op | Mapping[str, Any], cfg: RiscvConfig, fingerprint: str,
            mode: str = "steady", registry: str | None = None) -> dict[str, Any]:
    """Timing of one op instance on the cluster (one shard simulated), split the fastest
    way its kind offers (:func:`codesign.kinds.splits`).

    Each way starts with a lower bound on its cycles from its work alone
    (:func:`shard_floor`); the way with the least bound is lowered (a GEMM way once per
    cache blocking :meth:`RiscvConfig.gemm_nc_choices` offers for its cores: the library's
    fixed one and the one sized to the core's L2 share), each program's bound tightened
    by its own instructions (:func:`codesign.riscv.core.busy_floor`: occupancy and issue
    slots), and the program with the least bound simulated, until no bound can beat
    the fastest so far or ``sim.split_candidates`` ways were simulated. The fastest
    program is thus found without simulating the hopeless ones; among equals the first
    in the work bounds' order (the kind's rank among equal bounds) and blocking order.
    ``registry``: :func:`cache.registry_identity` when the caller has it."""
    op = op if isinstance(op, Op) else Op.from_row(op)
    registry = registry or cache.registry_identity()
    ways = candidate_ways(op, cfg, registry)
    work = kinds.get(op.kind).work
    nodes = graph_nodes(op, cfg)
    floors = [shard_floor(work(s), s, c, cfg, kinds.sharing(op, s))
              + fork_join_cycles(c, cfg, nodes)
              if work is not None and len(ways) > 1 else 0.0 for s, c in ways]
    order = sorted(range(len(ways)), key=lambda i: (floors[i], i))  # best bound first
    return _fastest([(floors[i], pos, -1, None) for pos, i in enumerate(order)],
                    [ways[i] for i in order], op, cfg, fingerprint, mode, work is not None,
                    registry)


# A candidate of the split search: (lower bound on its cycles, the way's position in the
# work bounds' order, the blocking's position (-1: the way, not lowered yet), its program)
_Candidate = tuple[float, int, int, Program | None]


def _fastest(heap: list[_Candidate], ways: list[tuple[Op, int]], op: Op, cfg: RiscvConfig,
             fingerprint: str, mode: str, gemm: bool, registry: str) -> dict[str, Any]:
    """The fastest of the ``ways`` by best-first search over the candidates in ``heap``
    (a valid heap: sorted) for :func:`time_op`; ``gemm``: ways are timed with each cache
    blocking. A program's busy floor, like its timing, is keyed by ``fingerprint`` (the
    config less its ISA: the program's instructions say which ones it uses)."""
    best: dict[str, Any] | None = None
    best_key = (math.inf, 0, 0)  # (cycles, way, blocking) of the fastest so far
    simulated: set[int] = set()  # ways simulated
    lowered: dict[tuple[int, int], lowering.Lowered] = {}  # by (way, blocking)
    while heap:
        bound, pos, j, prog = heapq.heappop(heap)
        if (bound, pos, j) > best_key:
            break  # no candidate left can beat the fastest (or equal it, ranking first)
        shard, c = ways[pos]
        fixed = fork_join_cycles(c, cfg, graph_nodes(op, cfg))
        if prog is None:
            choices = cfg.gemm_nc_choices(c) if gemm else (0,)
            for k, nc in enumerate(choices):
                p, lowered[pos, k] = _lower_signed(shard, cfg, nc, registry)
                rank = len(ways) > 1 or len(choices) > 1  # other candidates to rank it with
                floor = lowered[pos, k].derive(("busy_floor", fingerprint),
                                               lambda q: busy_floor(q, cfg)) if rank else 0.0
                heapq.heappush(heap, (max(bound, floor + fixed) if rank else bound, pos, k, p))
            continue
        if pos not in simulated and len(simulated) == cfg.sim.split_candidates:
            continue
        simulated.add(pos)
        t = time_program(prog, cfg, c, mode, fingerprint, kinds.sharing(op, shard),
                         lowered[pos, j].signature())
        key = (t["cycles"] + fixed, pos, j)
        if key < best_key:
            best, best_key = {**t, "cycles": key[0], "cores": c, "modelled": True}, key
    assert best is not None
    return best


def candidate_ways(op: Op, cfg: RiscvConfig, registry: str | None = None) \
        -> list[tuple[Op, int]]:
    """The (shard, cores) ways :func:`time_op` times: the kind's splits; with a library
    that runs every op on every thread, those on the most cores, and for llama.cpp's
    tinyBLAS GEMMs only those that keep every token row (its threads split the weight
    rows: :func:`isa.kernels.ggml.splits_weight_rows_only`); else also one core when a
    fork and join costs something."""
    nodes = graph_nodes(op, cfg)  # llama.cpp's -fa 0 attention: its own row split
    key = (op, cfg.cluster.cores, cfg.vector.vlen, cfg.kernel.library,
           bool(cfg.cluster.fork_join_ns), registry or cache.registry_identity(),
           cfg.isa, cfg.kernel.weight_group,  # these two: whether the IME runs it
           cfg.kernel.llamacpp_spacemit, nodes)  # its split
    ways = _WAYS.get(key)
    if ways is None:
        ways = kinds.splits(op, cfg.cluster.cores, cfg.vector.vlen)
        if nodes > 1 and op.B == 1:
            ways = [ggml_rows_split(op, cfg.cluster.cores)]
        elif EVERY_THREAD[cfg.kernel.library]:
            ways = [w for w in ways if w[1] == ways[0][1]]  # the most cores: all threads work
            if cfg.kernel.library == "llamacpp" and ggml.splits_weight_rows_only(
                    op, cfg.vector.vlen):
                ways = [w for w in ways if w[0].M == op.M] or ways
            if cfg.kernel.library == "llamacpp":
                ways = _ggml_ime_way(op, cfg) or ways
        elif cfg.cluster.fork_join_ns and ways[-1][1] > 1:
            ways = [*ways, (op, 1)]  # a small op may not be worth the fork and join
        if len(_WAYS) >= _WAYS_MAX:
            _WAYS.clear()
        _WAYS[key] = ways
    return list(ways)


def _ggml_ime_way(op: Op, cfg: RiscvConfig) -> list[tuple[Op, int]]:
    """llama.cpp's own split of a token-block GEMM its SpacemiT backend runs on the IME
    (:func:`isa.kernels.ime.ggml_thread_split`), as the one way; none for other ops,
    one token (its M1 path: the kind's column split), or a split that is no block."""
    if op.kind != "gemm" or op.M <= 1 or max(1, op.G) > 1:
        return []
    core = cfg.core(_DTYPES.get(op.dtype or "bf16", "bf16"))
    fmt = quant.weight_format(str(op.weight_dtype or ""), core)
    if fmt is None or fmt.name not in ggml.IME_FORMATS or not ime.usable(
            cfg.parsed_isa, core, op.N, op.K, fmt):
        return []
    backend = cfg.kernel.llamacpp_spacemit
    got = ime.ggml_thread_split(op.M, op.N, cfg.cluster.cores, backend)
    if got is None:
        return []
    rows, cols, threads = got
    shard = op.replace(M=rows, N=cols)
    task = ime.ggml_task_rows(op.M, op.N, backend)
    if ime.ggml_task_rows(rows, cols, backend) != task:  # the shard's own shape says other
        shard = shard.replace(extra=(*op.extra, (ime.TASK_ROWS_FIELD, task)))
    return [(shard, threads)]


# (op, what of the config candidate_ways reads, the registries' identity: the op kinds'
# split rules) -> its ways: the points of a sweep split each op alike (issue #12)
_WAYS: dict[tuple[Any, ...], list[tuple[Op, int]]] = {}
_WAYS_MAX = 50_000


def fork_join_cycles(cores: int, cfg: RiscvConfig, nodes: int = 1) -> float:
    """The fixed cycles of an op on ``cores`` cores: ``cluster.fork_join_ns`` when it
    runs on more than one (or the library runs every op on every thread of the cluster),
    plus ``kernel.llamacpp_op_ns`` for every op llama.cpp runs; each paid once per graph
    node the op is (:func:`graph_nodes`)."""
    every = EVERY_THREAD[cfg.kernel.library] and cfg.cluster.cores > 1
    ns = cfg.cluster.fork_join_ns if cores > 1 or every else 0.0
    if cfg.kernel.library == "llamacpp":
        ns += cfg.kernel.llamacpp_op_ns
    return nodes * ns * cfg.scalar.freq_ghz


def ggml_rows_split(op: Op, cores: int) -> tuple[Op, int]:
    """llama.cpp's threads on its -fa 0 attention graph split rows, not heads: soft_max_ext
    gives thread ``ith`` the query rows ``i01 = ith, ith + nth, ...`` of every head
    (ops.cpp ``ggml_compute_forward_soft_max_f32``) and the KQ / KQV mul_mats split their
    outputs (keys or channels x every head's query rows) in chunks over all the threads
    (ggml-cpu.c ``ggml_compute_forward_mul_mat``); every row costs the same (no key is
    skipped), so a shard is ceil(Sq / c) query rows of every head, or, with fewer rows
    than threads (decode), ceil(Hq / c) query heads (and the KV heads they read)."""
    if op.Sq >= cores:
        sq = -(-op.Sq // cores)
        return op.replace(Sq=sq), -(-op.Sq // sq)
    hq = -(-op.Hq // cores)
    hkv = max(1, -(-op.Hkv * hq // op.Hq))
    return op.replace(Hq=hq, Hkv=hkv), -(-op.Hq // hq)


def graph_nodes(op: Op, cfg: RiscvConfig) -> int:
    """The graph nodes the software runs for ``op``, each with its barrier: llama.cpp's
    attention without flash attention is three (KQ mul_mat, soft_max_ext, KQV mul_mat:
    :data:`isa.kernels.ggml_kq.GRAPH_NODES`), every other op one."""
    if (op.kind == "attention" and cfg.kernel.library == "llamacpp"
            and not cfg.kernel.llamacpp_flash_attn
            and ggml_kq.usable(bool(op.get("causal")), int(op.get("window") or 0),
                               bool(op.get("sinks")))):
        return ggml_kq.GRAPH_NODES
    return 1


# Whether a kernel library runs every op on all the cluster's threads, with a barrier
# after each (llama.cpp: ggml_graph_compute hands every node to every thread and they
# meet in ggml_barrier before the next; ggml-cpu.c), or each op on the cores that make
# it fastest (ideal).
EVERY_THREAD = {"ideal": False, "llamacpp": True, "snitch": False, "ara": False}


def shard_floor(work: tuple[int, int, int], shard: Op, cores: int, cfg: RiscvConfig,
                sharing: tuple[tuple[str, int], ...] = ()) -> float:
    """Cycles no simulation of ``shard`` on one of ``cores`` cores can beat, from its
    ``work`` (MACs, activation and weight elements): its MACs at the core's peak, and its
    operands once through the L1 port, once through L2 (the first touch of data comes
    from L2 or beyond) and once from DRAM when they cannot all sit in the core's share of
    L2, counted as :mod:`codesign.riscv.memory` counts them (data the cluster's cores
    share, ``sharing``, once for all of them), its weights from DRAM in any case in a
    forward pass (``memory.weights_cached`` false); the loads of those bytes hold the
    miss queues for the latency of the level serving them
    (:meth:`~codesign.riscv.memory.Hierarchy.miss_cycles`). Activations count one byte
    per element (the least any kernel reads: llama.cpp's Q8_0 copy), weights their
    format's bytes."""
    macs, acts, weights = work
    hier = memory.Hierarchy.of(cfg, cores, sharing)
    peak = max(peak_flops_per_cycle(cfg, d) for d in ("bf16", "fp32")) / 2
    b = weights * dtype_bytes(shard.weight_dtype or shard.dtype or "bf16")
    nbytes = acts + b
    in_l2 = acts * hier.l2_weight("A") + b * hier.l2_weight("B")
    dram = nbytes if in_l2 > hier.capacity[1] else 0.0 if hier.weights_cached else b
    bpc = hier.bytes_per_cycle
    return max(macs / peak, nbytes / bpc[0], nbytes / bpc[1], dram / bpc[2],
               *hier.miss_cycles(nbytes - dram, dram))


def _unmodelled(op: Op, cfg: RiscvConfig, why: str) -> dict[str, Any]:
    """An op without a kernel, timed at its roofline bound (sim.missing_kernels)."""
    flops = float(op.flops)
    nbytes = float(op.nbytes)
    l2_cap = cfg.l2.size_kib * 1024 * cfg.l2_instances
    in_dram = nbytes > l2_cap
    sec = roofline_seconds(flops, nbytes, cfg, in_dram)
    f = cfg.freq_hz
    peak = peak_flops_per_cycle(cfg) * cfg.cluster.cores * f
    cores = cfg.cluster.cores
    # energy is charged for the work the op must do at least: its FLOPs on the FMA
    # datapath at peak rate and its bytes from the level that holds them
    work = {f"work_{u}": 0.0 for u in VECTOR_UNITS}
    work["work_fma"] = flops / peak_flops_per_cycle(cfg) / cores
    lv = nbytes / cores
    return {"cycles": sec * f, "instructions": 0, "vector_instructions": 0,
            "simulated_instructions": 0, "sim_seconds": 0.0,
            "l1_bytes": lv, "l2_bytes": lv, "dram_bytes": lv if in_dram else 0.0,
            "matrix_macs": 0.0, **work, "scalar_fp_bits": 0.0, "scalar_fdiv_bits": 0.0,
            "stream_instructions": 0.0,
            "bound": "compute" if flops / peak >= sec else "memory",
            "cold_level": "dram" if in_dram else "l2", "signature": "", "cached": True,
            "footprint": nbytes, "beyond_l1_bytes": nbytes,
            "cores": cfg.cluster.cores, "modelled": False, "note": why,
            **{u: 0.0 for u in UTIL_COLUMNS}}


def timing_fingerprint(cfg: RiscvConfig) -> str:
    """The config fingerprint that keys cached program timings: every field but ``isa``.

    The ISA decides which program a kernel generator emits, and the program's signature
    records its instructions; how a given program times does not depend on which other
    instructions are enabled. So a GEMM that uses no Xattn instruction is simulated once
    for all Xattn subsets of a sweep, not once per subset."""
    return C.fingerprint(dataclasses.replace(cfg, isa=""))


class RowTimings:
    """The timing of each op shape on one config: from this replay, from the row memo
    (:mod:`codesign.riscv.cache`: keyed by the shape, the full config fingerprint, the
    mode and what user modules registered), or lowered and timed now. A warm replay so
    neither lowers an op nor renders its program."""

    def __init__(self, cfg: RiscvConfig, mode: str = "steady") -> None:
        self.cfg, self.mode = cfg, mode
        self.full = C.fingerprint(cfg)  # row timings: the ISA picks the program
        self.registry = cache.registry_identity()
        self.done: dict[Op, dict[str, Any]] = {}

    @functools.cached_property
    def fingerprint(self) -> str:
        """Program timings' key (isa left out): needed only when a row is timed now."""
        return timing_fingerprint(self.cfg)

    def prefetch(self, texts: Iterable[str]) -> None:
        """Read the row memo's entries of these shapes (their reprs) in one query."""
        cache.prefetch(cache.row_key(t, self.full, self.mode, self.registry) for t in texts)

    def __call__(self, op: Op) -> dict[str, Any]:
        """The timing of ``op``'s shape (the first row of a shape in this replay reports
        the simulation it cost, ``cached`` false, when it was simulated now)."""
        k = _shape_key(op)
        return self.of_shape(k, repr(k), lambda: op)

    def of_shape(self, shape: Op, text: str, op: Callable[[], Op]) -> dict[str, Any]:
        """:meth:`__call__` for an op of ``shape`` (``text``: its repr), built by ``op``
        only when it must be timed now (or its unmodelled note names it)."""
        t = self.done.get(shape)
        if t is None:
            t = self.done[shape] = self._time(op, shape, text)
        return t

    def _time(self, op_of: Callable[[], Op], shape: Op, text: str) -> dict[str, Any]:
        cfg = self.cfg
        rk = cache.row_key(text, self.full, self.mode, self.registry)
        hit = cache.get(rk)
        if hit is not None:
            if hit.get("modelled") is False:  # the note names the op it was found for
                op = op_of()
                note = hit["note"].replace(repr(hit.get("name", "")), repr(op.name), 1)
                return _unmodelled(op, cfg, note)
            return {**hit, "cached": True}
        op = op_of()
        try:
            t = time_op(op, cfg, self.fingerprint, self.mode, self.registry)
        except MissingKernel as exc:
            if cfg.sim.missing_kernels == "error":
                raise
            cache.put(rk, {"modelled": False, "note": str(exc), "name": op.name})
            return _unmodelled(op, cfg, str(exc))
        cache.put(rk, {c: v for c, v in t.items() if c != "cached"})
        return t


# Row content (record_columns less _NOT_SHAPE, with the columns' dtypes and the type of
# each value of an object column) -> (shape key, its repr), across replays: a warm
# replay builds no op record and renders no shape (issue #12). Emptied when it grows past
# _SHAPES_MAX (rows holding NaN never match, so their entries only accumulate).
_SHAPES: dict[tuple[Any, ...], tuple[Op, str]] = {}
_SHAPES_MAX = 100_000


def replay(ops: pd.DataFrame, cfg: RiscvConfig, mode: str = "steady") -> pd.DataFrame:
    """Per-op timing table of a trace's ops (the Result's ``ops``).

    Built column by column (what ``pd.DataFrame(rows)`` of one dict per row builds, then
    :func:`codesign.result.finish_ops`, without their per-row and copying work): a row's
    record (:meth:`Op.from_row`) is built only for the first row of its content, and rows
    of equal content share that row's timing (issue #12: warm sweep points)."""
    cols = [str(c) for c in ops.columns]
    if ops.empty:
        return finish_ops(pd.DataFrame(columns=[*TRACE_COLUMNS, "flops", "bytes", "cycles",
                                                "seconds", "roofline_seconds", "bound"]))
    data = {c: ops[c].tolist() for c in cols}  # Python scalars, as to_dict("records")
    timings = RowTimings(cfg, mode)
    # what Op.from_row reads of a row, less what _shape_key drops: rows equal in it (and
    # in their values' types) have equal shape keys, so the same timing
    shape_cols = [c for c in record_columns(cols) if c not in _NOT_SHAPE]
    dtypes = {str(c): str(dt) for c, dt in zip(ops.columns, ops.dtypes, strict=True)}
    head = tuple((c, dtypes[c]) for c in shape_cols)
    keyed = [[(type(v), v) for v in data[c]] if dtypes[c] == "object" else data[c]
             for c in shape_cols]
    contents = list(zip(*keyed, strict=True))
    first: dict[tuple[Any, ...], int] = {}  # each distinct content's first row
    for i, content in enumerate(contents):
        first.setdefault(content, i)
    shapes = {c: _shape((head, c), data, i) for c, i in first.items()}
    timings.prefetch(text for _, text in shapes.values())  # one memo query per replay
    # what this replay times is stored in one transaction; lowering and simulating
    # allocate millions of objects, none of them in a cycle: no collector passes (#12)
    with no_cyclic_gc(), cache.deferred_writes():
        by_content = {c: timings.of_shape(*shapes[c], _op_of(data, i))
                      for c, i in first.items()}
    ts = []
    sim_instr, sim_s = [], []
    for content in contents:
        t = by_content[content]
        ts.append(t)
        sim_instr.append(0 if t.get("cached") else t["simulated_instructions"])
        sim_s.append(0.0 if t.get("cached") else t["sim_seconds"])
        t["cached"] = True  # later rows with the same shape reuse it
    freq = cfg.freq_hz
    peak = cluster_peak(cfg)
    flops = [float(f) for f in data["flops"]]
    nbytes = [float(r + w) for r, w in zip(data["bytes_read"], data["bytes_written"],
                                            strict=True)]
    cycles = [t["cycles"] for t in ts]
    seconds = [c / freq for c in cycles]
    roof = [roofline_seconds(f, min(b, t["beyond_l1_bytes"] * t["cores"]), cfg,
                             t["cold_level"] == "dram", peak)
            for f, b, t in zip(flops, nbytes, ts, strict=True)]
    out: dict[str, Any] = {c: data[c] for c in TRACE_COLUMNS}
    out.update({"flops": flops, "bytes": nbytes, "cycles": cycles, "seconds": seconds,
                "roofline_seconds": roof})
    for c in ("bound", "cores", "modelled"):
        out[c] = [t[c] for t in ts]
    out["note"] = [t.get("note", "") for t in ts]  # why an unmodelled op has no kernel
    for c in ("instructions", "vector_instructions"):
        out[c] = [t[c] for t in ts]
    out["simulated_instructions"], out["sim_seconds"] = sim_instr, sim_s
    out["signature"] = [t["signature"] for t in ts]
    for c in UTIL_COLUMNS:
        out[c] = [t[c] for t in ts]
    # work of the whole cluster (every core runs one shard): the energy model's input
    for c in WORK_COLUMNS:
        out[c] = [t[c] * t["cores"] for t in ts]
    out["cluster_instructions"] = [t["instructions"] * t["cores"] for t in ts]
    out.update(finish_columns(np.asarray(seconds, dtype=float), np.asarray(data["repeat"]),
                              np.asarray(flops), np.asarray(nbytes)))
    return pd.DataFrame(out)


# the record fields _shape_key resets (a row's name, counts and repeat)
_NOT_SHAPE = frozenset(("name", "flops", "bytes_read", "bytes_written", "repeat"))


def _op_of(data: dict[str, list[Any]], i: int) -> Callable[[], Op]:
    """What builds row ``i``'s op record, when one is needed."""
    return lambda: Op.from_row({c: v[i] for c, v in data.items()})


def _shape(content: tuple[Any, ...], data: dict[str, list[Any]], i: int) -> tuple[Op, str]:
    """The shape key of row ``i`` of ``data`` and its text (its ``content`` as
    :data:`_SHAPES` keys it)."""
    known = _SHAPES.get(content)
    if known is None:
        if len(_SHAPES) >= _SHAPES_MAX:
            _SHAPES.clear()
        shape = _shape_key(_op_of(data, i)())
        known = _SHAPES[content] = (shape, repr(shape))
    return known


def config_dict(cfg: RiscvConfig) -> dict[str, Any]:
    return C.to_dict(cfg)

