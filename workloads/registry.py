"""The model registry: named configs (files in ``workloads/configs/``) or any config.json.

Families: Qwen3.5, Qwen3, Qwen3-Next and Qwen2 (qwen.md), and beside Qwen the Llama,
Mistral, Mixtral and GPT-OSS families (issue #13), each traced from its own transformers
classes.

A config file is a Hugging Face text config (``config.json``) plus an optional
``_codesign`` table with the source of its numbers. Full multimodal configs (with a
``text_config``) are accepted too; only the text tower is used.

Parameter counts here are analytic (from the config alone, no torch), so that
``codesign models`` is instant; tests check them against the instantiated transformers
modules and against the reference counts in shared/reference/qwen.md and the published
sizes named in each config's ``_codesign`` table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from workloads.errors import WorkloadError

# model_type -> (family name used by the extractor, transformers text model_type)
MODEL_TYPES: dict[str, str] = {
    "qwen3_5": "qwen3_5_text",
    "qwen3_5_text": "qwen3_5_text",
    "qwen3_5_moe": "qwen3_5_moe_text",
    "qwen3_5_moe_text": "qwen3_5_moe_text",
    "qwen3_next": "qwen3_next",
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3_moe",
    "qwen2": "qwen2",
    "llama": "llama",
    "mistral": "mistral",
    "mixtral": "mixtral",
    "gpt_oss": "gpt_oss",
}
# Text model_type -> the architecture family ``codesign models`` shows.
FAMILIES: dict[str, str] = {
    "qwen3_5_text": "Qwen3.5", "qwen3_5_moe_text": "Qwen3.5", "qwen3_next": "Qwen3-Next",
    "qwen3": "Qwen3", "qwen3_moe": "Qwen3", "qwen2": "Qwen2", "llama": "Llama",
    "mistral": "Mistral", "mixtral": "Mixtral", "gpt_oss": "GPT-OSS",
}
# Text model types whose attention normalises q and k per head (RMSNorm over head_dim).
QK_NORM = frozenset({"qwen3_5_text", "qwen3_5_moe_text", "qwen3_next", "qwen3", "qwen3_moe"})
# Text model types whose modeling code builds q/k/v/o without a bias whatever the config says.
NO_ATTENTION_BIAS = frozenset({"mistral", "mixtral"})
# Text model types whose attention layers take the config's sliding_window: every layer
# (Mistral, Mixtral), or those its layer_types call "sliding_attention" (GPT-OSS).
WINDOWED_TYPES = frozenset({"mistral", "mixtral", "gpt_oss"})
# Text model types whose attention softmax has a learned per-head sink logit in its
# denominator (GPT-OSS: arXiv 2508.10925 §2; modeling_gpt_oss.py eager_attention_forward).
SINK_TYPES = frozenset({"gpt_oss"})
# Mixtral names its expert count num_local_experts and sizes each expert by
# intermediate_size; the Qwen MoE families use num_experts and moe_intermediate_size.
_EXPERT_COUNT_KEYS = ("num_experts", "num_local_experts")
# Text model types whose RMSNorm applies the weight as (1 + w) (zero-centred), qwen.md §1.1.
ZERO_CENTRED_NORM = frozenset({"qwen3_5_text", "qwen3_5_moe_text", "qwen3_next"})


@dataclass(frozen=True)
class ModelConfig:
    """A text config: its name, transformers model_type and the raw fields."""

    name: str
    model_type: str  # text model_type, a value of MODEL_TYPES
    fields: dict[str, Any] = field(hash=False)
    source: str = ""

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    # ---- derived dimensions ----------------------------------------------------------
    @property
    def hidden(self) -> int:
        return int(self.fields["hidden_size"])

    @property
    def layers(self) -> int:
        return int(self.fields["num_hidden_layers"])

    @property
    def vocab(self) -> int:
        return int(self.fields["vocab_size"])

    @property
    def heads(self) -> int:
        return int(self.fields["num_attention_heads"])

    @property
    def kv_heads(self) -> int:
        return int(self.fields.get("num_key_value_heads") or self.heads)

    @property
    def head_dim(self) -> int:
        hd = self.fields.get("head_dim")
        return int(hd) if hd else self.hidden // self.heads

    @property
    def family(self) -> str:
        return FAMILIES[self.model_type]

    @property
    def num_experts(self) -> int:
        """Routed experts per MoE layer (0 for a dense model)."""
        return next((int(self.fields[k]) for k in _EXPERT_COUNT_KEYS if self.fields.get(k)), 0)

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def expert_intermediate(self) -> int:
        """The intermediate size of one routed expert."""
        if self.model_type in ("mixtral", "gpt_oss"):
            return int(self.fields["intermediate_size"])
        return int(self.fields["moe_intermediate_size"])

    @property
    def sliding_window(self) -> int:
        """Keys a query attends to in a sliding-window layer (itself included); 0 = none.

        Mistral's and Mixtral's attention pass ``config.sliding_window`` to the attention
        function (Mistral-7B-v0.1: 4096; Mixtral-8x7B: none); the other families here
        attend to the whole context unless their config lists ``layer_types``."""
        if self.model_type not in WINDOWED_TYPES:
            return 0
        return int(self.fields.get("sliding_window") or 0)

    @property
    def tied(self) -> bool:
        return bool(self.fields.get("tie_word_embeddings", False))

    @property
    def layer_types(self) -> list[str]:
        types = self.fields.get("layer_types")
        if types:
            return list(types)
        if self.model_type in ("qwen3_5_text", "qwen3_5_moe_text", "qwen3_next"):
            interval = int(self.fields.get("full_attention_interval", 4))
            return ["linear_attention" if (i + 1) % interval else "full_attention"
                    for i in range(self.layers)]
        if self.sliding_window:  # transformers' name for a layer with a sliding window
            return ["sliding_attention"] * self.layers
        return ["full_attention"] * self.layers

    @property
    def release_experts_dtype(self) -> str:
        """The format the released checkpoint stores the routed experts in ("" = as the
        rest): its config.json's quantization_config (GPT-OSS: quant_method mxfp4 on every
        module but those it lists as not converted: attention, router, embeddings)."""
        q = self.fields.get("quantization_config")
        if self.is_moe and isinstance(q, dict) and q.get("quant_method") == "mxfp4":
            return "mxfp4"
        return ""

    def hf_dict(self) -> dict[str, Any]:
        """The fields as transformers reads them (without codesign's own keys, and without
        the checkpoint's quantization_config: a shape-only model is built unquantised)."""
        return {k: v for k, v in self.fields.items()
                if not k.startswith("_") and k != "quantization_config"}


def _config_dir() -> Any:
    return resources.files("workloads") / "configs"


_SIZE = re.compile(r"(?:(\d+)x)?(\d+(?:\.\d+)?)b")  # 7b, 0.8b, 8x7b


@cache
def model_names() -> tuple[str, ...]:
    """Registered model names, in a stable order (family, then size)."""
    names = [p.name[: -len(".json")] for p in _config_dir().iterdir()
             if p.name.endswith(".json")]
    order = ("qwen3.5", "qwen3", "qwen3-next", "qwen2.5", "llama-2", "llama-3.1", "mistral",
             "mixtral", "gpt-oss")

    def key(n: str) -> tuple[int, float, str]:
        parts = n.split("-")
        at = next((i for i, p in enumerate(parts) if _SIZE.fullmatch(p)), len(parts))
        fam = "-".join(parts[:at])
        m = _SIZE.fullmatch(parts[at]) if at < len(parts) else None
        size = float(m.group(2)) * int(m.group(1) or 1) if m else 0.0
        return (order.index(fam) if fam in order else len(order), size, n)

    return tuple(sorted(names, key=key))


def _parse(name: str, raw: Any, origin: str) -> ModelConfig:
    if not isinstance(raw, dict):
        raise WorkloadError(f"{origin}: a config.json must hold a JSON object")
    if isinstance(raw.get("text_config"), dict):  # multimodal config: the text tower
        raw = {**raw["text_config"], "_codesign": raw.get("_codesign", {})}
    mt = raw.get("model_type")
    if mt not in MODEL_TYPES:
        raise WorkloadError(
            f"{origin}: unsupported model_type {mt!r}; valid: {', '.join(MODEL_TYPES)}"
        )
    required = ["hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size"]
    if MODEL_TYPES[mt] in ("qwen3_5_text", "qwen3", "qwen2", "qwen3_next", "llama", "mistral",
                           "mixtral", "gpt_oss"):
        required.append("intermediate_size")
    if MODEL_TYPES[mt] in ("qwen3_5_moe_text", "qwen3_moe", "qwen3_next"):
        required += ["num_experts", "num_experts_per_tok", "moe_intermediate_size"]
    if MODEL_TYPES[mt] in ("mixtral", "gpt_oss"):
        required += ["num_local_experts", "num_experts_per_tok"]
    missing = [k for k in required if k not in raw]
    if missing:
        raise WorkloadError(f"{origin}: config lacks required fields: {', '.join(missing)}")
    for k in required:
        v = raw[k]
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise WorkloadError(f"{origin}: field {k!r} must be a positive integer, got {v!r}")
    _check_consistent(raw, origin)
    meta = raw.get("_codesign", {}) if isinstance(raw.get("_codesign"), dict) else {}
    fields = {k: v for k, v in raw.items() if k != "_codesign"}
    fields["model_type"] = MODEL_TYPES[mt]
    return ModelConfig(name=name, model_type=MODEL_TYPES[mt], fields=fields,
                       source=str(meta.get("source", origin)))


# (field, field it must divide): grouped-query attention shares each KV head among
# num_attention_heads / num_key_value_heads query heads; Gated DeltaNet repeats each key
# head over linear_num_value_heads / linear_num_key_heads value heads.
DIVIDES = (("num_key_value_heads", "num_attention_heads"),
           ("linear_num_key_heads", "linear_num_value_heads"))


def _check_consistent(raw: dict[str, Any], origin: str) -> None:
    """Refuse a config whose fields contradict each other (transformers would fail deep in
    model construction, or build a model that cannot exist)."""
    for part, whole in DIVIDES:
        a, b = raw.get(part), raw.get(whole)
        if a is None or b is None:
            continue
        for k, v in ((part, a), (whole, b)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise WorkloadError(f"{origin}: field {k!r} must be a positive integer, "
                                    f"got {v!r}")
        if b % a:
            raise WorkloadError(f"{origin}: {part} = {a} does not divide {whole} = {b}; "
                                f"valid: a divisor of {b} ({_divisors(b)})")
    experts, topk = raw.get("num_experts"), raw.get("num_experts_per_tok")
    if isinstance(experts, int) and isinstance(topk, int) and experts > 0 \
            and not 0 < topk <= experts:
        raise WorkloadError(f"{origin}: num_experts_per_tok = {topk} is not between 1 and "
                            f"num_experts = {experts}")


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, n + 1) if n % d == 0) if n <= 4096 else "..."


