"""Op kinds as a registry: what the timing models need to know about each kind, in one place.

A trace row's ``kind`` (``workloads.schema.KINDS``) names an :class:`OpKind`, which holds

- ``split(op, cores, vlen) -> (shard, shards)``: how the RISC-V cluster splits one
  instance over its cores (the shard one core runs, and how many cores run shards);
- ``sharing(op, shard)`` (optional): which of the shard's buffers other shards read alike
  (a GEMM's A across its column split), which a shared L2 holds once for them;
- ``splits(op, cores, vlen) -> [(shard, shards), ...]`` and ``work(shard) -> (MACs,
  activation elements, weight elements)`` (optional, together): every way of splitting
  worth timing when the best one depends on the core (GEMMs: row x column grids on up to
  ``cores`` cores), and the work that bounds a shard's time from below; the RISC-V replay
  times them best bound first while a bound can still beat the fastest, each with every
  GEMM cache blocking the config offers, and keeps the fastest;
- ``gpu_kernels(cfg, op) -> [Kernel]``: the GPU kernels the op launches, with their times
  (:mod:`codesign.gpu.kernels`);
- ``matrix``: whether its FLOPs run on matrix units (GPU tensor cores), for rooflines and
  utilisation.

Its shape fields and FLOP count live with the trace (``workloads.schema.KIND_FIELDS``,
``workloads.costs.KIND_FLOPS``; bytes are measured on the traced tensors), its RISC-V
lowering in the kernel library (``isa.kernels.KERNELS``). ``tests/test_kinds.py`` checks
that every registry covers every kind. A new kind is one
``workloads.schema.register_kind`` (fields, ops, FLOPs), one :func:`register` call here
and its lowering (``isa.kernels.register_kernel``); the consumers (replay, the GPU model)
ask the registries and never switch on names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codesign.errors import CodesignError
from workloads.schema import Op

if TYPE_CHECKING:
    from codesign.gpu.config import GPUConfig
    from codesign.gpu.kernels import Kernel

Split = Callable[[Op, int, int], tuple[Op, int]]
Splits = Callable[[Op, int, int], list[tuple[Op, int]]]
Work = Callable[[Op], tuple[int, int, int]]
Sharing = Callable[[Op, Op], tuple[tuple[str, int], ...]]
GpuKernels = Callable[["GPUConfig", Op], "list[Kernel]"]

# Query rows per KV head at or below which FlashDecoding-style split-KV kernels run rather
# than a prefill FlashAttention kernel (FlashAttention-2's flash_attn_with_kvcache path is
# meant for decode: one query row per head, a few with speculative decoding; 64 = one
# tensor-core M tile of the prefill kernels, below which its tiles would be mostly empty).
DECODE_ROWS = 64


@dataclass(frozen=True)
class OpKind:
    name: str
    split: Split
    gpu_kernels: GpuKernels
    matrix: bool = False
    splits: Splits | None = None
    work: Work | None = None
    sharing: Sharing | None = None


_REGISTRY: dict[str, OpKind] = {}


def register(kind: OpKind, replace: bool = False) -> OpKind:
    if kind.name in _REGISTRY and not replace:
        raise CodesignError(f"op kind {kind.name!r} is already registered")
    _REGISTRY[kind.name] = kind
    return kind


def get(name: str) -> OpKind:
    k = _REGISTRY.get(name)
    if k is None:
        raise CodesignError(f"no timing model for op kind {name!r}; valid: "
                            f"{', '.join(_REGISTRY)}")
    return k


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


# ---- splits over the cores of a RISC-V cluster --------------------------------------------
def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _by(op: Op, field: str, cores: int, quantum: int = 1) -> tuple[Op, int]:
    """Shards of ``field`` (n of them): ceil(n / cores) rounded up to ``quantum`` each."""
    n = int(op[field])
    per = _ceil(_ceil(n, cores), quantum) * quantum
    per = max(1, min(per, n))
    return op.replace(**{field: per}), _ceil(n, per)


def _split_gemm(op: Op, cores: int, vlen: int) -> tuple[Op, int]:
    """The best-ranked of :func:`_gemm_splits`."""
    return _gemm_splits(op, cores, vlen)[0]


def _gemm_splits(op: Op, cores: int, vlen: int) -> list[tuple[Op, int]]:
    """Independent GEMMs first (MoE experts), one way; else every grid of ``m`` row blocks
    by ``k // m`` column blocks on ``k`` cores (every ``k <= cores`` up to
    :data:`ALL_COUNTS_UP_TO`, then powers of two and ``cores``; columns in multiples of one
    vector, VLEN/8, the kernel's column block), ranked by the cores they occupy (most
    first), then by the elements a shard reads and writes (its A rows, B columns and C
    block: a square-ish shard re-reads least), the column split first among equals."""
    if max(1, op.G) >= cores:
        return [_by(op.replace(G=max(1, op.G)), "G", cores)]
    ways: dict[tuple[Op, int], None] = {}
    for k in _core_counts(cores):
        for m in range(1, k + 1):
            rows, nm = _by(op, "M", m)
            shard, nn = _by(rows, "N", k // m, vlen // 8)
            ways[(shard, nm * nn)] = None

    def rank(way: tuple[Op, int]) -> tuple[int, int, int]:
        s, n = way
        return -n, s.M * s.K + s.K * s.N + s.M * s.N, -s.M

    return sorted(ways, key=rank)


def _gemm_sharing(op: Op, shard: Op) -> tuple[tuple[str, int], ...]:
    """A GEMM's shards that cover the same rows read the same A (and whatever the kernel
    derives from it: quantised copies, transposes; buffers named ``A...``), those that
    cover the same columns the same B (``B...``)."""
    if max(1, op.G) > shard.G:
        return ()
    return tuple((name, n) for name, n in (("A", _ceil(op.N, shard.N)),
                                           ("B", _ceil(op.M, shard.M))) if n > 1)


# Every core count up to this many is offered as a way to run a GEMM; beyond it the
# powers of two and the cluster's own count (a 64-core cluster offers 11 counts, not 64).
ALL_COUNTS_UP_TO = 8


def _core_counts(cores: int) -> list[int]:
    """The core counts a GEMM may use, most first."""
    counts = set(range(1, min(cores, ALL_COUNTS_UP_TO) + 1)) | {cores}
    counts |= {1 << i for i in range(cores.bit_length()) if 1 << i <= cores}
    return sorted(counts, reverse=True)


def _gemm_work(op: Op) -> tuple[int, int, int]:
    g = max(1, op.G)
    return g * op.M * op.N * op.K, g * op.M * op.K, g * op.K * op.N


def _split_attention(op: Op, cores: int, vlen: int) -> tuple[Op, int]:
    """Sequences, then KV heads (a core keeps a GQA group together), then the query heads
    of a group."""
    if cores <= op.B:
        return _by(op, "B", cores)
    per_seq = cores // op.B  # cores per sequence
    grp = op.Hq // max(1, op.Hkv)
    if op.Hkv >= per_seq:
        kv = _ceil(op.Hkv, per_seq)
        return op.replace(B=1, Hkv=kv, Hq=kv * grp), op.B * _ceil(op.Hkv, kv)
    # fewer KV heads than cores: split each group's query heads
    per_group = max(1, per_seq // op.Hkv)
    q = max(1, _ceil(grp, per_group))
    while grp % q:
        q += 1
    return op.replace(B=1, Hkv=1, Hq=q), op.B * op.Hkv * (grp // q)


def _attention_sharing(op: Op, shard: Op) -> tuple[tuple[str, int], ...]:
    """Shards that cover every head of a sequence and some of its query rows (llama.cpp's
    -fa 0 threads: :func:`codesign.riscv.replay.candidate_ways`) read the same K and V
    (``K...``, ``V...``: the transposed ``Vt`` too); the head splits share nothing."""
    if (shard.Hq, shard.Hkv, shard.B) != (op.Hq, op.Hkv, 1) or shard.Sq >= op.Sq:
        return ()
    n = _ceil(op.Sq, shard.Sq)
    return (("K", n), ("V", n))


def _split_linear_attention(op: Op, cores: int, vlen: int) -> tuple[Op, int]:
    if cores <= op.B:
        return _by(op, "B", cores)
    per = _ceil(op.Hq, cores // op.B)
    return op.replace(B=1, Hq=per), op.B * _ceil(op.Hq, per)


def _split_rows(op: Op, cores: int, vlen: int) -> tuple[Op, int]:
    return _by(op, "M", cores)


def _split_flat(op: Op, cores: int, vlen: int) -> tuple[Op, int]:
    """Element-wise ops: rows, or columns in vector multiples when there are few rows."""
    if cores <= op.M:
        return _by(op, "M", cores)
    return _by(op, "N", cores, vlen // 16)


def _split_conv1d(op: Op, cores: int, vlen: int) -> tuple[Op, int]:
    return _by(op, "N", cores)


# ---- GPU kernels ---------------------------------------------------------------------------
def _gpu_gemm(cfg: GPUConfig, op: Op) -> list[Kernel]:
    from codesign.gpu import kernels as K
    return [K.gemm(cfg, op.M, op.N, op.K, op.G, op.dtype, op.weight_dtype,
                   min_flops=op.flops, min_bytes=op.nbytes)]


def _gpu_attention(cfg: GPUConfig, op: Op) -> list[Kernel]:
    from codesign.gpu import kernels as K
    impl = cfg.attention.implementation
    if impl == "standard":
        return K.standard_attention(cfg, op.B, op.Hq, op.Hkv, op.Sq, op.Skv, op.D, op.causal,
                                    op.dtype, sinks=op.sinks)
    if op.Sq * max(1, op.Hq // max(op.Hkv, 1)) <= DECODE_ROWS:
        return K.decode_attention(cfg, op.B, op.Hq, op.Hkv, op.Sq, op.Skv, op.D, op.dtype,
                                  impl, min_flops=op.flops, min_bytes=op.nbytes,
                                  window=op.window, sinks=op.sinks)
    return K.flash_attention(cfg, op.B, op.Hq, op.Hkv, op.Sq, op.Skv, op.D, op.causal,
                             op.dtype, impl, min_flops=op.flops, min_bytes=op.nbytes,
                             window=op.window, sinks=op.sinks)


def _gpu_linear_attention(cfg: GPUConfig, op: Op) -> list[Kernel]:
    from codesign.gpu import kernels as K
    if op.chunk > 0:
        return K.chunked_delta_rule(cfg, op.B, op.Hq, op.Sq, op.D, op.Dv or op.D, op.chunk,
                                    op.dtype, min_flops=op.flops, min_bytes=op.nbytes)
    return K.recurrent_delta_rule(cfg, op.B, op.Hq, op.Sq, op.D, op.Dv or op.D,
                                  min_flops=op.flops, min_bytes=op.nbytes)


def _gpu_conv1d(cfg: GPUConfig, op: Op) -> list[Kernel]:
    from codesign.gpu import kernels as K
    return K.conv1d(cfg, op.B, op.N, op.Sq, op.W, op.dtype, op.flops, op.nbytes)


def _gpu_router(cfg: GPUConfig, op: Op) -> list[Kernel]:
    from codesign.gpu import kernels as K
    return K.router(cfg, op.M, op.N, op.topk, op.dtype, op.flops, op.nbytes)


def _gpu_streaming(cfg: GPUConfig, op: Op) -> list[Kernel]:
    from codesign.gpu import kernels as K
    return K.streaming_op(cfg, op.kind, op.op, op.M, op.N, op.dtype, op.flops, op.nbytes)


def _register_builtin() -> None:
    for kind in (OpKind("gemm", _split_gemm, _gpu_gemm, matrix=True, splits=_gemm_splits,
                        work=_gemm_work, sharing=_gemm_sharing),
                 OpKind("attention", _split_attention, _gpu_attention, matrix=True,
                        sharing=_attention_sharing),
                 OpKind("linear_attention", _split_linear_attention, _gpu_linear_attention,
                        matrix=True),
                 OpKind("conv1d", _split_conv1d, _gpu_conv1d),
                 OpKind("router", _split_rows, _gpu_router)):
        register(kind)
    for name in ("norm", "softmax", "rope", "reduction", "embedding"):
        register(OpKind(name, _split_rows, _gpu_streaming))
    for name in ("activation", "elementwise", "copy"):
        register(OpKind(name, _split_flat, _gpu_streaming))


_register_builtin()


def split(op: Op | Any, cores: int, vlen: int) -> tuple[Op, int]:
    """The shard one core runs and how many cores run shards."""
    op = op if isinstance(op, Op) else Op.from_row(op)
    if max(1, cores) == 1:
        return op, 1
    return get(op.kind).split(op, max(1, cores), vlen)


def sharing(op: Op, shard: Op) -> tuple[tuple[str, int], ...]:
    """(buffer name prefix, shards reading the same bytes of it) for ``op`` split into
    ``shard``-sized pieces: data a shared cache holds once for all of them."""
    kind = get(op.kind)
    return kind.sharing(op, shard) if kind.sharing is not None and shard != op else ()


def splits(op: Op | Any, cores: int, vlen: int) -> list[tuple[Op, int]]:
    """The ways of splitting ``op`` worth timing, best-ranked first (:func:`split` alone
    for kinds that rank none)."""
    op = op if isinstance(op, Op) else Op.from_row(op)
    kind = get(op.kind)
    if max(1, cores) == 1 or kind.splits is None:
        return [split(op, cores, vlen)]
    return kind.splits(op, max(1, cores), vlen)
