"""RISC-V core model speed (issue #4 goals). Traces are extracted first (not timed); each
timing runs in a fresh process against a fresh cache directory.

Goals:
- qwen3.5-9b decode at context 4096 on two targets (c950-like, c950-like+xattn):
  cold cache < 30 s, warm cache (second process, same cache directory) < 2 s;
- qwen3.5-397b-a17b prefill of 2048 tokens on c950-like+xattn, cold: < 120 s.
Reports simulated instructions per host second (instructions the SimPy model stepped
through) and the dynamic instructions those stand for.

    python benchmarks/bench_sim.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = [
    ("qwen3.5-9b", "decode", {"context": 4096}, ["c950-like", "c950-like+xattn"], 30.0, 2.0),
    ("qwen3.5-397b-a17b", "prefill", {"seq": 2048}, ["c950-like+xattn"], 120.0, None),
]

EXTRACT = """
import json, sys
from codesign.api import trace
trace(sys.argv[1], phase=sys.argv[2], **json.loads(sys.argv[3])).save(sys.argv[4])
"""

SIMULATE = """
import json, sys, time
t0 = time.perf_counter()
from codesign.riscv import make
from workloads.schema import Trace
tr = Trace.load(sys.argv[1])
t1 = time.perf_counter()
out = []
for name in sys.argv[2:]:
    t = time.perf_counter()
    res = make(name).simulate(tr)
    dt = time.perf_counter() - t
    o = res.ops
    out.append({"target": name, "seconds": dt, "latency_s": res.latency_s,
                "simulated": int(o["simulated_instructions"].sum()),
                "sim_seconds": float(o["sim_seconds"].sum()),
                "dynamic": int((o["instructions"] * o["repeat"]).sum())})
print(json.dumps({"load_s": t1 - t0, "total_s": time.perf_counter() - t0, "targets": out}))
"""


def _run(code: str, *args: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for model, phase, kw, targets, cold_goal, warm_goal in CASES:
            path = str(Path(tmp) / f"{model}-{phase}.parquet")
            subprocess.run([sys.executable, "-c", EXTRACT, model, phase, json.dumps(kw), path],
                           check=True, capture_output=True)
            env = {**os.environ, "CODESIGN_CACHE_DIR": str(Path(tmp) / f"cache-{model}")}
            runs = [("cold", cold_goal), ("warm", warm_goal)] if warm_goal else \
                [("cold", cold_goal)]
            for label, goal in runs:
                r = _run(SIMULATE, path, *targets, env=env)
                sim = sum(t["seconds"] for t in r["targets"])
                good = sim < goal
                ok &= good
                print(f"{model} {phase} {kw} {label} cache, {', '.join(targets)}: "
                      f"{sim:.2f} s simulating ({r['total_s']:.2f} s with imports and trace "
                      f"load) -> goal < {goal:.0f} s: {'OK' if good else 'MISSED'}")
                for t in r["targets"]:
                    rate = t["simulated"] / t["sim_seconds"] if t["sim_seconds"] else 0.0
                    print(f"  {t['target']}: {t['seconds']:.2f} s, latency "
                          f"{t['latency_s'] * 1e3:.2f} ms; simulated {t['simulated']:,} "
                          f"instructions ({rate:,.0f} instr/host-s in the core model) standing "
                          f"for {t['dynamic']:,} dynamic instructions")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
