"""What a report is made from: Results and sweep tables, their scenarios, roofs and costs.

- :func:`load` reads the files given to ``codesign report``: Result Parquet files written by
  ``codesign run -o`` and sweep outputs of ``codesign sweep`` (a Parquet file or dataset
  directory, one row per point x workload).
- :func:`scenario_key` / :func:`scenario_text` name what was compared (model, phase,
  batch, seq/context) for captions and for grouping Results that can be compared.
- :func:`roofs` finds a target's peak compute and bandwidth for the roofline plot.
- :func:`cost` evaluates a user's cost expression (``vector.dlen*cluster.cores``) over the
  columns of a table of design points.
"""

from __future__ import annotations

import ast
import functools
import json
import math
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from codesign.errors import CodesignError
from codesign.result import GENERATE_KEY, RESULT_KEY, GenerateResult, Result
from codesign.targets import Roofs, families, family_module

# ---- scenarios -------------------------------------------------------------------------

SCENARIO_FIELDS = ("phase", "batch", "seq", "context", "dtype", "weight_dtype", "routing")


def scenario_key(meta: dict[str, Any]) -> tuple[Any, ...]:
    """What must be equal for two Results to be compared: model and scenario fields."""
    s = meta.get("scenario", {})
    phase = s.get("phase")
    # prefill has no context, decode no seq: leave the irrelevant one out of the key
    fields = [f for f in SCENARIO_FIELDS if not (f == "context" and phase == "prefill")
              and not (f == "seq" and phase == "decode")]
    return (meta.get("model"), *(s.get(f) for f in fields))


def scenario_text(meta: dict[str, Any]) -> str:
    """``qwen3.5-9b, decode, batch 1, context 4096, bf16 weights`` for captions."""
    s = meta.get("scenario", {})
    parts = [str(meta.get("model", "?")), str(s.get("phase", "?")), f"batch {s.get('batch', '?')}"]
    if s.get("phase") == "prefill":
        parts.append(f"seq {s.get('seq', '?')}")
    else:
        parts.append(f"context {s.get('context', '?')}")
    if s.get("weight_dtype"):
        parts.append(f"{s['weight_dtype']} weights")
    if s.get("expert_weight_dtype"):
        parts.append(f"{s['expert_weight_dtype']} experts")
    if s.get("routing") and s.get("routing") != "balanced":
        parts.append(f"routing {s['routing']}")
    return ", ".join(parts)


def targets_text(results: Sequence[Result], baseline: str | None = None) -> str:
    names = [r.target + (" (baseline)" if r.target == baseline else "") for r in results]
    return ", ".join(names)


def group_by_scenario(results: Sequence[Result]) -> list[list[Result]]:
    """Results split into groups of one scenario each, in order of first appearance."""
    groups: dict[tuple[Any, ...], list[Result]] = {}
    for r in results:
        groups.setdefault(scenario_key(r.trace_meta), []).append(r)
    return list(groups.values())


def check_same_scenario(results: Sequence[Result]) -> None:
    keys = {scenario_key(r.trace_meta) for r in results}
    if len(keys) > 1:
        texts = sorted({scenario_text(r.trace_meta) for r in results})
        raise CodesignError("these results time different scenarios and cannot be compared: "
                            + " | ".join(texts))


def pick_baseline(results: Sequence[Result], baseline: str | None) -> Result:
    """The baseline Result: the one named ``baseline``, else the first."""
    if not results:
        raise CodesignError("no results to compare")
    if baseline is None:
        return results[0]
    for r in results:
        if r.target == baseline:
            return r
    raise CodesignError(f"baseline {baseline!r} is not among the results; "
                        f"valid: {', '.join(r.target for r in results)}")


# ---- loading ---------------------------------------------------------------------------

@dataclass
class Inputs:
    """What ``codesign report`` was given: Results and sweep tables."""

    results: list[Result] = field(default_factory=list)
    sweeps: list[pd.DataFrame] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    generations: list[GenerateResult] = field(default_factory=list)  # run --phase generate


