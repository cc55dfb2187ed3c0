"""A run's cold work over several processes (issue #12): one trace timed on several targets.

Simulating a RISC-V target cold (every distinct kernel through the SimPy core) costs
seconds; the targets of one run are independent, so :func:`simulate_all` first times the
RISC-V targets in ``jobs`` worker processes, which leave their kernel timings in the
shared timing memo (``codesign.riscv.cache``, under ``CODESIGN_CACHE_DIR``), and then
times every target in this process, where those timings are memo hits. The results are
therefore exactly the ones a one-process run gives (tested); only the wall time changes.
The workers are the sweeps' pool (:mod:`codesign.sweep.pool`): spawned (no torch), kept
for this process's next run or sweep, ending when this process dies; they load the trace
from a Parquet file.
When the memo cannot be written (a read-only cache directory), the second pass simulates
again: the same results, at the one-process cost.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codesign.errors import CodesignError

if TYPE_CHECKING:
    from codesign.result import Result
    from workloads.schema import Trace


def check_jobs(jobs: int) -> int:
    """``jobs`` (processes of a run, sweep or search), refused unless a positive integer."""
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise CodesignError(f"--jobs must be a positive integer, got {jobs!r}")
    return jobs


def simulate_all(trace: Trace, resolved: Sequence[Any], jobs: int = 1) -> list[Result]:
    """Each target's Result for ``trace``, in the order given; the RISC-V targets are
    simulated cold in up to ``jobs`` processes first."""
    check_jobs(jobs)
    cold = [t for t in resolved if t.family == "riscv"]
    if jobs > 1 and len(cold) > 1:
        _warm(trace, cold, jobs)
    return [t.simulate(trace) for t in resolved]


def _warm(trace: Trace, cold: Sequence[Any], jobs: int) -> None:
    from codesign.riscv import TIMING_MODULES
    from codesign.sweep import pool

    # the sweeps' worker pool (spawned: no torch inherited; kept for this process's next
    # run or sweep, replaced when the code or the environment changes)
    executor = pool.workers(jobs, len(cold), TIMING_MODULES)
    with tempfile.TemporaryDirectory(prefix="codesign-run-") as tmp:
        path = str(trace.save(Path(tmp) / "trace.parquet"))
        futures = [executor.submit(_simulate_saved, path, t) for t in cold]
        try:
            for fut in futures:
                fut.result()  # a worker's error is this run's error
        except BaseException:
            pool.discard()  # as a failed sweep does: the next run starts new workers
            raise


def _simulate_saved(path: str, target: Any) -> None:
    from workloads.schema import Trace

    target.simulate(Trace.load(path))
