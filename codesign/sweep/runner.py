"""Run a sweep: trace each workload once, time the points in parallel, resume, assemble.

Layout of the output directory ``DIR``::

    DIR/spec.toml          the spec as given (provenance; another spec is refused unless
                           forced, so one directory holds one sweep's results.parquet)
    DIR/sweep.json         how many rows the sweep has (a report of an unfinished sweep
                           reads its total here: spec.toml's relative paths may not resolve
                           from DIR)
    DIR/traces/*.parquet   one trace per workload, extracted once (workers only load them;
                           extracted again when the model's config changed)
    DIR/parts/part-*.parquet   finished rows, one file per finished batch (see store)
    DIR/results.parquet    every row of the spec plus the derived metrics (on completion)
    DIR/.lock              while a run writes DIR: its pid (see codesign.sweep.lock)

Execution: ``jobs=1`` times the points in this process; ``jobs=N`` in N local worker
processes (started with "spawn", so they never inherit torch from trace extraction; each
exits when the sweep process dies; started once per process and kept for its next sweep,
see :mod:`codesign.sweep.pool`);
``scheduler=ADDRESS`` on a Dask distributed cluster (traces are sent to the workers as
bytes, so the cluster needs no shared disk). Rows are grouped into batches of one
workload and consecutive hardware points, so a long-lived worker reuses its loaded trace,
resolved configs and the timing models' memo; a hardware point's rows stay in one batch
when there are enough points (:func:`_batches`), so two workers never simulate the
kernels its targets share.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import hashlib
import itertools
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from codesign import targets
from codesign.errors import USER_ERRORS, CodesignError
from codesign.outputs import check_output_dir, write_atomically
from codesign.parallel import check_jobs
from codesign.sweep import pool, store
from codesign.sweep.lock import locked
from codesign.sweep.spec import MAX_ROWS, Point, Spec, Workload, load_spec, row_id
from codesign.sweep.worker import TraceRef, run_batch, timing_modules

Batch = tuple[str, "TraceRef", list[tuple[str, str, list[tuple[str, Any]]]]]


@dataclass
class RunInfo:
    """What a run did (for the CLI's last lines and for tests)."""

    rows: int = 0  # rows of the spec (points x workloads)
    resumed: int = 0  # rows found finished under DIR, with the current config and trace
    stale: int = 0  # rows found under DIR but computed from another config or trace
    computed: int = 0  # rows timed by this run
    parts: int = 0  # part files this run wrote
    seconds: float = 0.0
    workers: tuple[dict[str, Any], ...] = ()  # what each batch reported (pid, torch)


def row_records(spec: Spec) -> dict[str, dict[str, Any]]:
    """Each (point, workload) row by id: identity, axis values and scenario (no metrics)."""
    recs = {}
    for p, w in spec.rows():
        ov = dict(p.overrides)
        rid = row_id(p, w)
        recs[rid] = {
            "row_id": rid, "workload_id": w.id, "target": p.target, "reference": p.reference,
            **{a: (None if p.reference else ov.get(a)) for a in spec.axis_paths},
            "overrides": json.dumps(ov, sort_keys=True, default=str),
            "model": w.label, "phase": w.phase, "batch": w.batch, "seq": w.seq,
            "context": w.context, "prompt": w.prompt, "output": w.output,
            "routing": w.routing, "weight_dtype": w.weight_dtype,
        }
    return recs


def row_table(spec: Spec) -> pd.DataFrame:
    """:func:`row_records` as a DataFrame with the dataset's column types."""
    sch = store.schema(spec)
    metric_names = {m.name for m in store.metric_fields()}
    ident = pa.schema([f for f in sch if f.name not in metric_names])
    return pa.Table.from_pylist(list(row_records(spec).values()), schema=ident).to_pandas()


def _trace_paths(w: Workload, out: Path) -> dict[str, Path]:
    """The trace files of a workload by name (:meth:`Workload.traces`): a saved trace as
    given, or extracted into DIR once, and again when the model's config is no longer the
    one it was extracted from."""
    if w.trace is not None:
        return {"": Path(w.trace)}
    paths = {}
    for name, kwargs in w.traces().items():
        path = out / store.TRACES / (f"{w.id}-{name}.parquet" if name else f"{w.id}.parquet")
        if not path.exists() or not _traced_from_current_config(path, w):
            from codesign import api  # imports torch: only here, never in workers

            api.trace(str(w.model), **kwargs).save(path)
        paths[name] = path
    return paths


def _trace_ref(w: Workload, paths: Mapping[str, Path], as_bytes: bool) -> TraceRef:
    """What a worker is given to load a workload's traces: a path or the file's bytes
    (Dask: no shared disk); a generate workload's request and all its traces."""
    def one(p: Path) -> str | bytes:
        return p.read_bytes() if as_bytes else str(p)

    if w.phase != "generate":
        return one(paths[""])
    return {"request": [w.prompt, w.output, w.batch],
            "traces": {name: one(p) for name, p in paths.items()}}


def _trace_meta(path: Path) -> bytes:
    """The raw ``codesign.trace`` metadata of a saved trace (no rows are read)."""
    try:
        return (pq.read_schema(path).metadata or {}).get(b"codesign.trace", b"")
    except (pa.ArrowInvalid, OSError) as exc:
        raise CodesignError(f"trace {str(path)!r} is not readable Parquet ({exc})") from None


def _traced_from_current_config(path: Path, w: Workload) -> bool:
    from workloads.errors import WorkloadError
    from workloads.registry import load_config
    from workloads.schema import Trace

    try:
        traced = Trace.load(path).meta.get("config")  # verifies page and metadata checksums
    except WorkloadError:
        return False  # a damaged cached trace is extracted again
    # through JSON, as the trace stored it (tuples become lists)
    return traced == json.loads(json.dumps(load_config(str(w.model)).hf_dict()))


def trace_key(*paths: Path) -> str:
    """A short hash of the traces' metadata: model config, scenario, schema and versions."""
    return hashlib.sha256(b"".join(_trace_meta(p) for p in paths)).hexdigest()[:16]


def row_keys(spec: Spec, tkeys: Mapping[str, str]) -> dict[str, store.RowKey]:
    """Each row's key as things are now: its point's resolved config fingerprint and its
    workload's trace key (``tkeys``: :func:`trace_key` of each workload id's trace)."""
    fingerprints: dict[str, str] = {}
    out = {}
    for p, w in spec.rows():
        fp = fingerprints.get(p.key())
        if fp is None:
            fp = fingerprints[p.key()] = targets.resolve(p.target, dict(p.overrides)).fingerprint
        out[row_id(p, w)] = (fp, tkeys[w.id])
    return out


def _batches(pending: list[tuple[Point, Workload, str]], refs: Mapping[str, TraceRef],
             tkeys: Mapping[str, str], chunk: int, workers: int = 1) -> list[Batch]:
    """Consecutive rows of one workload, hardware point by hardware point, ``chunk`` each.

    With ``workers`` > 1 and at least two hardware points per worker, a batch holds
    whole hardware points (the rows of equal overrides: several targets of one core, e.g.
    its Xattn subsets, which share every program that uses no Xattn instruction), as many
    as fit in ``chunk`` rows and at least one: two workers so never simulate the same
    kernels at once. A batch names its trace by workload id and trace key: a worker's
    memo of loaded traces so never serves a trace extracted again since (a changed model
    config)."""
    by_w: dict[str, list[tuple[Point, Workload, str]]] = {}
    for item in pending:
        by_w.setdefault(item[1].id, []).append(item)
    out: list[Batch] = []
    for wid, items in by_w.items():
        items.sort(key=lambda it: (json.dumps(it[0].overrides, default=str), it[0].target))
        groups = [list(g) for _, g in itertools.groupby(items, key=lambda it: it[0].overrides)]
        if workers < 2 or len(groups) < 2 * workers:
            groups = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        batch: list[tuple[Point, Workload, str]] = []
        for g in groups:
            if batch and len(batch) + len(g) > chunk:
                out.append(_batch(wid, refs, tkeys, batch))
                batch = []
            batch += g
        if batch:
            out.append(_batch(wid, refs, tkeys, batch))
    return out


def _batch(wid: str, refs: Mapping[str, TraceRef], tkeys: Mapping[str, str],
           items: list[tuple[Point, Workload, str]]) -> Batch:
    return f"{wid}@{tkeys[wid]}", refs[wid], [(rid, p.target, list(p.overrides))
                                               for p, _, rid in items]


def auto_chunk(pending: int, workers: int) -> int:
    """Points per batch: about eight batches per worker (progress and little loss on a kill),
    at most 64 points (a part file per few seconds of work)."""
    return max(1, min(64, math.ceil(pending / max(1, workers * 8))))


def run(spec: str | Path | Mapping[str, Any] | Spec, out: str | Path | None = None,
        jobs: int | None = None, scheduler: str | None = None, chunk: int | None = None,
        progress: bool = True, force: bool = False, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """Run a sweep (see :mod:`codesign.sweep`); returns the results with derived metrics."""
    df, _ = run_with_info(spec, out, jobs, scheduler, chunk, progress, force, max_rows)
    return df


def run_with_info(spec: str | Path | Mapping[str, Any] | Spec, out: str | Path | None = None,
                  jobs: int | None = None, scheduler: str | None = None,
                  chunk: int | None = None, progress: bool = True, force: bool = False,
                  max_rows: int = MAX_ROWS) -> tuple[pd.DataFrame, RunInfo]:
    """Run a sweep into ``out`` (a temporary directory if None), resuming the rows already
    finished there; ``force`` lets a different spec run in a directory used before; a spec
    of more than ``max_rows`` rows is refused."""
    spec = load_spec(spec, max_rows)
    if scheduler is not None:
        check_scheduler(scheduler)
    if jobs is not None:
        check_jobs(jobs)
    if chunk is not None and chunk < 1:
        raise CodesignError(f"--chunk must be at least 1, got {chunk}")
    if out is None:
        with tempfile.TemporaryDirectory(prefix="codesign-sweep-") as tmp:
            return _run(spec, Path(tmp), jobs, scheduler, chunk, progress, force)
    return _run(spec, Path(out), jobs, scheduler, chunk, progress, force)


def _run(spec: Spec, out: Path, jobs: int | None, scheduler: str | None, chunk: int | None,
         progress: bool, force: bool) -> tuple[pd.DataFrame, RunInfo]:
    t0 = time.perf_counter()
    check_output_dir(out, "output")  # before tracing or timing anything
    out.mkdir(parents=True, exist_ok=True)
    with locked(out):  # one writer per directory
        return _run_locked(spec, out, jobs, scheduler, chunk, progress, force, t0)


def _run_locked(spec: Spec, out: Path, jobs: int | None, scheduler: str | None,
                chunk: int | None, progress: bool, force: bool, t0: float) \
        -> tuple[pd.DataFrame, RunInfo]:
    _claim(out, spec, force)
    # the cluster is reached before any trace is extracted: a bad address costs nothing
    client = _dask_client(scheduler) if scheduler else None
    try:
        keys, info = time_rows(spec, out, client, jobs, chunk, progress)
    finally:
        if client is not None:
            client.close()
    df = assemble(spec, out, keys)
    store.write_atomic(store.results_table(df, spec), out / store.RESULTS)
    info.seconds = time.perf_counter() - t0
    return df, info


def time_rows(spec: Spec, out: Path, client: Any = None, jobs: int | None = None,
              chunk: int | None = None, progress: bool = False, record_total: bool = True) \
        -> tuple[dict[str, store.RowKey], RunInfo]:
    """Time the rows of ``spec`` not yet finished under ``out`` (tracing each workload into
    ``out/traces`` once), here, in ``jobs`` processes or on ``client``'s Dask cluster; each
    finished batch is a part file at once. Returns every row's key (for :func:`assemble`)
    and what was done. ``codesign.explore`` calls it once per generation of trials.

    Local workers (:mod:`codesign.sweep.pool`) are started first when every row is to be
    timed (no part under ``out`` yet): they import while the rows are prepared here, and
    the rows' keys are computed while they time them."""
    local = 1 if client is not None else (jobs or os.cpu_count() or 1)
    modules = timing_modules(spec.targets) if local > 1 else ()
    if local > 1 and not store.part_files(out):
        pool.workers(local, len(spec.points) * len(spec.workloads), modules)
    paths = {w.id: _trace_paths(w, out) for w in spec.workloads}
    tkeys = {wid: trace_key(*p.values()) for wid, p in paths.items()}
    stored = store.stored_keys(out)
    # which rows are finished needs the keys; with none finished they can wait
    keys = row_keys(spec, tkeys) if stored else {}
    pending, info = _pending(spec, stored, keys)
    if record_total:
        _record_total(out, info.rows)
    if pending:
        n_workers = (len(client.scheduler_info().get("workers", {})) or 1) if client \
            else local
        refs = {w.id: _trace_ref(w, paths[w.id], client is not None) for w in spec.workloads}
        batches = _batches(pending, refs, tkeys, chunk or auto_chunk(len(pending), n_workers),
                           n_workers if chunk is None else 1)
        executor = pool.workers(local, len(batches), modules) if local > 1 else None
        _time_batches(spec, out, batches, tkeys, info, client, executor, progress,
                      meanwhile=lambda: keys.update(row_keys(spec, tkeys) if not keys else {}))
    if not keys:
        keys = row_keys(spec, tkeys)
    return keys, info


def _time_batches(spec: Spec, out: Path, batches: list[Batch], tkeys: Mapping[str, str],
                  info: RunInfo, client: Any, executor: cf.Executor | None, progress: bool,
                  meanwhile: Callable[[], Any] = lambda: None) -> None:
    """Time ``batches`` on ``client``'s cluster, in ``executor``'s local processes (then
    call ``meanwhile``) or here; each finished batch becomes a part file at once (its rows
    with their workload's trace key, ``tkeys``). A sweep that fails or is interrupted
    shuts the local pool down (the running batches finish first, the others are
    cancelled); one that finishes leaves it to the next sweep (:mod:`.pool`)."""
    sch = store.schema(spec)
    ident = row_records(spec)
    bar = _bar(sum(len(b[2]) for b in batches), info.resumed, progress)
    workers = []
    finished = False
    try:
        if client is not None:
            results = _on_dask(client, batches)
        elif executor is None:
            results = ((b, _result(functools.partial(run_batch, *b), b)) for b in batches)
        else:
            results = _on_processes(executor, batches)
        meanwhile()
        for batch, (metrics, winfo) in results:
            recs = [{**ident[rid], **m, "trace_key": tkeys[ident[rid]["workload_id"]]}
                    for rid, m in metrics]
            store.write_part(out, recs, sch)
            info.parts += 1
            info.computed += len(recs)
            workers.append(winfo)
            bar.update(len(batch[2]))
        finished = True
    finally:
        bar.close()
        info.workers = tuple(workers)
        if executor is not None and not finished:
            pool.discard(wait=True)


def _pending(spec: Spec, stored: Mapping[str, set[store.RowKey]],
             keys: Mapping[str, store.RowKey]) \
        -> tuple[list[tuple[Point, Workload, str]], RunInfo]:
    """The rows to time: those without a finished row (``stored``:
    :func:`store.stored_keys`) computed from the current config and trace (``keys``), and
    what that means for the run's counts."""
    rows = [(p, w, row_id(p, w)) for p, w in spec.rows()]
    pending = [r for r in rows if r[2] not in stored or keys[r[2]] not in stored[r[2]]]
    return pending, RunInfo(rows=len(rows), resumed=len(rows) - len(pending),
                            stale=sum(1 for r in pending if r[2] in stored))


def _claim(out: Path, spec: Spec, force: bool) -> None:
    """Record the spec in ``out``; a directory holding another spec is refused unless
    ``force``: its results.parquet would silently be replaced by this spec's."""
    if not spec.text:
        return
    path = out / "spec.toml"
    if path.exists() and path.read_text() != spec.text and not force:
        raise CodesignError(
            f"{str(out)!r} holds the results of a different spec ({path}); give a new "
            "output directory, or --force to run this spec there (its finished rows that "
            "match are reused)")
    if not path.exists() or path.read_text() != spec.text:
        text = spec.text
        write_atomically(path, lambda f: f.write(text.encode()))


def _record_total(out: Path, rows: int) -> None:
    """``DIR/sweep.json``: the sweep's row total, for reports of an unfinished sweep."""
    data = json.dumps({"rows": rows}).encode()
    path = out / store.SWEEP_INFO
    if not path.exists() or path.read_bytes() != data:
        write_atomically(path, lambda f: f.write(data))


def _bar(total: int, resumed: int, enabled: bool) -> Any:
    from tqdm import tqdm

    desc = f"sweep ({resumed} done before)" if resumed else "sweep"
    return tqdm(total=total, unit="pt", desc=desc, file=sys.stderr, disable=not enabled,
                dynamic_ncols=True, smoothing=0.1)


def _on_processes(executor: cf.Executor, batches: list[Batch]) \
        -> Iterator[tuple[Batch, tuple[list[Any], dict[str, Any]]]]:
    """Each batch's result as its worker finishes it (every batch is submitted now)."""
    futures = {executor.submit(run_batch, *b): b for b in batches}
    return ((futures[f], _result(f.result, futures[f])) for f in cf.as_completed(futures))


def _result(get: Callable[[], Any], batch: Batch) -> Any:
    try:
        return get()
    except USER_ERRORS as exc:
        _, _, pts = batch
        raise CodesignError(f"timing target {pts[0][1]} with {dict(pts[0][2])} "
                            f"(batch of {len(pts)}): {exc}") from None


SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "inproc")


def check_scheduler(address: str) -> None:
    """Refuse a malformed scheduler address, or one where nothing listens, at once: Dask
    itself would retry for its whole connect timeout (and only after tracing)."""
    scheme, sep, rest = address.partition("://")
    host, colon, port = rest.rpartition(":")
    bad_port = not (port.isdigit() and 0 < int(port) < 65536)
    if not sep or scheme not in SCHEDULER_SCHEMES or (
            scheme != "inproc" and (not colon or not host or bad_port)):
        raise CodesignError(
            f"--scheduler {address!r} is not a Dask scheduler address: expected "
            f"SCHEME://HOST:PORT with SCHEME one of {', '.join(SCHEDULER_SCHEMES[:-1])} "
            "(e.g. tcp://10.0.0.5:8786)")
    if scheme == "inproc":
        return
    import socket

    try:
        socket.create_connection((host.strip("[]"), int(port)),
                                 timeout=_connect_timeout()).close()
    except OSError as exc:
        raise CodesignError(f"cannot reach the Dask scheduler at {address!r}: "
                            f"{exc.strerror or exc}") from None


def _connect_timeout() -> float:
    """Dask's own connect timeout (distributed.comm.timeouts.connect, whose default is
    30 s before distributed is imported and registers it), in seconds."""
    try:
        import dask
        from dask.utils import parse_timedelta
    except ImportError:
        return 30.0
    value = dask.config.get("distributed.comm.timeouts.connect", default="30s")
    return float(parse_timedelta(value))


def _dask_client(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise CodesignError("--scheduler needs dask.distributed: pip install "
                            "'codesign[dask]'") from None
    try:
        return Client(address, timeout=_connect_timeout(), set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CodesignError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None


def _on_dask(client: Any, batches: list[Batch]) \
        -> Iterator[tuple[Batch, tuple[list[Any], dict[str, Any]]]]:
    from distributed import as_completed

    # Each trace travels to the workers once, then batches refer to it.
    shared = {}
    for wid, ref, _ in batches:
        if wid not in shared:
            # in a list: a dict (a generate workload's traces) travels as one object
            shared[wid] = client.scatter([ref], broadcast=True, hash=False)[0]
    futures = {client.submit(run_batch, b[0], shared[b[0]], b[2], pure=False): b
               for b in batches}
    try:
        with client.as_current():
            for fut in as_completed(list(futures)):
                yield futures[fut], _result(fut.result, futures[fut])
    finally:
        client.cancel(list(futures))


def assemble(spec: Spec, out: Path, keys: Mapping[str, store.RowKey] | None = None) \
        -> pd.DataFrame:
    """The spec's rows (identity from the spec, metrics from the parts) plus derived metrics.

    Rows not finished yet keep NaN metrics; rows of other specs sharing ``out`` are left out.
    With ``keys`` (:func:`row_keys`), a row computed from another config or trace counts
    as not finished.
    """
    ident = row_table(spec)
    cols = [f.name for f in store.metric_fields()]
    parts = store.read_parts(out, ["row_id", *cols])
    if keys is not None:
        current = [keys.get(rid) == (fp, tk) for rid, fp, tk in
                   zip(parts["row_id"], parts["fingerprint"], parts["trace_key"], strict=True)]
        parts = parts[current]
    parts = parts.drop_duplicates("row_id", keep="first")
    df = ident.merge(parts, on="row_id", how="left")
    for d in spec.derived:
        df[d.name] = _speedup(df, spec, d.baseline, d.metric, d.at)
    return df


def _speedup(df: pd.DataFrame, spec: Spec, baseline: str, metric: str, at: str) -> pd.Series:
    """``baseline[metric] / row[metric]``, per workload, at the same point or the preset."""
    if at == "point":
        keys = ["workload_id", "overrides"]
        base = df[(df["target"] == baseline) & ~df["reference"]]
    else:
        keys = ["workload_id"]
        base = df[(df["target"] == baseline) & (df["overrides"] == "{}")]
    base = base.drop_duplicates(keys)[[*keys, metric]].rename(columns={metric: "_base"})
    merged = df[[*keys, metric]].merge(base, on=keys, how="left")
    return (merged["_base"] / merged[metric]).astype(float).set_axis(df.index)