def _file_kind(path: Path) -> str | None:
    """"result" (a Result file), "generate" (a GenerateResult file) or None."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception:  # not Parquet at all: the caller reports it
        return None
    return "result" if RESULT_KEY in meta else "generate" if GENERATE_KEY in meta else None


def _is_result_file(path: Path) -> bool:
    return _file_kind(path) is not None


def _add_file(out: Inputs, path: Path) -> None:
    if _file_kind(path) == "generate":
        out.generations.append(GenerateResult.load(path))
    else:
        out.results.append(Result.load(path))


def _read_sweep(path: Path) -> pd.DataFrame:
    import pyarrow.dataset as ds

    try:
        table = ds.dataset(str(path), format="parquet").to_table()
    except Exception as exc:
        raise CodesignError(f"{str(path)!r} is neither a codesign result nor a readable "
                            f"sweep table ({exc})") from None
    df = table.to_pandas()
    if "latency_s" not in df.columns:
        raise CodesignError(f"{str(path)!r} is a Parquet table without a latency_s column: "
                            "not a codesign result or sweep output")
    df.attrs["source"] = str(path)
    raw = (table.schema.metadata or {}).get(b"codesign.sweep")
    if raw:  # written by codesign.sweep.store.results_table: the spec's axes and question
        try:
            meta = json.loads(raw)
        except ValueError:
            meta = {}
        if isinstance(meta, dict):
            df.attrs["sweep"] = meta
            df.attrs["axes"] = list(meta.get("axes", []))
    return df


def _spec_rows(directory: Path) -> int | None:
    """How many rows the sweep in ``directory`` has: recorded in its ``sweep.json``, or
    (a directory written before that file existed) counted from ``spec.toml`` if it can be
    read there (paths in a spec are relative to where it was written, so it may not be)."""
    import json

    from codesign.errors import USER_ERRORS
    from codesign.sweep import load_spec
    from codesign.sweep.store import SWEEP_INFO

    try:
        rows = json.loads((directory / SWEEP_INFO).read_text())["rows"]
        if isinstance(rows, int) and rows >= 0:
            return rows
    except (OSError, ValueError, TypeError, KeyError):
        pass  # absent or damaged: count from the spec instead
    path = directory / "spec.toml"
    if not path.is_file():
        return None
    try:
        spec = load_spec(path)
    except USER_ERRORS:
        return None
    return len(spec.points) * len(spec.workloads)


def sweep_progress(directory: Path, df: pd.DataFrame, assembled: bool) -> str | None:
    """Why the table read from a sweep's ``directory`` is not the whole sweep: still being
    written, interrupted (parts but no results.parquet) or rows without results; None when
    it is whole."""
    from codesign.sweep.lock import holder

    done = int(df.drop_duplicates("row_id")["latency_s"].notna().sum()) \
        if "row_id" in df.columns else int(df["latency_s"].notna().sum())
    total = _spec_rows(directory)
    if total is None and assembled:
        total = int(df.drop_duplicates("row_id").shape[0]) if "row_id" in df.columns \
            else len(df)
    of = f"{done:,} of {total:,}" if total is not None else f"{done:,}"
    writer = holder(directory)
    if writer is not None:
        return f"the sweep in {str(directory)!r} is still running ({writer}): {of} rows " \
               "are finished; this report shows those"
    if not assembled:
        return (f"the sweep in {str(directory)!r} did not finish: {of} rows are done and it "
                "has no results.parquet (interrupted or failed); run the same `codesign "
                "sweep` command again to complete it")
    if total is not None and done < total:
        return f"the sweep in {str(directory)!r} is incomplete: {of} rows have results"
    return None


def normalize_sweep(df: pd.DataFrame) -> pd.DataFrame:
    """A sweep table as the figures use it: rows without results (an unfinished sweep)
    dropped, a boolean ``reference`` column (the preset rows of a derived speedup, with no
    axis values: kept for the figures against workload axes), a ``workload`` label per
    row."""
    attrs = dict(df.attrs)
    df = df[df["latency_s"].notna()].copy()
    df["reference"] = df["reference"].fillna(False).astype(bool) \
        if "reference" in df.columns else False
    if "workload" not in df.columns and {"model", "phase"} <= set(df.columns):
        df = df.copy()
        df["workload"] = [scenario_text({"model": r.get("model"), "scenario": r})
                          for r in df.to_dict("records")]
    df = df.reset_index(drop=True)
    df.attrs.update(attrs)
    return df


def load(paths: Iterable[str | Path]) -> Inputs:
    """Read Result files and sweep outputs: a sweep's output directory (its assembled
    ``results.parquet``, else its ``parts/`` dataset), a sweep table file, or a directory of
    Result files."""
    out = Inputs()
    for p in map(Path, paths):
        if not p.exists():
            raise CodesignError(f"{str(p)!r} does not exist; give Parquet files written by "
                                "`codesign run -o` or `codesign sweep -o`")
        out.sources.append(str(p))
        if p.is_dir():
            assembled = (p / "results.parquet").is_file()
            if assembled or (p / "parts").is_dir():
                df = _read_sweep(p / ("results.parquet" if assembled else "parts"))
                note = sweep_progress(p, df, assembled)
                df = normalize_sweep(df)
                if note:
                    df.attrs["incomplete"] = note
                out.sweeps.append(df)
            else:
                files = [f for f in sorted(p.rglob("*.parquet")) if _is_result_file(f)]
                if not files:
                    raise CodesignError(f"{str(p)!r} holds no codesign results (Result files "
                                        "or a sweep's results.parquet)")
                for f in files:
                    _add_file(out, f)
        elif _is_result_file(p):
            _add_file(out, p)
        else:
            out.sweeps.append(normalize_sweep(_read_sweep(p)))
    return out


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys: ``{"vector": {"vlen": 256}}`` -> ``{"vector.vlen": 256}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def results_table(results: Sequence[Result]) -> pd.DataFrame:
    """One row per Result: its summary and every config field by dotted path (for Pareto
    fronts and heatmaps of Results that were not written by a sweep)."""
    rows = []
    for r in results:
        s = r.summary()
        for key in ("seconds_by_kind", "energy_parts", "area_parts", "energy_by_kind"):
            s.pop(key, None)  # dicts: the report's energy section tabulates them
        rows.append({**flatten(r.config), **s, "workload": scenario_text(r.trace_meta)})
    return pd.DataFrame(rows)


def sweep_axes(df: pd.DataFrame) -> list[str]:
    """The axis columns of a sweep table: listed in ``df.attrs["axes"]`` or the Parquet
    metadata, else the config-path columns (dotted names) that take more than one value."""
    axes = df.attrs.get("axes")
    if axes:
        return [a for a in axes if a in df.columns]
    found = [c for c in df.columns if "." in str(c) and _varies(df[c])]
    if "target" in df.columns and df["target"].nunique() > 1 and not found:
        found = ["target"]
    return found


# Numeric workload fields a sweep crosses, in the order a figure prefers them as its x.
WORKLOAD_AXES = ("context", "seq", "prompt", "output", "batch")
WORKLOAD_UNITS = {"context": "tokens", "seq": "tokens", "prompt": "tokens",
                  "output": "tokens", "batch": "sequences"}
# Workload fields that are not numbers: a figure draws each value apart.
WORKLOAD_LABELS = ("model", "phase", "routing", "weight_dtype")


def derived_columns(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The sweep's derived quantities (its question: ``xattn_speedup``...), each
    ``{"name", "baseline", "metric", "at"}``: from the table's sweep metadata, else the
    numeric columns that are neither axes nor the sweep's own columns (baseline unknown)."""
    meta = df.attrs.get("sweep", {})
    if meta.get("derived") is not None:
        return [d for d in meta["derived"] if d.get("name") in df.columns]
    from codesign.sweep.spec import RESERVED, time_metrics
    from codesign.sweep.store import metric_fields

    known = {*RESERVED, *time_metrics(), *(f.name for f in metric_fields()), "row_id",
             "workload", "workload_id", "trace_key", *sweep_axes(df)}
    return [{"name": str(c), "baseline": None, "metric": "latency_s", "at": "point"}
            for c in df.columns if c not in known and "." not in str(c)
            and pd.api.types.is_float_dtype(df[c])]


