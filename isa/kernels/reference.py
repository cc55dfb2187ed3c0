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