def load_config(model: str | Path) -> ModelConfig:
    """A registered model by name, or a config.json by path."""
    text = str(model)
    if text in model_names():
        path = _config_dir() / f"{text}.json"
        return _parse(text, json.loads(path.read_text()), f"workloads/configs/{text}.json")
    p = Path(text)
    if p.suffix == ".json" or p.is_file() or p.is_dir():
        if p.is_dir():
            p = p / "config.json"
        if not p.is_file():
            raise WorkloadError(f"config file {str(p)!r} does not exist")
        try:
            raw = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise WorkloadError(f"malformed config.json {str(p)!r}: {exc}") from None
        return _parse(p.parent.name or p.stem, raw, str(p))
    raise WorkloadError(
        f"unknown model {text!r}; valid: {', '.join(model_names())} (or a config.json path)"
    )


# ---- parameter counts ----------------------------------------------------------------
@dataclass(frozen=True)
class ParamCounts:
    total: int  # every parameter (tied embedding counted once)
    active: int  # parameters one token uses (only top-k routed experts)
    embedding: int  # the input embedding table
    lm_head: int  # the output projection (counted in total only when untied)
    layers_by_type: dict[str, int]


def _attention_params(c: ModelConfig) -> int:
    h, hd, nh, nkv = c.hidden, c.head_dim, c.heads, c.kv_heads
    gated = c.model_type in ("qwen3_5_text", "qwen3_5_moe_text", "qwen3_next")
    q_out = nh * hd * (2 if gated else 1)  # q_proj also emits the output gate (qwen.md §1.1)
    p = h * q_out + 2 * h * nkv * hd + nh * hd * h
    if c.model_type == "qwen2":
        p += q_out + 2 * nkv * hd  # qwen2 always has q/k/v biases, never an o_proj bias
    elif c.get("attention_bias", False) and c.model_type not in NO_ATTENTION_BIAS:
        p += q_out + 2 * nkv * hd + h  # q/k/v/o biases
    if c.model_type in QK_NORM:
        p += 2 * hd  # q_norm, k_norm
    if c.model_type in SINK_TYPES:
        p += nh  # one learned sink logit per head (modeling_gpt_oss.py GptOssAttention.sinks)
    return p


