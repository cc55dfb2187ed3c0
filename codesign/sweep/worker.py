"""What runs in a sweep worker (a local process or a Dask worker): time a batch of points.

Workers only load saved traces, so they never import torch. A worker process lives for
the whole sweep and keeps its traces and resolved targets in memory; the timing models
keep their own memo (the RISC-V model in memory and under ``CODESIGN_CACHE_DIR``), so
consecutive points that share kernels and configs are cheap.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codesign import targets
from codesign.sweep.store import metrics
from workloads.schema import Trace

# Per-process memo: the traces this worker has loaded, by workload id.
_TRACES: dict[str, Trace] = {}


def _trace(workload_id: str, ref: str | bytes) -> Trace:
    """The trace, from a path (local runs) or Parquet bytes (Dask: no shared disk needed)."""
    tr = _TRACES.get(workload_id)
    if tr is not None:
        return tr
    if isinstance(ref, bytes):
        d = Path(tempfile.gettempdir()) / "codesign-sweep-traces"
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{hashlib.sha256(ref).hexdigest()[:24]}.parquet"
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(ref)
            os.replace(tmp, path)
        tr = Trace.load(path)
    else:
        tr = Trace.load(ref)
    _TRACES[workload_id] = tr
    return tr


def die_with_parent() -> None:
    """Initializer of a local worker process: exit as soon as the sweep that started it
    dies, however it dies (``kill -9`` included), rather than simulate for nobody.

    A spawned process holds a sentinel that becomes ready when its parent exits; a daemon
    thread waits on it (Python switches threads every few milliseconds, so even a worker
    deep in a simulation stops at once)."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to watch
        return
    threading.Thread(target=_exit_when_done, args=(parent,), daemon=True,
                     name="codesign-watch-parent").start()


def _exit_when_done(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()
    os._exit(1)  # no cleanup to run: unfinished batches are simply not written


def run_batch(workload_id: str, ref: str | bytes,
              points: Sequence[tuple[str, str, Sequence[tuple[str, Any]]]]) \
        -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    """Time ``points`` ((row id, target, overrides) each) on one workload's trace.

    Returns the metrics of each row and facts about the worker (pid, whether torch is
    loaded in it) for diagnostics and tests.
    """
    tr = _trace(workload_id, ref)
    out = []
    for rid, target, overrides in points:
        res = targets.resolve(target, dict(overrides)).simulate(tr)
        out.append((rid, metrics(res.summary())))
    return out, {"pid": os.getpid(), "torch": "torch" in sys.modules}
