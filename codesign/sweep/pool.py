"""The local worker processes of sweeps: started once per process, early, fed batches.

Workers are spawned, never forked (no torch inherited from trace extraction). Each one
imports the timing models of the sweep's target families as it starts
(:func:`codesign.sweep.worker.start_worker`), while the sweep process still prepares its
batches (traces, row keys, the rows already finished): a worker's imports cost about half
a second, as much as tens of warm points.

The pool then stays for this process's next sweep: a notebook's second sweep, each
generation of a search (:func:`codesign.explore`), a warm run after a cold one find their
workers started, with their loaded traces and timing memo. It is replaced by a new one
when what a spawned worker takes from its parent has changed since it started (the
``CODESIGN_*`` and ``PYTHON*`` environment variables, e.g. ``CODESIGN_CACHE_DIR``;
``sys.path``; the working directory; the source files of ``codesign``, ``isa`` and
``workloads``), when a sweep asks for another number of jobs or for more workers than it
has, and after a sweep that failed or was interrupted. A worker exits as soon as its
parent dies, however it dies (:func:`codesign.sweep.worker.die_with_parent`); an idle
pool holds no work and ends with its process.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import hashlib
import importlib.util
import multiprocessing
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from codesign.sweep.worker import start_worker

# packages whose source a worker runs: a change to any file starts new workers
_PACKAGES = ("codesign", "isa", "workloads")
_ENVIRONMENT = ("CODESIGN", "PYTHON")  # prefixes of the variables that do too


@dataclass
class _Pool:
    executor: cf.ProcessPoolExecutor
    jobs: int  # the jobs asked for
    size: int  # the processes started: min(jobs, what the first sweep needed)
    inherited: str  # :func:`_inherited` when they started


_POOLS: dict[int, _Pool] = {}  # this process's pool, by its pid (a forked child's own)
# dropped while the interpreter still has its modules: an executor collected during their
# teardown has its weakref callback fail ("'NoneType' object has no attribute 'util'")
atexit.register(_POOLS.clear)


def workers(jobs: int, needed: int, modules: Sequence[str] = ()) \
        -> cf.ProcessPoolExecutor:
    """This process's pool for a sweep run with ``jobs`` processes that can keep
    ``needed`` of them busy: the one started before if it still fits, else a new one of
    ``min(jobs, needed)`` processes, started now (each importing ``modules``)."""
    size = max(1, min(jobs, needed))
    inherited = _inherited()
    p = _POOLS.get(os.getpid())
    if p is not None and p.jobs == jobs and p.size >= size and p.inherited == inherited:
        return p.executor
    discard()
    ctx = multiprocessing.get_context("spawn")  # no torch inherited from tracing
    executor = cf.ProcessPoolExecutor(max_workers=size, mp_context=ctx,
                                      initializer=start_worker, initargs=(tuple(modules),))
    # a spawning pool starts a process per submission while none is idle: start them all
    # now, so that they import while the sweep prepares its batches
    for _ in range(size):
        executor.submit(os.getpid)
    _POOLS[os.getpid()] = _Pool(executor, jobs, size, inherited)
    return executor


def discard(wait: bool = False) -> None:
    """Shut this process's pool down, cancelling the batches not started (``wait``: until
    the running ones are finished and the processes have exited)."""
    p = _POOLS.pop(os.getpid(), None)
    if p is not None:
        p.executor.shutdown(wait=wait, cancel_futures=True)


def _inherited() -> str:
    """A hash of what a spawned worker takes from this process that changes its results:
    the environment variables of codesign and of Python (``CODESIGN_*``, ``PYTHON*``;
    not those a library sets for itself, as torch does while a trace is extracted),
    ``sys.path``, the working directory and the source files it runs (by modification
    time and size)."""
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENVIRONMENT))
    h = hashlib.sha256()
    h.update(repr((env, sys.path, os.getcwd(), sys.executable)).encode())
    for pkg in _PACKAGES:
        spec = importlib.util.find_spec(pkg)  # (a top-level package: nothing is imported)
        for root in (spec.submodule_search_locations or []) if spec else []:
            for p in sorted(Path(root).rglob("*.py")):
                st = p.stat()
                h.update(f"{p}|{st.st_mtime_ns}|{st.st_size}\n".encode())
    return h.hexdigest()