def _gdn_params(c: ModelConfig) -> int:
    h = c.hidden
    nk, nv = int(c.get("linear_num_key_heads")), int(c.get("linear_num_value_heads"))
    dk, dv = int(c.get("linear_key_head_dim")), int(c.get("linear_value_head_dim"))
    kd, vd = nk * dk, nv * dv
    conv_dim = 2 * kd + vd
    proj = h * (conv_dim + vd + 2 * nv)  # qkv, z, b, a (fused as qkvz + ba in qwen3_next)
    conv = conv_dim * int(c.get("linear_conv_kernel_dim", 4))
    return proj + conv + 2 * nv + dv + vd * h  # + dt_bias, A_log, gated-norm weight, out_proj


def _is_sparse(c: ModelConfig, layer: int) -> bool:
    """Whether ``layer``'s MLP is a routed MoE block."""
    return c.is_moe and layer not in (c.get("mlp_only_layers") or []) and (
        (layer + 1) % int(c.get("decoder_sparse_step", 1) or 1) == 0
    )


def _expert_params(c: ModelConfig) -> int:
    """One routed expert: gate, up and down projections (GPT-OSS adds their biases)."""
    h, im = c.hidden, c.expert_intermediate
    return 3 * h * im + ((2 * im + h) if c.model_type == "gpt_oss" else 0)


