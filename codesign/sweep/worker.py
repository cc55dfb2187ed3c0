"""What runs in a sweep worker (a local process or a Dask worker): time a batch of points.

Workers only load saved traces, so they never import torch. A local worker process
lives for its parent's sweeps (:mod:`codesign.sweep.pool`) and keeps its traces in
memory; the timing models keep their own memo (the RISC-V model in memory and under
``CODESIGN_CACHE_DIR``), so consecutive points that share kernels and configs are cheap.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import hashlib
import importlib
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

# How a worker finds a workload's trace: a path (local runs) or the file's bytes (Dask);
# a generate workload's is {"request": [prompt, output, batch], "traces": {name: ref}}
# (its prefill and every decode context it may time, see Workload.traces).
TraceRef = str | bytes | dict[str, Any]

# Per-process memo: the traces this worker has loaded, by workload id (and trace name)
# and, for a file, its path, modification time and size (a worker serves several sweeps).
_TRACES: dict[tuple[Any, ...], Trace] = {}


def _trace(workload_id: str, ref: str | bytes) -> Trace:
    """The trace, from a path (local runs) or Parquet bytes (Dask: no shared disk needed)."""
    memo: tuple[Any, ...] = (workload_id,)
    if isinstance(ref, str):
        with contextlib.suppress(OSError):  # (a missing file: Trace.load says so)
            st = os.stat(ref)
            memo += (ref, st.st_mtime_ns, st.st_size)
    tr = _TRACES.get(memo)
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
    _TRACES[memo] = tr
    return tr


def timing_modules(target_names: Sequence[str]) -> tuple[str, ...]:
    """What timing these targets imports beyond their family module (a family's
    ``TIMING_MODULES``: the RISC-V replay, imported lazily so that listing targets stays
    fast), for :func:`start_worker`."""
    out: list[str] = []
    for fam in targets.families():
        if any(fam.owns(t) for t in target_names):
            out += [fam.__name__, *getattr(fam, "TIMING_MODULES", ())]
    return tuple(dict.fromkeys(out))


def start_worker(modules: Sequence[str] = ()) -> None:
    """Initializer of a local worker process: watch the parent
    (:func:`die_with_parent`), then import ``modules`` (:func:`timing_modules`) while
    the sweep process prepares the first batches.

    What the imports allocated (pandas, the kernel library, the timing models) lives as
    long as the worker: it is moved out of the cyclic collector's reach (``gc.freeze``),
    so that the collections the simulations trigger no longer traverse it (a full one
    cost ~0.15-0.3 CPU-s per worker of a 200-point cold sweep, issue #12); what the
    batches allocate stays collectable.

    When its pool shuts it down, the worker ends without the interpreter's teardown
    (freeing pandas and every other module's objects: ~0.15 CPU-s that a sweep process
    ending or replacing its pool would wait for), as the ``codesign`` command does."""
    die_with_parent()
    atexit.register(_end_now)
    for m in modules:
        importlib.import_module(m)
    gc.freeze()


def _end_now() -> None:
    """The exit of a worker its pool shut down: every result has been sent, multiprocessing
    has flushed its queues, the timing store committed each entry as it was written;
    logging (whose exit handler, registered before this one, would run after it) is
    flushed here."""
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(ValueError):
            stream.flush()
    os._exit(0)


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


def run_batch(workload_id: str, ref: TraceRef,
              points: Sequence[tuple[str, str, Sequence[tuple[str, Any]]]]) \
        -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    """Time ``points`` ((row id, target, overrides) each) on one workload's trace (or, for
    a generate workload, its whole request: :func:`codesign.generation.time_request`).

    Returns the metrics of each row and facts about the worker (pid, whether torch is
    loaded in it) for diagnostics and tests.
    """
    out = []
    for rid, target, overrides in points:
        tgt = targets.resolve(target, dict(overrides))
        if isinstance(ref, dict):
            summary = _request(workload_id, ref, tgt, target).summary()
        else:
            summary = tgt.simulate(_trace(workload_id, ref)).summary(by_kind_energy=False)
        out.append((rid, metrics(summary)))
    return out, {"pid": os.getpid(), "torch": "torch" in sys.modules}


def _request(workload_id: str, ref: dict[str, Any], tgt: Any, target: str) -> Any:
    from codesign.generation import time_request

    prompt, output, batch = ref["request"]
    traces = ref["traces"]

    def decode(context: int) -> Trace:
        return _trace(f"{workload_id}/decode-{context}", traces[f"decode-{context}"])

    return time_request(tgt, target, _trace(f"{workload_id}/prefill", traces["prefill"]),
                        decode, prompt, output, batch)
