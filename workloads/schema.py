"""The trace schema: one row per semantic op of a forward pass.

This module is the contract between trace extraction (``workloads.extract``), the
kernel library (``isa``) and the timing models (``codesign``). It must never import
torch: loading and simulating a saved trace stays fast.

Columns (every row has all of them; shape fields that do not apply to a kind are 0):

=============  ===========================================================================
op_id          position of the op in the (collapsed) trace, 0..n-1
layer          first decoder-layer index the row belongs to; -1 for model-level ops
layers         the decoder-layer indices this row stands for, as "0,1,2" ("" for model ops)
layer_type     "full_attention", "sliding_attention", "linear_attention" or "model"
module         module path of the first layer's instance, e.g. "model.layers.3.self_attn.q_proj"
kind           one of ``KINDS``
op             the function within the kind (see ``OPS``), e.g. "rmsnorm", "swiglu", "mul"
name           short semantic name, usually the module's attribute name ("q_proj")
dtype          compute/activation dtype ("bf16", "fp32", ...)
weight_dtype   dtype of a static weight operand ("" when the op reads no weight)
repeat         how many identical instances the row stands for (collapsed layers)
flops          floating-point operations of one instance (a multiply-add counts 2)
bytes_read     bytes one instance reads from memory (operands, weights, KV cache)
bytes_written  bytes one instance writes
=============  ===========================================================================

Shape fields by kind:

- ``gemm``: ``G`` independent GEMMs of ``C[M,N] = A[M,K] @ B[K,N]`` (``G`` > 1 for the
  experts of a grouped MoE GEMM that received the same token count, or a batched matmul).
  ``weight_dtype`` set: ``B`` is a weight; otherwise both operands are activations.
- ``attention``: ``B, Hq, Hkv, Sq, Skv, D, causal, window``. Sq new queries attend to Skv
  keys (Skv includes the Sq new tokens); GQA when Hkv < Hq. ``window`` > 0 is a causal
  sliding window (Mistral): a query attends to itself and the ``window`` - 1 keys before
  it, no further back; 0 is no window. A decode step's Skv is already what the sliding
  KV cache holds (at most ``window``); a prefill longer than the window keeps Skv = Sq
  and the window masks the rest. ``sinks`` true: each head's softmax denominator has one
  more term, exp of a learned per-head logit (GPT-OSS's attention sinks), and no value.
- ``linear_attention`` (Gated DeltaNet): ``B`` sequences, ``Hq`` heads (the value heads
  the kernel runs, after the key heads are repeated to match), ``Sq`` new tokens,
  ``Skv`` tokens already absorbed in the recurrent state, ``D`` key dim, ``Dv`` value dim,
  ``chunk`` the chunk length of the chunked algorithm (prefill) or 0 for the recurrent step.
- ``conv1d`` (causal depthwise): ``B`` sequences, ``N`` channels, ``Sq`` new tokens,
  ``W`` kernel width.
- ``router``: ``M`` tokens, ``N`` experts, ``topk`` experts chosen per token (softmax,
  top-k and renormalisation; the router's linear layer is a separate ``gemm`` row).
- ``rope``: ``M`` rows (tokens x heads) of head dim ``N``, of which ``K`` dims rotate.
- ``embedding``: ``M`` tokens gather rows of ``N`` elements from a table of ``K`` rows.
- ``norm``, ``softmax``, ``activation``, ``elementwise``, ``reduction``, ``copy``:
  ``M`` rows of length ``N``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workloads import costs
from workloads.errors import WorkloadError

if TYPE_CHECKING:  # imported where used: the CLI's parser reads this module's constants
    import pandas as pd

# 2: the ``window`` shape field (sliding-window attention). A version-1 trace reads as
# version 2 with window 0: version 1 had no windowed attention.
# 3: the ``sinks`` flag (attention sinks, GPT-OSS). Earlier traces read with sinks false:
# no family before GPT-OSS had them.
SCHEMA_VERSION = 3
_UPGRADES: dict[int, dict[str, Any]] = {  # version -> columns it lacked
    1: {"window": 0, "sinks": False}, 2: {"sinks": False}}

_LAYER_INDEX = re.compile(r"(?<=layers\.)\d+(?=\.|$)")  # the 3 of "model.layers.3.mlp"

KINDS: list[str] = [
    "gemm",
    "attention",
    "linear_attention",
    "conv1d",
    "norm",
    "rope",
    "activation",
    "elementwise",
    "softmax",
    "reduction",
    "router",
    "embedding",
    "copy",
]

# The functions a kind may name in the ``op`` column. Kernels are written for these.
OPS: dict[str, tuple[str, ...]] = {
    "gemm": ("matmul",),
    "attention": ("sdpa",),
    "linear_attention": ("chunk_gated_delta_rule", "recurrent_gated_delta_rule"),
    "conv1d": ("causal_conv1d", "causal_conv1d_update"),
    "norm": ("rmsnorm", "rmsnorm_1p", "gated_rmsnorm", "l2norm"),
    "rope": ("rope",),
    "activation": ("silu", "swiglu", "sigmoid", "softplus", "gelu", "relu"),
    "elementwise": (
        "add", "sub", "mul", "div", "neg", "exp", "log", "rsqrt", "sqrt", "pow",
        "cos", "sin", "where", "maximum", "minimum", "reciprocal", "fill",
    ),
    "softmax": ("softmax",),
    "reduction": ("sum", "mean", "amax", "cumsum", "topk"),
    "router": ("softmax_topk",),
    "embedding": ("gather",),
    "copy": ("copy", "cast", "cat", "pad", "gather", "scatter"),
}

SHAPE_FIELDS: tuple[str, ...] = (
    "M", "N", "K", "G", "B", "Hq", "Hkv", "Sq", "Skv", "D", "Dv", "chunk", "W", "topk",
    "window",
)

# Which shape fields each kind uses (the others are 0).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "gemm": ("M", "N", "K", "G"),
    "attention": ("B", "Hq", "Hkv", "Sq", "Skv", "D", "window"),
    "linear_attention": ("B", "Hq", "Sq", "Skv", "D", "Dv", "chunk"),
    "conv1d": ("B", "N", "Sq", "W"),
    "router": ("M", "N", "topk"),
    "rope": ("M", "N", "K"),
    "embedding": ("M", "N", "K"),
    "norm": ("M", "N"),
    "softmax": ("M", "N"),
    "activation": ("M", "N"),
    "elementwise": ("M", "N"),
    "reduction": ("M", "N"),
    "copy": ("M", "N"),
}

COLUMNS: dict[str, str] = {
    "op_id": "int64",
    "layer": "int64",
    "layers": "string",
    "layer_type": "string",
    "module": "string",
    "kind": "string",
    "op": "string",
    "name": "string",
    "dtype": "string",
    "weight_dtype": "string",
    **{f: "int64" for f in SHAPE_FIELDS},
    "causal": "bool",
    "sinks": "bool",
    "repeat": "int64",
    "flops": "int64",
    "bytes_read": "int64",
    "bytes_written": "int64",
}

# Bytes per element. The block formats count their scales: q4_0 (llama.cpp block_q4_0:
# 32 4-bit codes + one fp16 scale = 18 bytes per 32 weights), q4_1 (block_q4_1: 32 4-bit codes
# + an fp16 scale d and an fp16 min m, x = d q + m: 20 per 32; ggml-common.h), q8_0
# (block_q8_0: 34 per 32),
# mxfp4 (OCP MX v1.0: 32 E2M1 codes + one E8M0 scale = 17 per 32). int8, int4 and fp8 count
# the codes only (their per-channel / per-group scales are what a RISC-V kernel adds:
# isa.kernels.quant).
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5,
    "q8_0": 34 / 32, "q4_0": 18 / 32, "q4_1": 20 / 32, "mxfp4": 17 / 32,
    "q6_k": 210 / 256,  # block_q6_K: ql 128 + qh 64 + int8 scales 16 + fp16 d per 256
    "int64": 8.0, "int32": 4.0, "bool": 1.0,
}
WEIGHT_DTYPES: tuple[str, ...] = ("bf16", "fp16", "int8", "int4", "fp8", "mxfp4", "q4_0",
                                  "q4_1", "q8_0")
# The formats of a model's output matrix (lm_head), when it is not the other weights' (a
# GGUF's: llama.cpp's quantiser gives output.weight Q6_K or Q8_0 in a Q4_0 / Q4_1 file,
# src/llama-quant.cpp llama_tensor_get_type_impl; isa.kernels.kquant): the weight formats
# and llama.cpp's q6_k.
OUTPUT_WEIGHT_DTYPES: tuple[str, ...] = (*WEIGHT_DTYPES, "q6_k")
# The weight option that means "as the released checkpoint stores them" (the default): bf16,
# and the routed experts in the format the model's config.json names in its
# quantization_config (GPT-OSS: mxfp4, arXiv 2508.10925 §2); other models are all bf16.
RELEASE_FORMAT = "release"
WEIGHT_OPTIONS: tuple[str, ...] = (RELEASE_FORMAT, *WEIGHT_DTYPES)
PHASES: tuple[str, ...] = ("prefill", "decode")


def dtype_bytes(dtype: str) -> float:
    """Bytes per element of a trace dtype name."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise WorkloadError(
            f"unknown dtype {dtype!r}; valid: {', '.join(DTYPE_BYTES)}"
        ) from None