def _mlp_params(c: ModelConfig, layer: int) -> tuple[int, int]:
    """(total, active) parameters of one layer's MLP or MoE block."""
    h = c.hidden
    sparse = _is_sparse(c, layer)
    if not sparse:
        im = int(c.get("intermediate_size"))
        p = 3 * h * im + ((2 * im + h) if c.get("mlp_bias", False) else 0)  # Llama's mlp_bias
        return p, p
    e, k = c.num_experts, int(c.get("num_experts_per_tok"))
    router = e * h + (e if c.model_type == "gpt_oss" else 0)  # GPT-OSS: router bias
    expert = _expert_params(c)
    shared_i = int(c.get("shared_expert_intermediate_size", 0) or 0)
    shared = 3 * h * shared_i + (h if shared_i else 0)  # + shared_expert_gate
    return router + e * expert + shared, router + k * expert + shared


def param_counts(c: ModelConfig) -> ParamCounts:
    embedding = c.vocab * c.hidden
    lm_head = c.vocab * c.hidden
    total = embedding + (0 if c.tied else lm_head) + c.hidden  # + final norm
    active = total
    by_type: dict[str, int] = {}
    for i, t in enumerate(c.layer_types):
        by_type[t] = by_type.get(t, 0) + 1
        mixer = _gdn_params(c) if t == "linear_attention" else _attention_params(c)
        mlp_total, mlp_active = _mlp_params(c, i)
        norms = 2 * c.hidden
        total += mixer + mlp_total + norms
        active += mixer + mlp_active + norms
    return ParamCounts(total, active, embedding, lm_head, by_type)


