"""Independent references for checking kernels: torch and transformers, imported lazily.

Each ``ref_<kind>(row, inputs) -> {buffer: expected}`` takes the same (BF16-rounded)
input values the executor sees and computes in float32/float64 with torch; the
linear-attention and conv1d references are the transformers Qwen3.5 fallbacks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class IndexCheck:
    """Expected content of an index output: row r of the kernel's indices must select,
    from ``source[r]``, the values ``values[r]`` (in order) with no index repeated. Ties
    make the indices themselves ambiguous; the values they select are not."""

    source: np.ndarray
    values: np.ndarray


def _t(x: np.ndarray, dtype: Any = None):
    import torch
    return torch.from_numpy(np.ascontiguousarray(x)).to(dtype or torch.float64)


def ref_softmax(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import torch
    return {"y": torch.softmax(_t(inp["x"]), dim=-1).numpy()}


def ref_gemm(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if "Bql" in inp:  # block_q6_K rows (isa.kernels.kquant)
        b = np.swapaxes(dequantise_q6_k(inp["Bql"], inp["Bqh"], inp["Bsc"], inp["Bd"]), 1, 2)
    elif "Bq" in inp:
        b = dequantise(str(row["weight_dtype"]), inp["Bq"], inp["Bs"], inp.get("Bm"))
    elif "Bqi" in inp:  # the IME's tiles (isa.kernels.ime)
        b = dequantise_tiles(str(row["weight_dtype"]), inp["Bqi"], inp["Bs"], inp.get("Bz"))
    elif "Bqt" in inp:  # the N-major packing of the tile kernels
        bm = inp.get("Bmt")
        b = dequantise(str(row["weight_dtype"]), np.swapaxes(inp["Bqt"], 1, 2),
                       np.swapaxes(inp["Bst"], 1, 2),
                       None if bm is None else np.swapaxes(bm, 1, 2))
    else:
        b = inp["B"] if "B" in inp else np.swapaxes(inp["Bt"], -1, -2)
    if row.get("b_rounded") == "bf16":  # the kernel's FMAs read B dequantised to BF16
        import torch
        b = _t(b).to(torch.bfloat16).to(torch.float64).numpy()
    return {"C": (_t(inp["A"]) @ _t(b)).numpy()}


# OCP MX v1.0 section 5.3.3: the E2M1 magnitudes of codes 0-7 (bit 3 is the sign)
E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def _code_values(code: str, bits: int, q: np.ndarray) -> np.ndarray:
    """The values of codes ``q`` (unsigned, one code per element) of an element format."""
    import torch
    if code == "e4m3":
        raw = torch.from_numpy(q.astype(np.uint8))
        return raw.view(torch.float8_e4m3fn).to(torch.float64).numpy()
    if code == "e2m1":
        mag = np.asarray(E2M1_VALUES)[q & 7]
        return np.where(q & 8, -mag, mag)
    if code == "offset8":
        return q.astype(np.float64) - 8
    if code == "min":  # unsigned; the group's min is added by the caller
        return q.astype(np.float64)
    return (q ^ (1 << (bits - 1))).astype(np.float64) - (1 << (bits - 1))  # two's complement


def dequantise_q6_k(ql: np.ndarray, qh: np.ndarray, sc: np.ndarray, d: np.ndarray
                    ) -> np.ndarray:
    """Weight rows [G, N, K] from block_q6_K fields ([G, N, K/2], [G, N, K/4], [G, N, K/16],
    [G, N, K/256]; isa.kernels.kquant), as ggml-quants.c ``dequantize_row_q6_K``: per half
    of 128, l < 32, the 6-bit codes of weights l, l + 32, l + 64, l + 96 are the low nibbles
    of ql[l], ql[l + 32], then their high nibbles, each with the next 2 bits of qh[l] as
    bits 4-5; w = d x scale[j / 16] x (q - 32)."""
    lo = np.asarray(ql).astype(np.int64) & 0xFF
    hi = np.asarray(qh).astype(np.int64) & 0xFF
    g, n, half_bytes = lo.shape
    halves = half_bytes // 64
    lo = lo.reshape(g, n, halves, 2, 32)  # [.., half, ql row 0 / 1, l]
    hi = hi.reshape(g, n, halves, 1, 32)
    q = np.concatenate([lo & 15, lo >> 4], axis=3)  # rows: ql0 lo, ql1 lo, ql0 hi, ql1 hi
    q = q | (((hi >> (2 * np.arange(4))[:, None]) & 3) << 4)
    codes = q.reshape(g, n, halves * 128) - 32
    scales = np.repeat(np.asarray(sc).astype(np.int64), 16, axis=2)
    dd = np.repeat(np.asarray(d, dtype=np.float64), 256, axis=2)
    return codes * scales * dd


def q8_1_sums(a: np.ndarray) -> np.ndarray:
    """A block_q8_1's ``s`` for each block of A (``[..., K/32]``): d x sum of the block's
    codes (FP32 d, :func:`q8_0_activations`), rounded to 16 bits as stored."""
    import torch

    from isa.kernels.q8 import QK
    codes, d = q8_0_activations(a, 32)
    blocks = codes.reshape(*codes.shape[:-1], -1, QK).sum(-1)
    s = torch.from_numpy(np.ascontiguousarray(blocks * d, dtype=np.float32))
    return s.to(torch.bfloat16).to(torch.float64).numpy()


def q8_0_activations(a: np.ndarray, scale_bits: int = 32, block: int = 32
                     ) -> tuple[np.ndarray, np.ndarray]:
    """A ([..., K]) quantised as the int8 kernels do (isa.kernels.q8): per block of 32
    (``block``: 256 for Q8_K, isa.kernels.kquant),
    d = amax x (1/127) in FP32, codes rint(x x 1/max(d, FLT_MIN)) (round half to even);
    the scales kept in FP32 or, ``scale_bits`` = 16, rounded to the 16-bit FP of a
    ``block_q8_0`` (BF16 in this model). Returns (codes, scales[..., K/32])."""
    import torch

    from isa.kernels.q8 import FLT_MIN, RMAX_RECIPROCAL
    x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    blocks = x.reshape(*x.shape[:-1], -1, block)
    d = blocks.abs().amax(-1) * torch.tensor(RMAX_RECIPROCAL, dtype=torch.float32)
    inv = torch.tensor(1.0, dtype=torch.float32) / torch.clamp(d, min=FLT_MIN)
    codes = torch.round(blocks * inv.unsqueeze(-1))  # torch.round: half to even
    if scale_bits == 16:
        d = d.to(torch.bfloat16).to(torch.float32)
    return codes.reshape(x.shape).numpy(), d.numpy()


def gemm_q8_0(a: np.ndarray, b: np.ndarray, scale_bits: int = 32, block: int = 32
              ) -> np.ndarray:
    """C = A @ B with A quantised to Q8_0 blocks (:func:`q8_0_activations`; ``block`` 256:
    Q8_K's): the exact result an int8 kernel computes before its output is rounded."""
    codes, d = q8_0_activations(a, scale_bits, block)
    a_q = codes.reshape(*codes.shape[:-1], d.shape[-1], -1) * d[..., None].astype(np.float64)
    return (_t(a_q.reshape(codes.shape)) @ _t(b)).numpy()


def dequantise_tiles(weight_dtype: str, bqi: np.ndarray, bs: np.ndarray,
                     bz: np.ndarray | None = None) -> np.ndarray:
    """B[G, K, N] from the IME packing ``Bqi[G, panels, steps, tiles, n_t, k_t]``: per panel
    of ``tiles`` x n_t columns and step, one B^T tile (n_t x k_t) per tile; 4-bit: a step
    holds k-steps 2s (low nibbles) and 2s + 1 (high); scales ``bs`` as :func:`dequantise`;
    a format with mins is held as zero points ``bz`` ([G, groups, N], 0..15): d (q - z),
    the SpacemiT backend's repacking of block_q4_1 (z = clamp(-round(m / d), 0, 15))."""
    from isa.kernels.quant import FORMATS
    fmt = FORMATS[weight_dtype]
    u = np.asarray(bqi).astype(np.int64) & 0xFF
    g, panels, steps, tiles, nt, kt = u.shape
    if fmt.bits == 4:  # [.., step, half, ..]: k-step 2s + half
        u = np.stack([u & 15, u >> 4], axis=3).reshape(g, panels, 2 * steps, tiles, nt, kt)
    # codes[g, k-step, k, panel, tile, n] -> [G, K, N]
    codes = u.transpose(0, 2, 5, 1, 3, 4).reshape(g, -1, panels * tiles * nt)
    k = codes.shape[1]
    grp = k // bs.shape[1]
    vals = _code_values(fmt.code, fmt.bits, codes)
    if bz is not None:
        vals = vals - np.repeat(np.asarray(bz).astype(np.int64) & 0xFF, grp, axis=1)
    return vals * np.repeat(np.asarray(bs, dtype=np.float64), grp, axis=1)


def dequantise(weight_dtype: str, bq: np.ndarray, bs: np.ndarray,
               bm: np.ndarray | None = None) -> np.ndarray:
    """B[G, K, N] from the packed codes ``bq`` ([G, K/per_byte, N] bytes) and scales ``bs``
    ([G, groups, N]) of the kernel layout (isa.kernels.quant): 4-bit byte j of a group
    holds k = j (low nibble) and j + group/2 (high); E8M0 scales are 2^(e - 127); mins
    ``bm`` (shaped as ``bs``) add to each group: d q + m (block_q4_1)."""
    from isa.kernels.quant import FORMATS
    fmt = FORMATS[weight_dtype]
    u = np.asarray(bq).astype(np.int64) & 0xFF
    g, rows, n = u.shape
    k = rows * fmt.per_byte
    grp = k // bs.shape[1]
    if fmt.bits == 4:
        lo = u.reshape(g, k // grp, grp // 2, n) & 15
        hi = u.reshape(g, k // grp, grp // 2, n) >> 4
        codes = np.concatenate([lo, hi], axis=2).reshape(g, k, n)
    else:
        codes = u
    vals = _code_values(fmt.code, fmt.bits, codes)
    if fmt.scale == "e8m0":
        scales = np.ldexp(1.0, (np.asarray(bs).astype(np.int64) & 0xFF) - 127)
    else:
        scales = np.asarray(bs, dtype=np.float64)
    out = vals * np.repeat(scales, grp, axis=1)
    if bm is not None:
        out = out + np.repeat(np.asarray(bm, dtype=np.float64), grp, axis=1)
    return out


def ref_attention(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """F.scaled_dot_product_attention with GQA; causal = bottom-right aligned (query r is
    token Skv - Sq + r), given as an explicit mask; a sliding ``window`` also masks keys
    ``window`` or more positions before the query (transformers' sliding-window mask:
    kv_idx > q_idx - window). With ``sinks`` (input [Hq]) the softmax runs over the scores
    and one more logit per head whose column is then dropped, as GPT-OSS's
    eager_attention_forward (transformers modeling_gpt_oss.py)."""
    import torch
    import torch.nn.functional as F
    q, k = _t(inp["Q"]), _t(inp["K"])
    v = _t(inp["V"]) if "V" in inp else _t(np.swapaxes(inp["Vt"], -1, -2))  # ggml's V^T
    sq, skv = q.shape[-2], k.shape[-2]
    mask = None
    if bool(row.get("causal", False)):
        qpos = torch.arange(sq)[:, None] + (skv - sq)
        kpos = torch.arange(skv)[None, :]
        mask = kpos <= qpos
        window = int(row.get("window", 0) or 0)
        if window > 0:
            mask = mask & (kpos > qpos - window)
    if "sinks" not in inp:
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           enable_gqa=q.shape[1] != k.shape[1])
        return {"O": o.numpy()}
    grp = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(grp, dim=1), v.repeat_interleave(grp, dim=1)
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    sinks = _t(inp["sinks"]).reshape(1, -1, 1, 1).expand(q.shape[0], -1, sq, 1)
    probs = torch.softmax(torch.cat([logits, sinks], dim=-1), dim=-1)[..., :-1]
    return {"O": (probs @ v).numpy()}


def ref_norm(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """RMSNorm variants as in transformers Qwen3.5 (Qwen3_5RMSNorm is the 1+w form,
    Qwen3_5RMSNormGated the gated one) and its l2norm."""
    import torch
    op = str(row.get("op") or "rmsnorm")
    eps = float(row.get("eps", 1e-6))
    x = _t(inp["x"])
    if op == "l2norm":
        from transformers.models.qwen3_5.modeling_qwen3_5 import l2norm
        return {"y": l2norm(x, dim=-1, eps=eps).numpy()}
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    w = _t(inp["w"])
    y = y * (1.0 + w) if op == "rmsnorm_1p" else y * w
    if op == "gated_rmsnorm":
        y = y * torch.nn.functional.silu(_t(inp["z"]))
    return {"y": y.numpy()}


def ref_activation(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import torch
    fn = torch.nn.functional
    op = str(row.get("op") or "silu")
    if op == "swiglu":
        return {"y": (fn.silu(_t(inp["gate"])) * _t(inp["up"])).numpy()}
    x = _t(inp["x"])
    fns: dict[str, Callable[..., Any]] = {
        "silu": fn.silu, "sigmoid": torch.sigmoid, "relu": torch.relu,
        "softplus": fn.softplus, "gelu": fn.gelu}
    out = fns[op](x)
    return {"y": out.numpy()}


def ref_elementwise(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import torch
    op = str(row.get("op") or "add")
    if op == "fill":
        shape = (int(row["M"]), int(row["N"]))
        if "arange" in str(row.get("name") or ""):
            return {"y": np.arange(shape[0] * shape[1]).reshape(shape)}
        return {"y": np.full(shape, float(row.get("value", 0.0)))}
    if str(row.get("dtype")) in ("int64", "int32"):  # integer add: exact
        return {"y": inp["a"].astype(np.int64) + inp["b"].astype(np.int64)}
    a = _t(inp["a"])
    b = _t(inp["b"]) if "b" in inp else None
    if op == "where":
        cond = _t(inp["cond"]) != 0
        return {"y": torch.where(cond, _t(inp["a"]), _t(inp["b"])).numpy()}
    if op == "pow":
        return {"y": torch.pow(_t(inp["a"]), float(row.get("exponent", 2.0))).numpy()}
    fns: dict[str, Callable[..., Any]] = {
           "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
           "maximum": torch.maximum, "minimum": torch.minimum, "neg": torch.neg,
           "exp": torch.exp, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt,
           "reciprocal": torch.reciprocal, "log": torch.log, "cos": torch.cos,
           "sin": torch.sin}
    return {"y": (fns[op](a, b) if b is not None else fns[op](a)).numpy()}


def ref_rope(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Partial rotary embedding as transformers' apply_rotary_pos_emb (rotate_half) on the
    first K dims, with cos/sin tables duplicated over the two halves."""
    import torch
    from transformers.models.qwen3_5.modeling_qwen3_5 import rotate_half
    k = int(row["K"])
    x = _t(inp["x"])
    cos = torch.cat([_t(inp["cos"])] * 2, dim=-1)
    sin = torch.cat([_t(inp["sin"])] * 2, dim=-1)
    xr, xp = x[..., :k], x[..., k:]
    y = torch.cat([xr * cos + rotate_half(xr) * sin, xp], dim=-1)
    return {"y": y.numpy()}


def ref_reduction(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, Any]:
    import torch
    op = str(row.get("op") or "sum")
    if op == "topk":
        return ref_topk(row, inp)
    x = _t(inp["x"])
    if op == "cumsum":
        return {"y": torch.cumsum(x, dim=-1).numpy()}
    out = {"sum": lambda t: t.sum(-1), "mean": lambda t: t.mean(-1),
           "amax": lambda t: t.amax(-1)}[op](x)
    return {"y": out.numpy()}


def ref_copy(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import torch
    op = str(row.get("op") or "copy")
    if op == "cat":
        parts = [_t(inp["a"])] + ([_t(inp["b"])] if "b" in inp else [])
        return {"y": torch.cat(parts, dim=-1).numpy()}
    if op == "pad":
        x = _t(inp["x"])
        return {"y": torch.nn.functional.pad(x, (0, int(row["N"]) - x.shape[-1])).numpy()}
    if op == "gather":
        return {"y": torch.index_select(_t(inp["x"]), 0, _t(inp["idx"], torch.int64)).numpy()}
    if op == "scatter":
        y = _t(inp["y"]).clone()
        y.index_copy_(0, _t(inp["idx"], torch.int64), _t(inp["x"]))
        return {"y": y.numpy()}
    return {"y": np.array(inp["x"], dtype=np.float64)}


def ref_embedding(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import torch
    ids = _t(inp["ids"], torch.int64)
    return {"y": torch.nn.functional.embedding(ids, _t(inp["table"])).numpy()}


def ref_linear_attention(row: Mapping[str, Any],
                         inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """transformers' torch_chunk_gated_delta_rule / torch_recurrent_gated_delta_rule on
    the kernel's (already l2-normalised) q, k: use_qk_l2norm_in_kernel=False."""
    from transformers.models.qwen3_5 import modeling_qwen3_5 as m
    q, k, v, g, beta = (_t(inp[n]) for n in ("q", "k", "v", "g", "beta"))
    transposed = "state_t" in inp  # ggml's layout: state_t[.., j, i] = S[.., i, j]
    state = _t(inp["state_t"]).transpose(-1, -2) if transposed else _t(inp["state"])
    chunk = int(row.get("chunk") or 0)
    if chunk:
        o, s = m.torch_chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=chunk,
                                              initial_state=state, output_final_state=True,
                                              use_qk_l2norm_in_kernel=False)
    else:
        o, s = m.torch_recurrent_gated_delta_rule(q, k, v, g, beta, initial_state=state,
                                                  output_final_state=True,
                                                  use_qk_l2norm_in_kernel=False)
    if transposed:
        return {"o": o.numpy(), "state_t": s.transpose(-1, -2).numpy()}
    return {"o": o.numpy(), "state": s.numpy()}


def ref_conv1d(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """transformers' causal_conv1d_fn / causal_conv1d_update (activation=None) in their
    channel-major layouts: x [B,Sq,N] -> [B,N,Sq], w [W,N] -> [N,W], state [B,W,N] -> [B,N,W]."""
    from transformers.models.qwen3_5 import modeling_qwen3_5 as m
    x = _t(inp["x"]).transpose(1, 2).contiguous()
    w = _t(inp["w"]).transpose(0, 1).contiguous()
    if str(row.get("op")) == "causal_conv1d_update":
        state = _t(inp["state"]).transpose(1, 2).contiguous()
        y = m.causal_conv1d_update(x, state, w, None, None)
        return {"y": y.transpose(1, 2).numpy(), "state": state.transpose(1, 2).numpy()}
    y = m.causal_conv1d_fn(x, w, None, None)
    return {"y": y.transpose(1, 2).numpy()}


def ref_router(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """softmax(fp32) -> topk -> renormalise, as Qwen3.5-MoE's router (qwen.md 4.3)."""
    import torch
    k = int(row.get("topk") or row.get("K") or 1)
    p = torch.softmax(_t(inp["x"]), dim=-1)
    top = torch.topk(p, k, dim=-1)
    w = top.values / top.values.sum(-1, keepdim=True)
    return {"weights": w.numpy(), "idx": IndexCheck(p.numpy(), top.values.numpy())}


def ref_topk(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, Any]:
    import torch
    k = int(row.get("topk") or row.get("K") or 1)
    x = _t(inp["x"])
    top = torch.topk(x, k, dim=-1)
    return {"y": top.values.numpy(), "idx": IndexCheck(x.numpy(), top.values.numpy())}


REFERENCES = {
    "gemm": ref_gemm, "softmax": ref_softmax, "attention": ref_attention, "norm": ref_norm,
    "activation": ref_activation, "elementwise": ref_elementwise, "rope": ref_rope,
    "reduction": ref_reduction, "copy": ref_copy, "linear_attention": ref_linear_attention,
    "conv1d": ref_conv1d, "router": ref_router, "embedding": ref_embedding,
}