def register_kind(kind: str, fields: tuple[str, ...], ops: tuple[str, ...],
                  flops: Callable[[Mapping[str, Any]], int], replace: bool = False) -> None:
    """Add an op kind to the trace's vocabulary: its shape fields (a subset of
    :data:`SHAPE_FIELDS`; the others stay 0), the ops (functions) it has, and the FLOPs
    of one instance from a row's shape fields (``workloads.costs.KIND_FLOPS``). A kind new to
    the package is one call here, one ``codesign.kinds.register`` (how it splits over cores,
    its GPU kernels) and one ``isa.kernels.register_kernel`` (its RISC-V lowering), all from
    the user's own module."""
    bad = sorted(set(fields) - set(SHAPE_FIELDS))
    if bad:
        raise WorkloadError(f"kind {kind!r}: unknown shape fields {bad}; valid: "
                            f"{', '.join(SHAPE_FIELDS)}")
    if not ops:
        raise WorkloadError(f"kind {kind!r} names no ops")
    if kind in KINDS and not replace:
        raise WorkloadError(f"op kind {kind!r} is already in the trace vocabulary "
                            "(pass replace=True to redefine it)")
    if kind not in KINDS:
        KINDS.append(kind)
    KIND_FIELDS[kind] = tuple(fields)
    OPS[kind] = tuple(ops)
    costs.KIND_FLOPS[kind] = flops


