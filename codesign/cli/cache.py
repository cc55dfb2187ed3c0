"""``codesign cache``: what the on-disk caches hold, and clearing them."""

from __future__ import annotations

import argparse
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


def run(args: argparse.Namespace) -> int:
    from codesign.riscv import cache as timing_cache
    from workloads import cache as trace_cache

    if args.action == "clear":
        n_traces = trace_cache.clear()
        n_timings = timing_cache.clear()
        print(f"cleared {n_traces:,} traces and {n_timings:,} kernel and row timings")
        return 0
    traces = trace_cache.info()
    print(f"{'traces':<14} {traces.entries:>8,} entries {traces.bytes / 1e6:>10.1f} MB  "
          f"{traces.directory}")
    stores = timing_cache.info()
    if not stores:
        print(f"{'riscv timings':<14} {0:>8,} entries {0:>10.1f} MB  "
              f"{timing_cache.store_path()}")
    for s in stores:
        print(f"{'riscv timings':<14} {s.entries:>8,} entries {s.bytes / 1e6:>10.1f} MB  "
              f"{s.path}{'' if s.current else '  (older code: never read; clear frees it)'}")
    return 0