def line_axis(df: pd.DataFrame) -> str | None:
    """The axis a sweep's line figures run along: a workload field that varies (context
    first: the usual question), else the first numeric config axis that varies."""
    for c in WORKLOAD_AXES:
        if c in df.columns and df[c].nunique() > 1:
            return c
    hw = df[~df["reference"]] if "reference" in df.columns else df
    return next((a for a in sweep_axes(hw) if pd.api.types.is_numeric_dtype(hw[a])
                 and _varies(hw[a])), None)


def _varies(col: pd.Series) -> bool:
    if col.dtype == object:  # lists (tuple-valued config fields) are not hashable
        col = col.map(repr)
    return col.nunique(dropna=True) > 1


def workload_column(df: pd.DataFrame) -> str | None:
    """The column naming the workload of each row, if the table has several."""
    for c in ("workload", "trace", "model"):
        if c in df.columns:
            return c
    return None


@functools.cache
def _units() -> dict[str, str]:
    """Config path -> unit, from the field declarations of every target family's config."""
    from codesign import config as C

    out: dict[str, str] = {}
    for fam in families():
        cls = fam.presets.config_cls
        out.update({r["path"]: r["unit"] for r in C.describe(cls()) if r["unit"]})
    return out


def axis_title(column: str) -> str:
    """``vector.vlen (bits)``: a column name with the unit its config field declares."""
    try:
        unit = WORKLOAD_UNITS.get(column) or _units().get(column, "")
    except Exception:  # a family's config cannot be built here: show the bare name
        unit = ""
    return f"{column} ({unit})" if unit else column