def empty_ops() -> pd.DataFrame:
    """An empty ops table with the schema's columns and dtypes."""
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in COLUMNS.items()})


def validate_ops(ops: pd.DataFrame) -> pd.DataFrame:
    """Check columns, kinds and ops; return the table with canonical dtypes and order."""
    missing = [c for c in COLUMNS if c not in ops.columns]
    if missing:
        raise WorkloadError(f"trace is missing columns: {', '.join(missing)}")
    bad_kinds = sorted(set(ops["kind"]) - set(KINDS))
    if bad_kinds:
        raise WorkloadError(
            f"trace has unknown op kinds {bad_kinds}; valid: {', '.join(KINDS)}"
        )
    for kind, group in ops.groupby("kind"):
        bad = sorted(set(group["op"]) - set(OPS[str(kind)]))
        if bad:
            raise WorkloadError(
                f"trace has unknown {kind} ops {bad}; valid: {', '.join(OPS[str(kind)])}"
            )
    return ops[list(COLUMNS)].astype(COLUMNS).reset_index(drop=True)


@dataclass(frozen=True)
class Scenario:
    """What was run: phase, batch, sequence or context length and dtypes."""

    phase: str
    batch: int = 1
    seq: int = 0  # prefill: prompt tokens per sequence
    context: int = 0  # decode: tokens already in the KV cache / recurrent state
    dtype: str = "bf16"  # activation dtype
    weight_dtype: str = "bf16"
    routing: str = "balanced"
    expert_weight_dtype: str = ""  # the routed experts' weights, when not weight_dtype
    output_weight_dtype: str = ""  # the output matrix's (lm_head), when not weight_dtype

    @classmethod
    def of(cls, scenario: dict[str, Any]) -> Scenario:
        """The scenario a trace's ``meta["scenario"]`` records, without the timing hints a
        caller may add beside it (``sustained``: codesign.serving.sustained)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in scenario.items() if k in names})

    @property
    def experts_dtype(self) -> str:
        """The dtype of the routed experts' weights."""
        return self.expert_weight_dtype or self.weight_dtype

    @property
    def output_dtype(self) -> str:
        """The dtype of the output matrix's weights (lm_head)."""
        return self.output_weight_dtype or self.weight_dtype

    @property
    def new_tokens(self) -> int:
        """Tokens processed by the forward pass (all sequences)."""
        return self.batch * (self.seq if self.phase == "prefill" else 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase, "batch": self.batch, "seq": self.seq,
            "context": self.context, "dtype": self.dtype,
            "weight_dtype": self.weight_dtype, "routing": self.routing,
            **({"expert_weight_dtype": self.expert_weight_dtype}
               if self.expert_weight_dtype else {}),
            **({"output_weight_dtype": self.output_weight_dtype}
               if self.output_weight_dtype else {}),
        }


