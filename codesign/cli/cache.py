"""``codesign cache``: what the on-disk caches hold, and clearing them."""

from __future__ import annotations

import argparse
import shutil
from typing import Any

EXAMPLES = """examples:
  codesign cache info      where the caches are, how many entries and bytes each holds
  codesign cache clear     delete every cached trace and kernel timing

The directory is $CODESIGN_CACHE_DIR (default ~/.cache/codesign). Entries are keyed by
everything that can change them (model config, scenario, code version, hardware config),
so clearing is never needed for correctness: it only frees space.
"""


def register(sub: Any) -> None:
    p = sub.add_parser("cache", help="show or clear the trace and timing caches",
                       description="The on-disk caches: traces and RISC-V kernel timings.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["info", "clear"], help="info: sizes; clear: delete")
    p.set_defaults(func=run)


def _size(directory: Any, pattern: str) -> tuple[int, int]:
    if not directory.is_dir():
        return 0, 0
    files = [f for f in directory.rglob(pattern) if f.is_file()]
    return len(files), sum(f.stat().st_size for f in files)


def run(args: argparse.Namespace) -> int:
    from codesign.riscv import cache as timing_cache
    from workloads import cache as trace_cache

    caches = {"traces": (trace_cache.trace_dir(), "*.parquet"),
              "riscv timings": (timing_cache.cache_dir(), "*.json")}
    if args.action == "clear":
        trace_cache.clear()
        n_timing, _ = _size(timing_cache.cache_dir(), "*.json")
        shutil.rmtree(timing_cache.cache_dir(), ignore_errors=True)
        print(f"cleared the trace cache and {n_timing:,} kernel timings")
        return 0
    for name, (directory, pattern) in caches.items():
        n, size = _size(directory, pattern)
        print(f"{name:<14} {n:>8,} entries {size / 1e6:>10.1f} MB  {directory}")
    return 0
