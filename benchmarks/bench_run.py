"""Whole-process and in-process speed of one `codesign run` (issue #12 goals), in CPU
seconds (user + system, children included), each number the median of its repeats:

- ``codesign run qwen3.5-9b --phase decode --context 4096 --target c950-like --target
  c950-like+xattn``, cold (an empty CODESIGN_CACHE_DIR: trace extraction and every kernel
  simulated) <= 5 s, then warm (the caches the cold run filled) <= 1 s;
- an in-process warm point: the same trace simulated on both targets again in a process
  that has done it once <= 0.02 s;
- ``codesign --help`` <= 0.3 s.

Each goal prints its measured value, the goal and their ratio; the script exits 1 when one
is missed (``--no-fail``: report only).

    python benchmarks/bench_run.py [--repeats 3] [--no-fail]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

from goals import add_no_fail, exit_code, verdict

TARGETS = ["c950-like", "c950-like+xattn"]
RUN = [sys.executable, "-m", "codesign", "run", "qwen3.5-9b", "--phase", "decode",
       "--context", "4096", *(a for t in TARGETS for a in ("--target", t))]

POINT = """
import json, sys, time
import codesign as cd
targets = sys.argv[1].split(",")
tr = cd.trace("qwen3.5-9b", phase="decode", context=4096)
for t in targets:  # the first point fills this process's memo
    cd.simulate(tr, t)
times = []
for _ in range(int(sys.argv[2])):
    t0 = time.process_time()
    for t in targets:
        cd.simulate(tr, t)
    times.append(time.process_time() - t0)
print(json.dumps(times))
"""


def _cpu(cmd: list[str], env: dict[str, str]) -> float:
    """CPU seconds of a child process (user + system, its own children included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="warm repeats (median)")
    add_no_fail(ap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        env = {**os.environ, "CODESIGN_CACHE_DIR": tmp}
        cold = _cpu(RUN, env)
        print(f"  cold run: {cold:.2f} CPU-s", flush=True)
        warm = [_cpu(RUN, env) for _ in range(args.repeats)]
        print(f"  warm runs: {', '.join(f'{w:.2f}' for w in warm)} CPU-s", flush=True)
        out = subprocess.run([sys.executable, "-c", POINT, ",".join(TARGETS),
                              str(max(5, 3 * args.repeats))], env=env, check=True,
                             capture_output=True, text=True)
        points = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  in-process warm points: median {statistics.median(points) * 1e3:.1f} ms, "
              f"min {min(points) * 1e3:.1f} ms", flush=True)
        helps = [_cpu([sys.executable, "-m", "codesign", "--help"], env) for _ in range(5)]
        print(f"  --help: {', '.join(f'{h:.2f}' for h in helps)} CPU-s", flush=True)
    ok = verdict("run_warm", statistics.median(warm))
    ok &= verdict("run_cold", cold)
    ok &= verdict("point_warm", statistics.median(points))
    ok &= verdict("help", statistics.median(helps))
    return exit_code(ok, args)


if __name__ == "__main__":
    sys.exit(main())
