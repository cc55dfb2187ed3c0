"""Trace extraction: run the transformers modeling code shape-only and record semantic ops.

How it works (see shared/DESIGN.md, The trace, and shared/reference/qwen.md §5):

1. The text model (``Qwen3_5ForCausalLM``, ``LlamaForCausalLM``, ``MixtralForCausalLM``,
   ...) is built from its config inside ``FakeTensorMode`` with bf16 as the default dtype:
   no weights, no memory.
2. The forward pass runs under a recording ``TorchDispatchMode``. Module hooks keep the
   module path of every aten op (and so its decoder layer).
3. *Semantic regions* become one row each and hide the aten ops inside them:
   ``nn.Linear`` (gemm), RMSNorm classes (norm), ``nn.Embedding``, the rotary-embedding
   module, activation modules, the MoE router and experts, and the modeling module's
   functions ``apply_rotary_pos_emb`` (rope), the attention function registered as
   "sdpa" (attention), ``causal_conv1d_fn/update`` (conv1d), the chunked and recurrent
   gated delta rules (linear_attention, with their q/k l2norm), and ``Cache.update``
   (the KV-cache write of the new tokens).
4. The remaining aten ops are classified by a small table: views and aliases disappear,
   data movement becomes ``copy``, the rest ``elementwise``/``activation``/``reduction``/
   ``softmax``/``gemm``. A SiLU whose output is multiplied by a tensor of its shape fuses
   into one ``swiglu`` row.
5. Identical decoder layers collapse into one body with ``repeat``.

Decode traces first run an unrecorded prefill of ``context`` tokens to fill the KV cache
and the recurrent state, then record one step of one new token per sequence.

The same code runs with real CPU tensors and random weights (``fake=False``), which is
how the tests prove the shape-only trace is faithful; then MoE routing is real.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from workloads import costs
from workloads.errors import WorkloadError
from workloads.registry import ZERO_CENTRED_NORM, ModelConfig, load_config, param_counts
from workloads.routing import Balanced, RoutingPolicy, group_counts, parse_routing
from workloads.schema import (
    OUTPUT_WEIGHT_DTYPES,
    PHASES,
    RELEASE_FORMAT,
    SCHEMA_VERSION,
    WEIGHT_OPTIONS,
    Scenario,
    Trace,
    dtype_bytes,
    trace_from_rows,
)

DEFAULT_SEQ = 2048
# the output matrix's module: transformers' *ForCausalLM.lm_head (its weight a GGUF's
# output.weight, or the token embedding when the embeddings are tied)
OUTPUT_MODULE = "lm_head"
DEFAULT_CONTEXT = 4096

TORCH_DTYPES = {
    torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32",
    torch.float64: "fp32", torch.int64: "int64", torch.int32: "int32", torch.bool: "bool",
    torch.int8: "int8", torch.uint8: "int8",
}

# ---- the aten pattern pass ------------------------------------------------------------
# Ops that only reinterpret or alias memory: they cost nothing and disappear.
_FREE = frozenset("""
view _unsafe_view reshape alias t transpose permute expand unsqueeze squeeze slice
select split split_with_sizes chunk unbind detach as_strided lift_fresh _reshape_alias
view_as expand_as unflatten flatten narrow movedim empty empty_like empty_strided
new_empty new_empty_strided sym_size sym_stride sym_numel _local_scalar_dense
is_same_size resolve_conj resolve_neg _to_dense _conj _neg_view lift
""".split())  # noqa: SIM905
# aten op -> (kind, op)
_CLASSES: dict[str, tuple[str, str]] = {
    **{n: ("copy", "copy") for n in ("clone", "copy", "contiguous", "repeat",
                                      "repeat_interleave", "expand_copy", "_to_copy_same")},
    "_to_copy": ("copy", "cast"), "to": ("copy", "cast"),
    "cat": ("copy", "cat"), "stack": ("copy", "cat"),
    "constant_pad_nd": ("copy", "pad"), "pad": ("copy", "pad"),
    **{n: ("copy", "gather") for n in ("index", "gather", "index_select", "take",
                                        "embedding")},
    **{n: ("copy", "scatter") for n in ("index_put", "scatter", "index_copy", "slice_scatter",
                                         "select_scatter", "index_add", "scatter_add",
                                         "masked_scatter")},
    **{n: ("elementwise", "fill") for n in ("zeros", "ones", "full", "zeros_like",
                                             "ones_like", "full_like", "fill", "zero",
                                             "arange", "scalar_tensor", "new_zeros",
                                             "new_ones", "new_full", "tril", "triu")},
    **{n: ("elementwise", n) for n in ("add", "sub", "mul", "div", "neg", "exp", "log",
                                        "rsqrt", "sqrt", "pow", "cos", "sin", "where",
                                        "maximum", "minimum", "reciprocal")},
    "rsub": ("elementwise", "sub"), "clamp": ("elementwise", "maximum"),
    "clamp_min": ("elementwise", "maximum"), "clamp_max": ("elementwise", "minimum"),
    "masked_fill": ("elementwise", "where"), "abs": ("elementwise", "maximum"),
    "eq": ("elementwise", "sub"), "ne": ("elementwise", "sub"), "lt": ("elementwise", "sub"),
    "gt": ("elementwise", "sub"), "le": ("elementwise", "sub"), "ge": ("elementwise", "sub"),
    "logical_not": ("elementwise", "sub"), "bitwise_not": ("elementwise", "sub"),
    # boolean mask algebra (the sliding-window mask): and is a product, or a maximum
    "bitwise_and": ("elementwise", "mul"), "logical_and": ("elementwise", "mul"),
    "bitwise_or": ("elementwise", "maximum"), "logical_or": ("elementwise", "maximum"),
    "exp2": ("elementwise", "exp"), "square": ("elementwise", "mul"),
    "silu": ("activation", "silu"), "sigmoid": ("activation", "sigmoid"),
    "softplus": ("activation", "softplus"), "gelu": ("activation", "gelu"),
    "relu": ("activation", "relu"),
    **{n: ("reduction", n) for n in ("sum", "mean", "amax", "cumsum", "topk")},
    "max": ("reduction", "amax"), "argmax": ("reduction", "amax"), "sort": ("reduction", "topk"),
    "histc": ("reduction", "sum"), "bincount": ("reduction", "sum"),
    "_softmax": ("softmax", "softmax"), "_safe_softmax": ("softmax", "softmax"),
    "softmax": ("softmax", "softmax"),
    **{n: ("gemm", "matmul") for n in ("mm", "bmm", "addmm", "matmul", "baddbmm",
                                        "_grouped_mm", "linear")},
}

_LAYER_RE = re.compile(r"(?:^|\.)layers\.(\d+)(?:\.|$)")


def _layer_index(module: str) -> int:
    """The decoder-layer index in a module path (``model.layers.3.mlp`` -> 3)."""
    m = _LAYER_RE.search(module)
    if m is None:
        raise WorkloadError(f"module {module!r} is not inside a decoder layer")
    return int(m.group(1))
_ACTIVATIONS = {"SiLU": "silu", "SiLUActivation": "silu", "Sigmoid": "sigmoid",
                "GELU": "gelu", "GELUActivation": "gelu", "ReLU": "relu", "Softplus": "softplus"}


def _dt(t: torch.Tensor) -> str:
    return TORCH_DTYPES.get(t.dtype, "fp32")


def _nbytes(t: torch.Tensor) -> int:
    return int(t.numel() * t.element_size())


def _tensors(obj: Any) -> list[torch.Tensor]:
    leaves, _ = tree_flatten(obj)
    seen: dict[int, torch.Tensor] = {}
    for x in leaves:
        if isinstance(x, torch.Tensor):
            seen.setdefault(id(x), x)
    return list(seen.values())


def _is_fake(t: torch.Tensor) -> bool:
    return type(t).__name__ == "FakeTensor" or t.device.type == "meta"


# ---- the recorder ---------------------------------------------------------------------
@dataclass
class _Emitter:
    """Collects rows; knows where in the model it is and what is hidden."""

    cfg: ModelConfig
    scenario: Scenario
    routing: RoutingPolicy
    fake: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)
    suppress: int = 0
    recording: bool = False
    context: int = 0
    # id(tensor) -> (row index, tensor) for SiLU outputs that a multiply may fuse with
    silu_out: dict[int, tuple[int, torch.Tensor]] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return self.stack[-1] if self.stack else ""

    def add(self, module: str | None = None, **row: Any) -> int:
        path = self.module if module is None else module
        m = _LAYER_RE.search(path)
        if m:
            layer = int(m.group(1))
            row.setdefault("layer_type", self.cfg.layer_types[layer])
        else:
            layer = -1
            row.setdefault("layer_type", "model")
        row.update(layer=layer, layers=str(layer) if layer >= 0 else "", module=path)
        row.setdefault("name", path.rsplit(".", 1)[-1] if path else row.get("op", ""))
        # FLOPs from the kind's count (workloads.costs.KIND_FLOPS) plus what the shape
        # fields do not say (a linear layer's bias add)
        row["flops"] = costs.op_flops(row) + row.pop("extra_flops", 0)
        self.rows.append(row)
        return len(self.rows) - 1

    @contextlib.contextmanager
    def hidden(self) -> Iterator[None]:
        self.suppress += 1
        try:
            yield
        finally:
            self.suppress -= 1

    @property
    def active(self) -> bool:
        return self.recording and self.suppress == 0

    # ---- aten ops outside semantic regions -------------------------------------------
    def aten(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        name = func.overloadpacket.__name__
        base = name[:-1] if name.endswith("_") and not name.startswith("_") else name
        if base in _FREE:
            return
        outs = _tensors(out)
        if not outs:
            return
        ins = _tensors((args, kwargs))
        if base == "_to_copy" and ins and ins[0].dtype == outs[0].dtype:
            base = "_to_copy_same"
        try:
            kind, op = _CLASSES[base]
        except KeyError:
            raise WorkloadError(
                f"unclassified aten op {func} in module {self.module!r}: extend "
                "workloads.extract._CLASSES"
            ) from None
        o = outs[0]
        n = int(o.shape[-1]) if o.dim() else 1
        m = int(o.numel() // n) if n else 0
        # copy_ overwrites its destination without reading it; the other in-place ops
        # (add_, mul_, index_put_) read their destination as an operand.
        overwritten = o if base == "copy" else None
        row: dict[str, Any] = dict(
            kind=kind, op=op, name=base, dtype=_dt(o), M=m, N=n,
            bytes_read=sum(_nbytes(t) for t in ins if t is not overwritten),
            bytes_written=sum(_nbytes(t) for t in outs),
        )
        if kind == "gemm":
            a = ins[1] if base in ("addmm", "baddbmm") else ins[0]  # addmm's ins[0] is the bias
            kdim = int(a.shape[-1])
            rows = int(o.shape[-2]) if o.dim() >= 2 else 1  # a batched matmul's G
            g = int(o.numel() // (rows * n)) if rows * n else 1
            row.update(M=int(o.shape[-2]) if o.dim() >= 2 else 1, N=n, K=kdim, G=max(g, 1))
        elif op == "fill":
            row["bytes_read"] = 0
        elif kind == "reduction":
            src = ins[0] if ins else o
            row["N"] = int(src.shape[-1]) if src.dim() else 1
            row["M"] = int(src.numel() // max(row["N"], 1))
        if op == "mul" and kind == "elementwise" and self._fuse_swiglu(ins, o, row):
            return
        idx = self.add(**row)
        if kind == "activation" and op == "silu":
            self.silu_out[id(o)] = (idx, o)

    def _fuse_swiglu(self, ins: list[torch.Tensor], out: torch.Tensor,
                     row: dict[str, Any]) -> bool:
        """silu(a) * b with b of the same shape: one swiglu row in the multiply's place."""
        if len(ins) != 2 or ins[0].shape != ins[1].shape:
            return False
        for t in ins:
            hit = self.silu_out.pop(id(t), None)
            if hit is not None and hit[1] is t:
                idx = hit[0]
                silu = self.rows[idx]
                del self.rows[idx]
                self._reindex_after(idx)
                self.add(kind="activation", op="swiglu", name="act_fn",
                         dtype=row["dtype"], M=row["M"], N=row["N"],
                         bytes_read=silu["bytes_read"] + _nbytes(ins[0] if ins[1] is t else ins[1]),
                         bytes_written=row["bytes_written"])
                return True
        return False

    def _reindex_after(self, idx: int) -> None:
        self.silu_out = {k: (i - 1 if i > idx else i, t) for k, (i, t) in self.silu_out.items()}


