"""The results of a sweep on disk: a Parquet dataset of part files under ``DIR/parts``.

Each finished batch of points is written as its own part file, atomically: the rows go to
a hidden temporary file (``.part-….parquet.tmp``, which Parquet dataset readers skip), are
flushed to disk, and the file is renamed into place with ``os.replace``. A killed run so
loses at most the batches in flight, and a part file is either complete or absent. On a
rerun, a (point, workload) row is done when a part holds its ``row_id`` with the
``fingerprint`` of the point's resolved config and the ``trace_key`` of the workload's
trace as they are now: a changed preset, model config or trace makes the row stale, and
it is timed again.

Every part of a sweep has the same Arrow schema (:func:`schema`), so
``pandas.read_parquet(DIR / "parts")`` reads the dataset; ``DIR/results.parquet`` is the
assembled table with the derived metrics, written when a run finishes.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from codesign.outputs import write_atomically
from codesign.sweep.spec import Spec

PARTS = "parts"
RESULTS = "results.parquet"
SWEEP_INFO = "sweep.json"
TRACES = "traces"

_ARROW = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}


# Result.summary() / GenerateResult.summary() energy and area keys carried into sweep rows
ENERGY_METRICS = ("energy_j", "power_w", "j_per_token", "tokens_per_j", "area_mm2")


def _optional_float(v: Any) -> float | None:
    return None if v is None else float(v)


def kinds() -> tuple[str, ...]:
    from workloads.schema import KINDS

    return tuple(KINDS)


def metric_fields() -> list[pa.Field]:
    """The metric columns every row has (summary metrics and seconds by op kind)."""
    f64 = pa.float64()
    return [
        pa.field("latency_s", f64), pa.field("tokens_per_s", f64),
        pa.field("ttft_s", f64), pa.field("tpot_s", f64),
        pa.field("gflop", f64), pa.field("gbytes", f64),
        pa.field("memory_gb", f64), pa.field("capacity_gb", f64),
        pa.field("fits_memory", pa.bool_()),
        # energy and area (#17): null where the target models none (area: GPUs)
        *(pa.field(m, f64) for m in ENERGY_METRICS),
        *(pa.field(f"seconds_{k}", f64) for k in kinds()),
        pa.field("fingerprint", pa.string()), pa.field("family", pa.string()),
        pa.field("trace_key", pa.string()),
    ]


def schema(spec: Spec) -> pa.Schema:
    """Identity, target, one column per axis (its dotted path), workload, then metrics."""
    return pa.schema([
        pa.field("row_id", pa.string()), pa.field("workload_id", pa.string()),
        pa.field("target", pa.string()), pa.field("reference", pa.bool_()),
        *(pa.field(p, _ARROW[spec.axis_types[p]]) for p in spec.axis_paths),
        pa.field("overrides", pa.string()),
        pa.field("model", pa.string()), pa.field("phase", pa.string()),
        pa.field("batch", pa.int64()), pa.field("seq", pa.int64()),
        pa.field("context", pa.int64()), pa.field("prompt", pa.int64()),
        pa.field("output", pa.int64()), pa.field("routing", pa.string()),
        pa.field("weight_dtype", pa.string()),
        *metric_fields(),
    ])


def metrics(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A Result.summary() flattened to the metric columns; a GenerateResult.summary()
    likewise, its latency the request's end-to-end time, its tokens/s the output tokens'
    and its tpot_s the mean time per output token."""
    by_kind = summary.get("seconds_by_kind", {})
    if summary.get("phase") == "generate":
        summary = {**summary, "latency_s": summary["e2e_s"],
                   "tokens_per_s": summary["output_tokens_per_s"],
                   "tpot_s": summary["tpot_mean_s"]}
    out: dict[str, Any] = {
        "latency_s": float(summary["latency_s"]),
        "tokens_per_s": float(summary["tokens_per_s"]),
        "ttft_s": summary.get("ttft_s"), "tpot_s": summary.get("tpot_s"),
        "gflop": float(summary["gflop"]), "gbytes": float(summary["gbytes"]),
        "memory_gb": summary.get("memory_gb"), "capacity_gb": summary.get("capacity_gb"),
        "fits_memory": summary.get("fits_memory"),
        **{m: _optional_float(summary.get(m)) for m in ENERGY_METRICS},
        "fingerprint": str(summary.get("fingerprint", "")),
        "family": str(summary.get("family", "")),
    }
    for k in kinds():
        out[f"seconds_{k}"] = float(by_kind.get(k, 0.0))
    return out