# ---- roofs -----------------------------------------------------------------------------

def _derived_roofs(ops: pd.DataFrame) -> Roofs:
    """Peaks recovered from each op's roofline bound max(flops / P, bytes / BW): the
    bandwidth is the largest bytes / bound (exact for any memory-bound op); an op whose
    bound exceeds bytes / BW is compute-bound and gives its P = flops / bound exactly."""
    ok = ops[(ops["roofline_seconds"] > 0)]
    if ok.empty:
        return Roofs(None, {}, "no op has a roofline bound")
    bw = float((ok["bytes"] / ok["roofline_seconds"]).max()) or None
    compute: dict[str, float] = {}
    if bw:
        cb = ok[ok["bytes"] / bw < ok["roofline_seconds"] * (1 - 1e-6)]
        for kind, g in cb.groupby("kind", sort=False):
            p = float((g["flops"] / g["roofline_seconds"]).max())
            if p > 0:
                compute[f"peak for {kind}"] = p
        # kinds held against the same peak share one roof line
        merged: dict[float, list[str]] = {}
        for label, p in compute.items():
            key = next((q for q in merged if math.isclose(q, p, rel_tol=1e-6)), p)
            merged.setdefault(key, []).append(label.removeprefix("peak for "))
        compute = {f"peak ({', '.join(v)})": k for k, v in merged.items()}
    return Roofs(bw, compute, "the ops' roofline bounds (roofline_seconds)")


def roofs(result: Result) -> Roofs:
    """The roofs of ``result``'s target: its family's ``roofs(config)`` where the family
    offers one (see :mod:`codesign.targets`), else recovered from the ops' roofline bounds."""
    fam = family_module(result.family) if result.family and result.config else None
    fn = getattr(fam, "roofs", None)
    if fn is not None:
        try:
            return _as_roofs(fn(result.config), result.family)
        except (CodesignError, TypeError, KeyError, ValueError, ImportError):
            pass  # a config this version cannot read: recover the roofs from the ops
    return _derived_roofs(result.ops)