@dataclass(frozen=True)
class Op(Mapping[str, Any]):
    """One trace row as a typed, frozen record: what travels from a trace to the timing
    models (the trace itself stays a DataFrame on disk). Every shape field is an int (0
    where the kind does not use it, :data:`KIND_FIELDS`). A kernel library written against
    plain rows reads it the same way: ``op["M"]``, ``op.get("G", 1)``."""

    kind: str
    op: str = ""
    dtype: str = "bf16"
    weight_dtype: str = ""
    name: str = ""
    M: int = 0
    N: int = 0
    K: int = 0
    G: int = 0
    B: int = 0
    Hq: int = 0
    Hkv: int = 0
    Sq: int = 0
    Skv: int = 0
    D: int = 0
    Dv: int = 0
    chunk: int = 0
    W: int = 0
    topk: int = 0
    window: int = 0
    causal: bool = False
    sinks: bool = False
    flops: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    repeat: int = 1
    extra: tuple[tuple[str, Any], ...] = ()  # other row fields (e.g. an exponent)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Op:
        """The record of a trace row (a dict or a DataFrame record)."""
        kw: dict[str, Any] = {}
        extra = []
        for key, value in row.items():
            if key not in _OP_FIELDS:
                if key not in COLUMNS:
                    extra.append((str(key), value))
                continue
            kw[key] = _OP_TYPES[key](value) if value is not None else _OP_DEFAULTS[key]
        if "kind" not in kw:
            raise WorkloadError(f"op row without a kind: {dict(row)!r}")
        return cls(**kw, extra=tuple(sorted(extra, key=lambda kv: kv[0])))

    def replace(self, **changes: Any) -> Op:
        return dataclasses.replace(self, **changes)

    @property
    def nbytes(self) -> int:
        return self.bytes_read + self.bytes_written

    # ---- read like a row ------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        if key in _OP_FIELDS:
            return getattr(self, key)
        for k, v in self.extra:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from (f for f in _OP_ORDER)
        yield from (k for k, _ in self.extra)

    def __len__(self) -> int:
        return len(_OP_ORDER) + len(self.extra)


_OP_ORDER = tuple(f.name for f in dataclasses.fields(Op) if f.name != "extra")
_OP_FIELDS = frozenset(_OP_ORDER)


def record_columns(columns: Iterable[str]) -> list[str]:
    """The ``columns`` of a row that :meth:`Op.from_row` reads (its fields, and the
    columns outside :data:`COLUMNS` that it keeps in ``extra``): rows equal in them give
    equal records, whatever their other columns hold."""
    return [c for c in columns if c in _OP_FIELDS or c not in COLUMNS]


_OP_TYPES: dict[str, Any] = {f.name: {"str": str, "int": int, "bool": bool}[str(f.type)]
                             for f in dataclasses.fields(Op) if f.name != "extra"}