# ---- memory footprint ------------------------------------------------------------------
RECURRENT_STATE_BYTES = 4  # the Gated DeltaNet state is kept in fp32 (qwen.md §4.2)


@dataclass(frozen=True)
class Footprint:
    """Bytes a forward pass needs resident in device memory (activations aside)."""

    weights: int  # every parameter at the weight dtype
    kv_cache: int  # keys and values of every full-attention layer, all sequences
    state: int  # recurrent (Gated DeltaNet) and convolution state of linear-attention layers

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.state


def routed_expert_params(c: ModelConfig) -> int:
    """Parameters of the routed experts (every MoE layer's), 0 for a dense model."""
    return sum(c.num_experts * _expert_params(c) for i in range(c.layers) if _is_sparse(c, i))


def footprint(c: ModelConfig, batch: int, tokens: int, weight_bytes: float,
              act_bytes: float, expert_bytes: float | None = None,
              output_bytes: float | None = None) -> Footprint:
    """What ``batch`` sequences of ``tokens`` tokens each hold in memory: the weights (every
    parameter at ``weight_bytes`` per element: a lower bound where embeddings and norms stay
    in 16 bits), the KV cache of the full-attention layers (K and V of ``kv_heads x head_dim``
    per token, at ``act_bytes``) and, per linear-attention layer and sequence, the fp32
    recurrent state (value heads x Dk x Dv) and the convolution state (channels x kernel).
    A sliding-window layer's cache holds at most its window of tokens (Mistral, GPT-OSS).
    ``output_bytes``: the output matrix (vocab x hidden; the embedding too when they are
    tied, one tensor) at its own format (a GGUF's Q6_K beside Q4_0 weights)."""
    types = c.layer_types
    full = types.count("full_attention")
    sliding = types.count("sliding_attention")
    linear = types.count("linear_attention")
    cached = full * tokens + sliding * min(tokens, c.sliding_window or tokens)
    kv = 2 * cached * c.kv_heads * c.head_dim * batch * act_bytes
    state = 0.0
    if linear:
        nk, nv = int(c.get("linear_num_key_heads")), int(c.get("linear_num_value_heads"))
        dk, dv = int(c.get("linear_key_head_dim")), int(c.get("linear_value_head_dim"))
        conv_dim = 2 * nk * dk + nv * dv
        per_seq = (nv * dk * dv * RECURRENT_STATE_BYTES
                   + conv_dim * int(c.get("linear_conv_kernel_dim", 4)) * act_bytes)
        state = linear * batch * per_seq
    experts = routed_expert_params(c) if expert_bytes is not None else 0
    weights = (param_counts(c).total - experts) * weight_bytes + experts * (expert_bytes or 0)
    if output_bytes is not None:
        weights += c.vocab * c.hidden * (output_bytes - weight_bytes)
    return Footprint(weights=round(weights), kv_cache=round(kv), state=round(state))


def config_from_fields(name: str, fields: dict[str, Any]) -> ModelConfig:
    """The ModelConfig of a trace's recorded ``config`` (its ``meta["config"]``)."""
    return _parse(name, dict(fields), f"the config recorded in the trace of {name!r}")