def parts_dir(out: Path) -> Path:
    return Path(out) / PARTS


def part_files(out: Path) -> list[Path]:
    """Finished part files (temporary files of interrupted writes are not listed)."""
    d = parts_dir(out)
    return sorted(d.glob("part-*.parquet")) if d.is_dir() else []


# What a finished row was computed from: its config fingerprint and its trace's key.
RowKey = tuple[str, str]
KEY_COLUMNS = ("row_id", "fingerprint", "trace_key")


def stored_keys(out: Path) -> dict[str, set[RowKey]]:
    """For each row id written under ``out``, the keys it was computed with. An unreadable
    part, or one written before rows carried a trace key, is reported and skipped (its rows
    are simply computed again)."""
    stored: dict[str, set[RowKey]] = {}
    for p in part_files(out):
        try:
            cols = pq.read_table(p, columns=list(KEY_COLUMNS)).to_pydict()
        except (pa.ArrowInvalid, OSError, KeyError) as exc:
            print(f"codesign sweep: warning: ignoring unreadable part {p} ({exc})",
                  file=sys.stderr)
            continue
        for rid, fp, tk in zip(*(cols[c] for c in KEY_COLUMNS), strict=True):
            stored.setdefault(rid, set()).add((fp, tk))
    return stored


SWEEP_META = b"codesign.sweep"


def sweep_meta(spec: Spec) -> dict[str, Any]:
    """What a reader of results.parquet needs to know about its columns: the spec's name
    and question, its axes (config paths) and its derived quantities."""
    return {"name": spec.name, "description": spec.description,
            "axes": spec.axis_paths, "targets": spec.targets,
            "derived": [{"name": d.name, "baseline": d.baseline, "metric": d.metric,
                         "at": d.at} for d in spec.derived]}


def results_table(df: pd.DataFrame, spec: Spec) -> pa.Table:
    """The assembled results with :func:`sweep_meta` in the Parquet schema metadata."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    return table.replace_schema_metadata({**(table.schema.metadata or {}),
                                          SWEEP_META: json.dumps(sweep_meta(spec)).encode()})


def write_atomic(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` so that a reader sees the whole file or none."""
    return write_atomically(path, lambda f: pq.write_table(table, f))


def write_part(out: Path, rows: Sequence[Mapping[str, Any]], sch: pa.Schema) -> Path:
    """One finished batch as its own part file."""
    table = pa.Table.from_pylist([dict(r) for r in rows], schema=sch)
    name = f"part-{uuid.uuid4().hex}.parquet"
    return write_atomic(table, parts_dir(out) / name)


def read_parts(out: Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Every finished row under ``out``; a row id recomputed after a change appears once
    per computation (tell them apart by ``fingerprint`` and ``trace_key``). A column that a
    part written by an older version lacks reads as missing (NaN/None) for its rows."""
    frames = []
    for p in part_files(out):
        try:
            have = set(pq.read_schema(p).names)
            wanted = list(columns) if columns else pq.read_schema(p).names
            frame = pq.read_table(p, columns=[c for c in wanted if c in have]).to_pandas()
        except (pa.ArrowInvalid, OSError, KeyError):
            continue
        frames.append(frame.reindex(columns=wanted))
    if not frames:
        return pd.DataFrame(columns=list(columns) if columns else ["row_id"])
    return pd.concat(frames, ignore_index=True)