_OP_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Op)
                                if f.name != "extra"}


@dataclass
class Trace:
    """A model's forward pass as semantic ops (``ops``) plus what produced it (``meta``).

    ``meta`` holds at least ``model``, ``scenario`` (a dict of :class:`Scenario`),
    ``schema_version`` and ``versions`` (package versions used for extraction); a traced
    model with RoPE adds ``rope``: its variant as transformers runs it (``type`` such as
    "default", "yarn" or "llama3", ``attention_scaling``, ``parameters``).
    """

    ops: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ops = validate_ops(self.ops)

    # ---- what was traced -------------------------------------------------------------
    @property
    def model(self) -> str:
        return str(self.meta.get("model", "?"))

    @property
    def scenario(self) -> Scenario:
        return Scenario.of(self.meta["scenario"])

    # ---- totals ----------------------------------------------------------------------
    def totals(self) -> pd.DataFrame:
        """Ops, FLOPs and bytes by kind, with ``repeat`` applied."""
        import pandas as pd

        o = self.ops
        r = o["repeat"]
        df = pd.DataFrame({
            "kind": o["kind"],
            "ops": r,
            "flops": o["flops"] * r,
            "bytes_read": o["bytes_read"] * r,
            "bytes_written": o["bytes_written"] * r,
        })
        out = df.groupby("kind", sort=False).sum()
        return out.reindex([k for k in KINDS if k in out.index])

    @property
    def total_flops(self) -> int:
        return int((self.ops["flops"] * self.ops["repeat"]).sum())

    @property
    def total_bytes(self) -> int:
        o = self.ops
        return int(((o["bytes_read"] + o["bytes_written"]) * o["repeat"]).sum())

    def expand(self) -> Trace:
        """The uncollapsed trace: one row per op instance and decoder layer."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for row in self.ops.to_dict("records"):
            layers = [int(x) for x in str(row["layers"]).split(",") if x != ""]
            if not layers:
                rows.extend({**row, "repeat": 1} for _ in range(int(row["repeat"])))
                continue
            for layer in layers:
                module = _LAYER_INDEX.sub(str(layer), str(row["module"]), count=1)
                rows.append({**row, "layer": layer, "layers": str(layer),
                             "module": module, "repeat": 1})
        ops = pd.DataFrame(rows, columns=list(COLUMNS))
        # model-level ops before the first layer stay first, those after it go last
        in_layers = ops.op_id[ops.layer >= 0]
        first = int(in_layers.min()) if len(in_layers) else 0
        ops["_group"] = 1
        ops.loc[(ops.layer < 0) & (ops.op_id < first), "_group"] = 0
        ops.loc[(ops.layer < 0) & (ops.op_id > first), "_group"] = 2
        ops = ops.sort_values(["_group", "layer", "op_id"], kind="stable").drop(columns="_group")
        ops["op_id"] = range(len(ops))
        return Trace(ops, {**self.meta, "collapsed": False})

    # ---- persistence -----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the trace as Parquet with its metadata; returns the path."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(self.ops, preserve_index=False)
        raw = json.dumps({**self.meta, "schema_version": SCHEMA_VERSION}).encode()
        table = table.replace_schema_metadata({
            **(table.schema.metadata or {}),
            META_KEY: raw, META_DIGEST_KEY: _digest(raw),
        })
        tmp = path.with_name(path.name + ".tmp")
        try:
            # a CRC per data page: a damaged page is refused on load, never read as numbers
            pq.write_table(table, tmp, write_page_checksum=True)
            tmp.replace(path)  # atomic: a reader never sees half a file
        finally:
            if tmp.exists():  # a failed write leaves nothing behind
                tmp.unlink()
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read a trace written by :meth:`save`; refuses foreign or mismatched files."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        if not path.is_file():
            raise WorkloadError(f"trace file {str(path)!r} does not exist")
        try:
            table = pq.read_table(path, page_checksum_verification=True)
        except (pa.ArrowException, OSError) as exc:
            raise WorkloadError(
                f"{str(path)!r} is not a readable Parquet trace, or it is damaged ({exc})"
            ) from None
        meta = _verified_meta(path, table.schema.metadata or {})
        version = meta.get("schema_version")
        try:
            ops = table.to_pandas()
        except (pa.ArrowException, ValueError, TypeError, KeyError) as exc:
            raise _damaged(path, exc) from None
        if version in _UPGRADES:
            ops = ops.assign(**_UPGRADES[version])
            meta = {**meta, "schema_version": SCHEMA_VERSION}
        elif version != SCHEMA_VERSION:
            raise WorkloadError(
                f"{str(path)!r} has trace schema version {version}; this codesign reads "
                f"version {SCHEMA_VERSION}: extract the trace again with `codesign trace`"
            )
        try:
            return cls(ops, meta)
        except (pa.ArrowException, ValueError, TypeError, KeyError) as exc:  # damaged footer
            raise _damaged(path, exc) from None

    # ---- display ---------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Totals for printing: model, scenario, ops/GFLOP/GB by kind."""
        t = self.totals()
        return {
            "model": self.model,
            "scenario": self.meta.get("scenario", {}),
            "rows": len(self.ops),
            "total_gflop": self.total_flops / 1e9,
            "total_gb": self.total_bytes / 1e9,
            "by_kind": {
                str(k): {
                    "ops": int(v["ops"]),
                    "gflop": float(v["flops"]) / 1e9,
                    "gb": float(v["bytes_read"] + v["bytes_written"]) / 1e9,
                }
                for k, v in t.iterrows()
            },
        }

    def __repr__(self) -> str:
        s = self.meta.get("scenario", {})
        return (f"Trace({self.model}, {s.get('phase')}, batch={s.get('batch')}, "
                f"seq={s.get('seq')}, context={s.get('context')}, rows={len(self.ops)}, "
                f"{self.total_flops / 1e9:.1f} GFLOP, {self.total_bytes / 1e9:.2f} GB)")


