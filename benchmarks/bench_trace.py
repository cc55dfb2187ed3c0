"""Trace-extraction speed and memory (issue #2 goals), each case in a fresh process.

Goals: qwen3.5-397b-a17b prefill of 2048 tokens in under 60 s with under 2 GB peak RSS;
qwen3.5-9b decode at context 32768 in under 10 s.

    python benchmarks/bench_trace.py
"""

from __future__ import annotations

import json
import subprocess
import sys

CASES = [
    ("qwen3.5-397b-a17b", "prefill", {"seq": 2048}, 60.0, 2.0),
    ("qwen3.5-9b", "decode", {"context": 32768}, 10.0, None),
]

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from workloads.extract import trace
t1 = time.perf_counter()
tr = trace(sys.argv[1], phase=sys.argv[2], **json.loads(sys.argv[3]))
t2 = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB -> GB (Linux)
print(json.dumps({"import_s": t1 - t0, "trace_s": t2 - t1, "total_s": t2 - t0,
                  "peak_rss_gb": rss, "rows": len(tr.ops), "gflop": tr.total_flops / 1e9}))
"""


def main() -> int:
    ok = True
    for model, phase, kw, goal_s, goal_gb in CASES:
        out = subprocess.run([sys.executable, "-c", CHILD, model, phase, json.dumps(kw)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        good = r["total_s"] < goal_s and (goal_gb is None or r["peak_rss_gb"] < goal_gb)
        ok &= good
        print(f"{model} {phase} {kw}: {r['total_s']:.1f} s total "
              f"(import {r['import_s']:.1f} s, trace {r['trace_s']:.1f} s), "
              f"peak RSS {r['peak_rss_gb']:.2f} GB, {r['rows']} rows, {r['gflop']:.0f} GFLOP "
              f"-> goal < {goal_s:.0f} s" + (f", < {goal_gb:.0f} GB" if goal_gb else "")
              + (": OK" if good else ": MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