def _as_roofs(value: Any, family: str) -> Roofs:
    """A family's answer: a Roofs, or the older ``(bandwidth B/s, {label: FLOP/s})``."""
    if isinstance(value, Roofs):
        return value
    bw, compute = value
    return Roofs(float(bw), {str(k): float(v) for k, v in compute.items()},
                 f"the {family} config")


# ---- cost expressions ------------------------------------------------------------------

# a name, not the exponent of a number such as 1e3 or 2.5e-3
_NAME = re.compile(r"(?<![\w.])[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_FUNCS = {"log2": np.log2, "log10": np.log10, "sqrt": np.sqrt, "min": np.minimum,
          "max": np.maximum}
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow}
AREA_COLUMNS = ("area_mm2", "area")
MAX_COST_CHARS = 500  # a cost is a short formula; a longer text is refused before parsing


def cost(df: pd.DataFrame, expr: str) -> pd.Series:
    """Evaluate ``expr`` over the columns of ``df``: names are column names (dotted config
    paths such as ``vector.vlen`` included); + - * / // **, numbers and log2, log10, sqrt,
    min, max are allowed. ``area`` means the area column when an area model filled one."""
    expr = expr.strip()
    if expr == "area":
        col = next((c for c in AREA_COLUMNS if c in df.columns), None)
        if col is None or df[col].isna().all():
            raise CodesignError("cost 'area': these results carry no area (no area model "
                                "exists for their targets); give an expression of config "
                                "paths instead, e.g. --cost 'vector.dlen*cluster.cores'")
        return df[col].astype(float)
    if len(expr) > MAX_COST_CHARS:
        raise CodesignError(f"cost expression of {len(expr)} characters: at most "
                            f"{MAX_COST_CHARS}")
    names: dict[str, str] = {}

    def sub(m: re.Match[str]) -> str:
        name = m.group(0)
        if name in _FUNCS:
            return name
        if name not in df.columns:
            numeric = [str(c) for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
            varying = [c for c in numeric if "." in c and _varies(df[c])]
            shown = list(dict.fromkeys(varying + numeric))
            more = f" (and {len(shown) - 12} more)" if len(shown) > 12 else ""
            raise CodesignError(f"cost expression {expr!r}: unknown column {name!r}; "
                                f"valid: {', '.join(shown[:12])}{more}")
        return names.setdefault(name, f"_c{len(names)}")

    try:
        tree = ast.parse(_NAME.sub(sub, expr), mode="eval")
    except SyntaxError:
        raise CodesignError(f"cost expression {expr!r} is not a valid expression") from None
    cols = {v: df[k].astype(float) for k, v in names.items()}

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return np.float64(node.value)
        if isinstance(node, ast.Name) and node.id in cols:
            return cols[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCS and not node.keywords):
            return _FUNCS[node.func.id](*(ev(a) for a in node.args))
        raise CodesignError(f"cost expression {expr!r}: only column names, numbers, "
                            "+ - * / // ** and log2, log10, sqrt, min, max are allowed")

    try:
        # numpy floats: an overflow is inf (refused below), never a huge Python integer
        with np.errstate(all="ignore"):
            value = ev(tree)
    except (OverflowError, ZeroDivisionError) as exc:
        raise CodesignError(f"cost expression {expr!r} cannot be evaluated: {exc}") from None
    if not isinstance(value, pd.Series):
        raise CodesignError(f"cost expression {expr!r} names no column")
    value = value.astype(float)
    inf = int(np.isinf(value).sum())
    if inf:
        raise CodesignError(f"cost expression {expr!r} is infinite for {inf} of {len(value)} "
                            "points (an overflow or a division by zero)")
    return value


def pareto_mask(cost_values: Sequence[float], latency: Sequence[float]) -> np.ndarray:
    """True for points no other point beats in both cost and latency (ties kept)."""
    c = np.asarray(cost_values, dtype=float)
    t = np.asarray(latency, dtype=float)
    keep = np.ones(len(c), dtype=bool)
    for i in range(len(c)):
        dominated = (c <= c[i]) & (t <= t[i]) & ((c < c[i]) | (t < t[i]))
        keep[i] = not dominated.any()
    return keep
