"""Independent references for checking kernels: torch and transformers, imported lazily.

Each ``ref_<kind>(row, inputs) -> {buffer: expected}`` takes the same (BF16-rounded)
input values the executor sees and computes in float32/float64 with torch; the
linear-attention and conv1d references are the transformers Qwen3.5 fallbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _t(x: np.ndarray, dtype: Any = None):
    import torch
    return torch.from_numpy(np.ascontiguousarray(x)).to(dtype or torch.float64)


def ref_softmax(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import torch
    return {"y": torch.softmax(_t(inp["x"]), dim=-1).numpy()}


def ref_gemm(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    b = inp["B"] if "B" in inp else np.swapaxes(inp["Bt"], -1, -2)
    return {"C": (_t(inp["A"]) @ _t(b)).numpy()}


def ref_attention(row: Mapping[str, Any], inp: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """F.scaled_dot_product_attention with GQA; causal = bottom-right aligned (query r is
    token Skv - Sq + r), given as an explicit mask."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    q, k, v = _t(inp["Q"]), _t(inp["K"]), _t(inp["V"])
    sq, skv = q.shape[-2], k.shape[-2]
    mask = None
    if bool(row.get("causal", False)):
        qpos = torch.arange(sq)[:, None] + (skv - sq)
        mask = torch.arange(skv)[None, :] <= qpos
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                       enable_gqa=q.shape[1] != k.shape[1])
    return {"O": o.numpy()}
