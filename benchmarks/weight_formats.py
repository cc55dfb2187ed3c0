"""Quantised weights on c950-like: simulated time against its roofline, per weight format.

Qwen3.5-9B decode at context 4096: the q_proj GEMV and the whole step (sum over ops of
seconds x repeat, and of the roofline the same way), on plain RVV and RVV+Xattn, for each
weight dtype named on the command line (default: bf16 int8 int4 q4_0 mxfp4 q8_0 fp8).

    python benchmarks/weight_formats.py [DTYPE ...]

Uses a fresh timing cache unless CODESIGN_CACHE_DIR is set.
"""

from __future__ import annotations

import os
import sys
import tempfile

import pandas as pd

os.environ.setdefault("CODESIGN_CACHE_DIR", tempfile.mkdtemp(prefix="codesign-weights-"))

import codesign as cd  # after the cache directory is chosen

TARGETS = ("c950-like", "c950-like+xattn")
DTYPES = ("bf16", "int8", "int4", "q4_0", "mxfp4", "q8_0", "fp8")


def row(wd: str, target: str, ops: pd.DataFrame) -> dict[str, object]:
    q = ops[ops["name"] == "q_proj"].iloc[0]
    rep = ops["repeat"]
    step, roof = (ops["seconds"] * rep).sum(), (ops["roofline_seconds"] * rep).sum()
    return {"weight_dtype": wd, "target": target,
            "q_proj_ms": round(q["seconds"] * 1e3, 4),
            "q_proj_roofline_ms": round(q["roofline_seconds"] * 1e3, 4),
            "q_proj_x_roofline": round(q["seconds"] / q["roofline_seconds"], 2),
            "q_proj_bound": q["bound"],
            "step_ms": round(step * 1e3, 2), "step_roofline_ms": round(roof * 1e3, 2),
            "step_x_roofline": round(step / roof, 2),
            "ops_below_roofline": int((ops["seconds"] < ops["roofline_seconds"]).sum())}


def main() -> None:
    pd.set_option("display.width", 200)
    rows = []
    for wd in sys.argv[1:] or DTYPES:
        tr = cd.trace("qwen3.5-9b", phase="decode", batch=1, context=4096, weight_dtype=wd)
        rows += [row(wd, t, cd.simulate(tr, t).ops) for t in TARGETS]
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
