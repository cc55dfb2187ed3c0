"""Whole-model Xattn ablation: RVV, all of Xattn, and each instruction alone.

Qwen3.5-9B prefill 2048 and decode at context 4096, Qwen3.5-35B-A3B decode at 4096:
latency, tokens/s and speedup over plain RVV, then time by op kind (RVV vs +xattn), on
c950-like or another preset:

    python benchmarks/xattn_ablation.py [--base spacemit-k1]

Uses a fresh timing cache unless CODESIGN_CACHE_DIR is set.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import pandas as pd

os.environ.setdefault("CODESIGN_CACHE_DIR", tempfile.mkdtemp(prefix="codesign-ablation-"))

import codesign as cd  # after the cache directory is chosen

SUBSETS = ("vfexp", "vfexpsub", "segred", "mmacc", "vfrec")


def targets(base: str) -> list[str]:
    return [base, f"{base}+xattn", *(f"{base}+xattn:{s}" for s in SUBSETS)]

WORKLOADS = [
    ("qwen3.5-9b", {"phase": "prefill", "seq": 2048}),
    ("qwen3.5-9b", {"phase": "decode", "context": 4096}),
    ("qwen3.5-35b-a3b", {"phase": "decode", "context": 4096}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="c950-like", help="the plain-RVV preset (default "
                    "c950-like)")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    for model, scenario in WORKLOADS:
        tr = cd.trace(model, **scenario)
        results = [cd.simulate(tr, t) for t in targets(args.base)]
        base = results[0]
        print(f"\n== {model} {scenario}")
        table = pd.DataFrame([{
            "target": r.target, "latency_ms": round(r.latency_s * 1e3, 2),
            "tokens_per_s": round(r.summary()["tokens_per_s"], 2),
            "speedup": round(base.latency_s / r.latency_s, 3),
        } for r in results])
        print(table.to_string(index=False))
        kinds = pd.DataFrame({r.target: r.seconds_by_kind() for r in results[:2]}) * 1e3
        print("time by kind (ms):")
        print(kinds.round(2).to_string())


if __name__ == "__main__":
    main()