def _damaged(path: Path, exc: Exception) -> WorkloadError:
    return WorkloadError(f"{str(path)!r} is damaged: its columns do not read as a trace "
                         f"({exc}); extract it again with `codesign trace`")


META_KEY = b"codesign.trace"
META_DIGEST_KEY = b"codesign.trace.sha256"  # of META_KEY's bytes (pages have their CRCs)


def _digest(raw: bytes) -> bytes:
    return hashlib.sha256(raw).hexdigest().encode()


def _verified_meta(path: Path, schema_meta: Mapping[bytes, bytes]) -> dict[str, Any]:
    """A trace file's metadata, checked against its digest (files written before traces
    carried one are read as they are)."""
    raw = schema_meta.get(META_KEY)
    if raw is None:
        raise WorkloadError(
            f"{str(path)!r} is a Parquet file but not a codesign trace "
            "(no 'codesign.trace' metadata)"
        )
    digest = schema_meta.get(META_DIGEST_KEY)
    try:
        meta = json.loads(raw)
        ok = (digest is None or digest == _digest(raw)) and isinstance(meta, dict)
    except ValueError:
        ok = False
    if not ok:
        raise WorkloadError(f"{str(path)!r} is damaged: its metadata does not match its "
                            "checksum; extract the trace again with `codesign trace`")
    return meta


def row_defaults() -> dict[str, Any]:
    """A row with every column at its neutral value (shape fields 0, repeat 1)."""
    row: dict[str, Any] = {c: 0 for c in COLUMNS}
    row.update({
        "layers": "", "layer_type": "model", "module": "", "kind": "", "op": "",
        "name": "", "dtype": "bf16", "weight_dtype": "", "causal": False, "sinks": False,
        "repeat": 1,
        "layer": -1, "G": 1,
    })
    return row


def trace_from_rows(rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> Trace:
    """Build a :class:`Trace` from partial row dicts (missing columns take defaults)."""
    import pandas as pd

    full = [{**row_defaults(), **r} for r in rows]
    ops = pd.DataFrame(full, columns=list(COLUMNS)) if full else empty_ops()
    ops["op_id"] = range(len(ops))
    return Trace(ops, dict(meta))