class _Recorder(TorchDispatchMode):
    def __init__(self, em: _Emitter) -> None:
        super().__init__()
        self.em = em

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.em.active:
            self.em.aten(func, args, kwargs, out)
        return out


# ---- semantic regions: modules --------------------------------------------------------
def _linear_row(em: _Emitter, mod: nn.Linear, x: torch.Tensor, out: torch.Tensor) -> None:
    k, n = mod.in_features, mod.out_features
    m = int(x.numel() // k)
    wdt = (em.scenario.output_dtype if em.module.rsplit(".", 1)[-1] == OUTPUT_MODULE
           else em.scenario.weight_dtype)
    act = dtype_bytes(_dt(x))
    weight_bytes = math.ceil(n * k * dtype_bytes(wdt)) + (n * 2 if mod.bias is not None else 0)
    em.add(kind="gemm", op="matmul", dtype=_dt(x), weight_dtype=wdt, M=m, N=n, K=k, G=1,
           extra_flops=m * n if mod.bias is not None else 0,
           bytes_read=int(m * k * act) + weight_bytes,
           bytes_written=_nbytes(out))


def _norm_row(em: _Emitter, mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
    x = args[0]
    gated = type(mod).__name__.endswith("Gated")
    if gated:
        op = "gated_rmsnorm"
    elif em.cfg.model_type in ZERO_CENTRED_NORM:
        op = "rmsnorm_1p"
    else:
        op = "rmsnorm"
    n = int(x.shape[-1])
    m = int(x.numel() // n)
    read = sum(_nbytes(t) for t in args if isinstance(t, torch.Tensor))
    read += sum(_nbytes(p) for p in mod.parameters(recurse=False))
    em.add(kind="norm", op=op, dtype=_dt(x), M=m, N=n,
           bytes_read=read, bytes_written=_nbytes(out))


def _embedding_row(em: _Emitter, mod: nn.Embedding, ids: torch.Tensor,
                   out: torch.Tensor) -> None:
    m, n = int(ids.numel()), mod.embedding_dim
    em.add(kind="embedding", op="gather", dtype=_dt(out), M=m, N=n, K=mod.num_embeddings,
           bytes_read=_nbytes(ids) + _nbytes(out), bytes_written=_nbytes(out))


def _rotary_rows(em: _Emitter, mod: nn.Module, args: tuple, out: Any) -> None:
    cos, _sin = out
    n = int(cos.shape[-1])
    m = int(cos.numel() // n)
    for op in ("cos", "sin"):
        em.add(kind="elementwise", op=op, name=f"rotary_emb.{op}", dtype=_dt(cos), M=m, N=n,
               bytes_read=m * 8, bytes_written=_nbytes(cos))  # reads int64 positions


def _activation_row(em: _Emitter, mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
    op = _ACTIVATIONS[type(mod).__name__]
    x = args[0]
    n = int(x.shape[-1])
    m = int(x.numel() // n)
    idx = em.add(kind="activation", op=op, dtype=_dt(out), M=m, N=n,
                 bytes_read=_nbytes(x), bytes_written=_nbytes(out))
    if op == "silu":
        em.silu_out[id(out)] = (idx, out)


def _router_rows(em: _Emitter, mod: nn.Module, args: tuple, out: Any) -> None:
    x = args[0]
    weight: torch.Tensor = mod.weight  # type: ignore[assignment]  # nn.Module.__getattr__
    e, h = (int(s) for s in weight.shape)
    t = int(x.numel() // h)
    k = int(mod.top_k)  # type: ignore[arg-type]  # a config int on the module
    act = _dt(x)
    em.add(kind="gemm", op="matmul", name="router", dtype=act,
           weight_dtype=act, M=t, N=e, K=h, G=1,
           bytes_read=_nbytes(x) + _nbytes(weight), bytes_written=t * e * 4)
    em.add(kind="router", op="softmax_topk", name="router.topk", dtype="fp32", M=t, N=e,
           topk=k,
           bytes_read=t * e * 4, bytes_written=t * k * (8 + 2))


def _experts_rows(em: _Emitter, mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
    x, top_k_index = args[0], args[1]
    t, h = int(x.shape[0]), int(x.shape[-1])
    k = int(top_k_index.shape[-1])
    e = int(mod.num_experts)  # type: ignore[arg-type]  # a config int on the module
    im = int(getattr(mod, "intermediate_dim", None)  # GPT-OSS names it intermediate_size
             or mod.intermediate_size)  # type: ignore[arg-type]
    if em.fake or _is_fake(top_k_index):
        counts = em.routing.counts(t, e, k, _layer_index(em.module))
    else:
        with em.hidden():  # the real routing, counted (not part of the traced model)
            counts = torch.bincount(top_k_index.reshape(-1).long(), minlength=e).numpy()
    groups = group_counts(counts)
    act, wdt = _dt(x), em.scenario.experts_dtype
    ab, wb = dtype_bytes(act), dtype_bytes(wdt)
    tk = t * k
    em.add(kind="copy", op="gather", name="experts.dispatch", dtype=act, M=tk, N=h,
           bytes_read=int(tk * h * ab), bytes_written=int(tk * h * ab))
    for tokens, g in groups:
        em.add(kind="gemm", op="matmul", name="experts.gate_up_proj", dtype=act,
               weight_dtype=wdt, M=tokens, N=2 * im, K=h, G=g,
               bytes_read=int(g * (tokens * h * ab + 2 * im * h * wb)),
               bytes_written=int(g * tokens * 2 * im * ab))
    em.add(kind="activation", op="swiglu", name="experts.act_fn", dtype=act, M=tk, N=im,
           bytes_read=int(tk * 2 * im * ab), bytes_written=int(tk * im * ab))
    for tokens, g in groups:
        em.add(kind="gemm", op="matmul", name="experts.down_proj", dtype=act,
               weight_dtype=wdt, M=tokens, N=h, K=im, G=g,
               bytes_read=int(g * (tokens * im * ab + h * im * wb)),
               bytes_written=int(g * tokens * h * ab))
    em.add(kind="elementwise", op="mul", name="experts.routing_weights", dtype=act, M=tk, N=h,
           bytes_read=int(tk * h * ab + tk * ab), bytes_written=int(tk * h * ab))
    em.add(kind="reduction", op="sum", name="experts.combine", dtype=act, M=t, N=k * h,
           bytes_read=int(tk * h * ab), bytes_written=_nbytes(out))


def _semantic_handler(mod: nn.Module) -> Callable[..., None] | None:
    cls = type(mod).__name__
    if isinstance(mod, nn.Linear):
        return lambda em, m, a, o: _linear_row(em, m, a[0], o)
    if isinstance(mod, nn.Embedding):
        return lambda em, m, a, o: _embedding_row(em, m, a[0], o)
    if cls.endswith(("RMSNorm", "RMSNormGated")):
        return _norm_row
    if cls.endswith("RotaryEmbedding"):
        return _rotary_rows
    if cls in _ACTIVATIONS:
        return _activation_row
    if cls.endswith("TopKRouter"):
        return _router_rows
    if cls.endswith("Experts") and hasattr(mod, "gate_up_proj"):
        return _experts_rows
    return None


def _install_hooks(model: nn.Module, em: _Emitter) -> list[Any]:
    handles = []
    for path, mod in model.named_modules():
        handler = _semantic_handler(mod)

        def pre(m: nn.Module, args: tuple, path: str = path, semantic: bool = handler is not None
                ) -> None:
            em.stack.append(path)
            if semantic:
                em.suppress += 1

        def post(m: nn.Module, args: tuple, out: Any,
                 handler: Callable[..., None] | None = handler) -> None:
            if handler is not None:
                em.suppress -= 1
                if em.active:
                    handler(em, m, args, out)
            em.stack.pop()

        handles.append(mod.register_forward_pre_hook(pre))
        handles.append(mod.register_forward_hook(post))
    return handles


# ---- semantic regions: functions of the modeling module -------------------------------
def _wrap_rope(em: _Emitter, orig: Callable[..., Any]) -> Callable[..., Any]:
    def apply_rotary_pos_emb(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor,
                             sin: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if em.active:
            rot = int(cos.shape[-1])
            for name, x in (("q_rope", q), ("k_rope", k)):
                n = int(x.shape[-1])
                m = int(x.numel() // n)
                em.add(kind="rope", op="rope", name=name, dtype=_dt(x), M=m, N=n, K=rot,
                       bytes_read=_nbytes(x) + _nbytes(cos) + _nbytes(sin),
                       bytes_written=_nbytes(x))
        with em.hidden():
            return orig(q, k, cos, sin, *args, **kwargs)

    return apply_rotary_pos_emb


def _wrap_attention(em: _Emitter, orig: Callable[..., Any]) -> Callable[..., Any]:
    def attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor,
                  value: torch.Tensor, attention_mask: Any, *args: Any, **kwargs: Any) -> Any:
        if em.active:
            b, hq, sq, d = (int(s) for s in query.shape)
            hkv, skv = int(key.shape[1]), int(key.shape[2])
            causal = bool(getattr(module, "is_causal", True))
            # Mistral passes its config's sliding_window to the attention function; the
            # mask (built by transformers' masking_utils) keeps that many keys per query.
            window = int(kwargs.get("sliding_window") or 0)
            # GPT-OSS: a learned sink logit per head joins each softmax denominator
            sinks = getattr(module, "sinks", None) is not None
            em.add(kind="attention", op="sdpa", name="attention", dtype=_dt(query),
                   B=b, Hq=hq, Hkv=hkv, Sq=sq, Skv=skv, D=d, causal=causal, window=window,
                   sinks=sinks,
                   bytes_read=_nbytes(query) + _nbytes(key) + _nbytes(value),
                   bytes_written=_nbytes(query))
        with em.hidden():
            return orig(module, query, key, value, attention_mask, *args, **kwargs)

    return attention


def _wrap_conv(em: _Emitter, orig: Callable[..., Any], update: bool) -> Callable[..., Any]:
    def conv(hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        with em.hidden():
            out = orig(hidden_states, *args, **kwargs)
        if em.active:
            b, c, t = (int(s) for s in hidden_states.shape)
            weight = args[1] if update else (args[0] if args else kwargs["weight"])
            w = int(weight.shape[-1])
            state = args[0] if update else None
            read = _nbytes(hidden_states) + _nbytes(weight)
            written = _nbytes(out)
            if state is not None:  # the rolling conv state is read and written back
                read += _nbytes(state)
                written += _nbytes(state)
            em.add(kind="conv1d", op="causal_conv1d_update" if update else "causal_conv1d",
                   name="conv1d", dtype=_dt(hidden_states), B=b, N=c, Sq=t, W=w,
                   bytes_read=read, bytes_written=written)
            activation = kwargs.get("activation", args[3] if len(args) > 3 else None) \
                if update else kwargs.get("activation", args[2] if len(args) > 2 else None)
            if activation:
                em.add(kind="activation", op=str(activation), name="conv1d.act",
                       dtype=_dt(out), M=b * t, N=c,
                       bytes_read=_nbytes(out), bytes_written=_nbytes(out))
        return out

    return conv


def _wrap_delta_rule(em: _Emitter, orig: Callable[..., Any], chunked: bool
                     ) -> Callable[..., Any]:
    def delta_rule(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                   g: torch.Tensor, beta: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        b, t, hk, dk = (int(s) for s in key.shape)
        hv, dv = int(value.shape[-2]), int(value.shape[-1])
        chunk = int(kwargs.get("chunk_size", args[0] if (chunked and args) else 64)) \
            if chunked else 0
        init = kwargs.get("initial_state")
        want_state = bool(kwargs.get("output_final_state", False))
        if em.active:
            if kwargs.get("use_qk_l2norm_in_kernel", False):
                for name, x in (("q_l2norm", query), ("k_l2norm", key)):
                    m = b * t * hk
                    em.add(kind="norm", op="l2norm", name=name, dtype="fp32", M=m, N=dk,
                           bytes_read=_nbytes(x), bytes_written=m * dk * 4)
            state_bytes = b * hv * dk * dv * 4  # the recurrent state is fp32 (qwen.md §4.2)
            em.add(kind="linear_attention",
                   op="chunk_gated_delta_rule" if chunked else "recurrent_gated_delta_rule",
                   name="gated_delta_rule", dtype="fp32", B=b, Hq=hv, Sq=t, Skv=em.context,
                   D=dk, Dv=dv, chunk=chunk,
                   bytes_read=(b * t * hk * dk * 4 * 2 + _nbytes(value) + _nbytes(g)
                               + _nbytes(beta) + (state_bytes if init is not None else 0)),
                   bytes_written=_nbytes(value) + (state_bytes if want_state else 0))
        if em.fake:
            # Shape-only: the result's values are meaningless, so skip the python chunk loop
            # (its op count grows with T/64) and return tensors of the documented shapes.
            with em.hidden():
                out = torch.empty(b, t, hv, dv, dtype=query.dtype)
                state = torch.empty(b, hv, dk, dv, dtype=torch.float32) if want_state else None
            return out, state
        with em.hidden():
            return orig(query, key, value, g, beta, *args, **kwargs)

    return delta_rule


def _wrap_cache_update(em: _Emitter, orig: Callable[..., Any]) -> Callable[..., Any]:
    def update(self: Any, key_states: torch.Tensor, value_states: torch.Tensor,
               *args: Any, **kwargs: Any) -> Any:
        if em.active:
            for name, x in (("k_cache_write", key_states), ("v_cache_write", value_states)):
                n = int(x.shape[-1])
                m = int(x.numel() // n)
                em.add(kind="copy", op="scatter", name=name, dtype=_dt(x), M=m, N=n,
                       bytes_read=_nbytes(x), bytes_written=_nbytes(x))
        with em.hidden():
            return orig(self, key_states, value_states, *args, **kwargs)

    return update


@contextlib.contextmanager
def _patched(model: nn.Module, em: _Emitter) -> Iterator[None]:
    """Install the function-level semantic regions; undo them afterwards."""
    from transformers import cache_utils
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    modeling = sys.modules[type(model).__module__]
    saved: list[tuple[Any, str, Any]] = []

    def patch(obj: Any, name: str, new: Any) -> None:
        saved.append((obj, name, getattr(obj, name)))
        setattr(obj, name, new)

    if hasattr(modeling, "apply_rotary_pos_emb"):
        patch(modeling, "apply_rotary_pos_emb", _wrap_rope(em, modeling.apply_rotary_pos_emb))
    for fname, chunked in (("torch_chunk_gated_delta_rule", True),
                           ("torch_recurrent_gated_delta_rule", False)):
        if hasattr(modeling, fname):
            patch(modeling, fname, _wrap_delta_rule(em, getattr(modeling, fname), chunked))
    for fname, upd in (("causal_conv1d_fn", False), ("causal_conv1d_update", True)):
        if hasattr(modeling, fname):
            patch(modeling, fname, _wrap_conv(em, getattr(modeling, fname), upd))
    patch(cache_utils.Cache, "update", _wrap_cache_update(em, cache_utils.Cache.update))
    if hasattr(modeling, "eager_attention_forward"):  # the path of EAGER_ONLY families
        patch(modeling, "eager_attention_forward",
              _wrap_attention(em, modeling.eager_attention_forward))
    orig_sdpa = ALL_ATTENTION_FUNCTIONS["sdpa"]
    ALL_ATTENTION_FUNCTIONS["sdpa"] = _wrap_attention(em, orig_sdpa)
    try:
        yield
    finally:
        ALL_ATTENTION_FUNCTIONS["sdpa"] = orig_sdpa
        for obj, name, old in reversed(saved):
            setattr(obj, name, old)


# ---- collapsing identical layers ------------------------------------------------------
def _collapse(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Identical decoder layers become one body with ``repeat`` = how many there are."""
    by_layer: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        if r["layer"] >= 0:
            by_layer.setdefault(r["layer"], []).append(r)

    def signature(layer: int) -> tuple:
        return tuple(
            tuple(sorted((k, _LAYER_RE.sub(".layers.#.", v, 1) if k == "module" else v)
                         for k, v in r.items() if k not in ("layer", "layers")))
            for r in by_layer[layer]
        )

    groups: dict[tuple, list[int]] = {}
    for layer in by_layer:
        groups.setdefault(signature(layer), []).append(layer)
    first_of = {layers[0]: layers for layers in groups.values()}
    out = []
    for r in rows:
        layer = r["layer"]
        if layer < 0:
            out.append(r)
        elif layer in first_of:
            members = first_of[layer]
            out.append({**r, "repeat": len(members), "layers": ",".join(map(str, members))})
    return out


# ---- one period of the layer pattern -------------------------------------------------
# Config fields that make a decoder layer's structure depend on its index other than
# through its layer type (transformers' MoE and sliding-window knobs); a config setting
# any of them to a non-default value is traced layer by layer.
LAYER_INDEX_FIELDS = {"mlp_only_layers": [], "decoder_sparse_step": 1, "first_k_dense_replace": 0,
                      "moe_layer_freq": 1, "no_rope_layers": [], "interleave_moe_layer_step": 1}


def layer_period(cfg: ModelConfig, routing: RoutingPolicy, fake: bool) -> int:
    """The shortest number of decoder layers whose pattern repeats over the model: the
    shortest p dividing the layer count with layer i of the same type as layer i mod p.
    The layer count itself (no shortcut) when the rows could depend on the layer index:
    real tensors, routing drawn per layer (zipf), a config field of
    :data:`LAYER_INDEX_FIELDS` set, or a sliding window limited to some layers (Qwen2's
    ``max_window_layers``)."""
    n = cfg.layers
    indexed = any(cfg.get(k) not in (None, default) for k, default in LAYER_INDEX_FIELDS.items())
    if not fake or not isinstance(routing, Balanced) or indexed or cfg.get("use_sliding_window"):
        return n
    types = cfg.layer_types
    return next(p for p in range(1, n + 1)
                if n % p == 0 and all(types[i] == types[i % p] for i in range(n)))


def _first_layers(cfg: ModelConfig, layers: int) -> ModelConfig:
    """``cfg`` with only its first ``layers`` decoder layers."""
    fields = {**cfg.fields, "num_hidden_layers": layers}
    if "layer_types" in fields:
        fields["layer_types"] = list(fields["layer_types"])[:layers]
    return dataclasses.replace(cfg, fields=fields)


def _repeat_period(rows: list[dict[str, Any]], period: int, layers: int) -> list[dict[str, Any]]:
    """The rows of a ``layers``-layer run from those of its first ``period`` layers: the
    model-level rows before and after the layers as they are, the layers' rows repeated
    with layer i's index and module path for i = period, period + 1, ..."""
    body = [i for i, r in enumerate(rows) if r["layer"] >= 0]
    if not body:
        return rows
    first, last = body[0], body[-1]
    if len(body) != last - first + 1:
        raise WorkloadError("a model-level op runs between decoder layers; trace with "
                            "periodic=False")
    out = rows[:first]
    for start in range(0, layers, period):
        for r in rows[first:last + 1]:
            layer = r["layer"] + start
            m = _LAYER_RE.search(r["module"])
            assert m is not None  # a row with a layer index has it from its module path
            module = r["module"][:m.start(1)] + str(layer) + r["module"][m.end(1):]
            out.append({**r, "layer": layer, "layers": str(layer), "module": module})
    return out + rows[last + 1:]


# ---- building and running the model ---------------------------------------------------
# Text model types whose transformers class has no SDPA path: their attention runs through
# the modeling module's eager_attention_forward, which the tracer wraps as it wraps "sdpa"
# (GPT-OSS: the attention sinks are a term in its eager softmax, modeling_gpt_oss.py).
EAGER_ONLY = {"gpt_oss": "eager"}


def _build_model(cfg: ModelConfig) -> nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = cfg.hf_dict()
    hf_cfg = AutoConfig.for_model(fields.pop("model_type"), **fields)
    impl = EAGER_ONLY.get(cfg.model_type, "sdpa")
    hf_cfg._attn_implementation = impl
    model = AutoModelForCausalLM.from_config(hf_cfg, attn_implementation=impl)
    model.eval()
    return model


def _check(phase: str, batch: int, seq: int | None, context: int | None,
           weight_dtype: str) -> tuple[int, int]:
    if phase not in PHASES:
        raise WorkloadError(f"unknown phase {phase!r}; valid: {', '.join(PHASES)}")
    if not isinstance(batch, int) or batch < 1:
        raise WorkloadError(f"batch must be a positive integer, got {batch!r}")
    if weight_dtype not in WEIGHT_OPTIONS:
        raise WorkloadError(
            f"unknown weight dtype {weight_dtype!r}; valid: {', '.join(WEIGHT_OPTIONS)}"
        )
    if phase == "prefill":
        if context not in (None, 0):
            raise WorkloadError("prefill takes --seq (prompt length), not --context")
        seq = DEFAULT_SEQ if seq is None else seq
        if not isinstance(seq, int) or seq <= 0:
            raise WorkloadError(f"seq must be a positive integer, got {seq!r}")
        return seq, 0
    if seq not in (None, 0):
        raise WorkloadError("decode takes --context (tokens already in the KV cache), not --seq")
    context = DEFAULT_CONTEXT if context is None else context
    if not isinstance(context, int) or context < 0:
        raise WorkloadError(f"context must be a non-negative integer, got {context!r}")
    return 0, context


def trace(model: str, phase: str = "prefill", batch: int = 1, seq: int | None = None,
          context: int | None = None, routing: str = "balanced",
          weight_dtype: str = RELEASE_FORMAT, collapse: bool = True, fake: bool = True,
          seed: int = 0, periodic: bool = True, output_weight_dtype: str = "") -> Trace:
    """Trace one forward pass of ``model`` (a registered name or a config.json path).

    ``weight_dtype``: one format for every weight, or "release" (the default): as the
    released checkpoint stores them (bf16; GPT-OSS's routed experts in mxfp4).
    ``output_weight_dtype``: the output matrix's (lm_head) format when it differs from the
    other weights' (:data:`~workloads.schema.OUTPUT_WEIGHT_DTYPES`; a GGUF's Q6_K or Q8_0
    output in a Q4_0 file); "" (the default): ``weight_dtype``.
    ``fake=False`` runs real CPU tensors with random weights (seeded): slow, for tests on
    tiny configs; MoE routing is then the model's own.
    ``periodic``: when the decoder layers repeat a pattern (Qwen3.5's three linear and one
    full attention layer; every layer alike in a dense model), run one period of it and
    repeat its rows for the other layers (:func:`layer_period`); the rows are the ones a
    run of every layer gives (tested), at a fraction of the cost. False runs every layer.
    """
    seq, context = _check(phase, batch, seq, context, weight_dtype)
    if output_weight_dtype and output_weight_dtype not in OUTPUT_WEIGHT_DTYPES:
        raise WorkloadError(f"unknown output weight dtype {output_weight_dtype!r}; valid: "
                            f"{', '.join(OUTPUT_WEIGHT_DTYPES)}")
    cfg = load_config(model)
    policy = parse_routing(routing)
    experts = ""
    if weight_dtype == RELEASE_FORMAT:
        weight_dtype, experts = "bf16", cfg.release_experts_dtype
    scenario = Scenario(phase=phase, batch=batch, seq=seq, context=context,
                        weight_dtype=weight_dtype, routing=policy.name,
                        expert_weight_dtype=experts, output_weight_dtype=output_weight_dtype)
    em = _Emitter(cfg=cfg, scenario=scenario, routing=policy, fake=fake, context=context)
    period = layer_period(cfg, policy, fake) if periodic else cfg.layers

    from torch._subclasses.fake_tensor import FakeTensorMode
    from transformers.utils import logging as hf_logging

    old_dtype, old_verbosity = torch.get_default_dtype(), hf_logging.get_verbosity()
    torch.set_default_dtype(torch.bfloat16)
    # transformers warns that it falls back to its torch kernels: that is what we trace.
    hf_logging.set_verbosity_error()
    try:
        mode = FakeTensorMode(allow_non_fake_inputs=True) if fake else contextlib.nullcontext()
        with mode, torch.no_grad():
            if not fake:
                torch.manual_seed(seed)
            net = _build_model(cfg if period == cfg.layers else _first_layers(cfg, period))
            rope = _rope_meta(net)
            hooks = _install_hooks(net, em)
            try:
                with _patched(net, em), _Recorder(em):
                    rows = _run(net, em, phase, batch, seq, context, fake, seed)
            finally:
                for h in hooks:
                    h.remove()
    finally:
        torch.set_default_dtype(old_dtype)
        hf_logging.set_verbosity(old_verbosity)
    if period < cfg.layers:
        rows = _repeat_period(rows, period, cfg.layers)
    if collapse:
        rows = _collapse(rows)
    counts = param_counts(cfg)
    meta = {
        "model": cfg.name,
        "model_type": cfg.model_type,
        "config_source": cfg.source,
        "config": cfg.hf_dict(),
        "params_total": counts.total,
        "params_active": counts.active,
        "scenario": scenario.to_dict(),
        "collapsed": collapse,
        "shape_only": fake,
        "schema_version": SCHEMA_VERSION,
        "versions": {p: version(p) for p in ("codesign", "torch", "transformers")},
        **({"rope": rope} if rope else {}),
    }
    return trace_from_rows(rows, meta)


def _rope_meta(net: nn.Module) -> dict[str, Any]:
    """The RoPE variant the built model runs, read from its rotary embedding (transformers'
    ROPE_INIT_FUNCTIONS keys: "default", "yarn" for GPT-OSS, "llama3" for Llama 3.1...):
    ``type``, ``attention_scaling`` (the factor cos and sin are multiplied by: YaRN's
    0.1 ln(factor) + 1) and the config's ``parameters``. The rope rows' work is the same for
    every variant (x cos + rotate_half(x) sin on precomputed tables); the variant changes
    the tables' frequencies and scale, kept here so a reader sees it. {} without RoPE."""
    rotary = next((m for name, m in net.named_modules()
                   if name.endswith("rotary_emb") and hasattr(m, "rope_type")), None)
    if rotary is None:
        return {}
    params = getattr(net.config, "rope_parameters", None) or {}
    return {"type": str(rotary.rope_type),
            "attention_scaling": float(getattr(rotary, "attention_scaling", 1.0)),
            "parameters": json.loads(json.dumps(params, default=str))}


def _ids(shape: tuple[int, int], vocab: int, fake: bool, seed: int) -> torch.Tensor:
    if fake:
        return torch.zeros(shape, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed + shape[1])
    return torch.randint(0, vocab, shape, generator=gen)


def _run(net: nn.Module, em: _Emitter, phase: str, batch: int, seq: int, context: int,
         fake: bool, seed: int) -> list[dict[str, Any]]:
    vocab = em.cfg.vocab
    if phase == "prefill":
        ids = _ids((batch, seq), vocab, fake, seed)
        em.recording = True
        # Serving engines compute logits for the last position only.
        net(input_ids=ids, use_cache=True, logits_to_keep=1)
        em.recording = False
        return em.rows
    past = None
    if context > 0:
        out = net(input_ids=_ids((batch, context), vocab, fake, seed), use_cache=True,
                  logits_to_keep=1)
        past = out.past_key_values
    ids = _ids((batch, 1), vocab, fake, seed + 1)
    em.recording = True
    net(input_ids=ids, past_key_values=past, use_cache=True, logits_to_keep=1)
    em.recording = False
    return em.rows
