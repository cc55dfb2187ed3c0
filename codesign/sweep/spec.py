"""Sweep specs: a TOML file that names workloads, a target, axes and derived metrics.

A spec is read with the standard library's ``tomllib`` and validated completely before any
work starts: every error names the spec line (``spec.toml:12: ...``) and the valid choices,
and reaches the user as one line (a :class:`~codesign.errors.CodesignError`).

Example (``experiments/sweep_vlen_dlen.toml`` is a real one)::

    name = "xattn-vlen-dlen"
    description = "Xattn speedup for qwen3.5-9b decode as VLEN and DLEN change"

    [workloads]                 # lists cross; or [[workloads]] tables, each crossed alone
    model = "qwen3.5-9b"        # a name from `codesign models`, or a config.json path
    phase = "decode"            # prefill crosses with `seq`, decode with `context`,
                                # generate with `prompt` and `output` (a whole request)
    batch = 1
    context = [4096, 32768]     # or a range: {start = 1024, stop = 131072, factor = 2}
    # trace = "saved.parquet"   # instead of model/phase/...: a trace saved by `codesign trace`

    [axes]                      # the grid: every combination of every axis
    target = ["c950-like", "c950-like+xattn"]      # the target axis (else top-level target)
    "vector.vlen" = [256, 512, 1024]               # a dotted config path and its values
    "vector.dlen" = {start = 128, stop = 512, factor = 2}     # inclusive range (or step =)
    "dram.bandwidth_gbps" = {min = 25.6, max = 204.8, log = true}   # sampled: see below

    [set]                       # fixed overrides applied to every point
    "cluster.cores" = 4

    [sampling]                  # optional: method = "grid" (default), "random" or "lhs"
    method = "lhs"              # random and Latin-hypercube sample the non-target axes
    samples = 40                # (lists: one of the values); every sample is timed on
                                # every target of the target axis; {min, max} needs these
    seed = 0
    skip_invalid = true         # drop combinations a config rejects (e.g. DLEN > VLEN)

    [derived.xattn_speedup]     # a column: baseline metric / this row's metric
    speedup_over = "c950-like"  # per workload, against the baseline target ...
    at = "point"                # ... at the same hardware point ("point"), or its
                                # preset without overrides ("preset"); metric = "latency_s"

Relative paths (models, traces) are relative to the spec file, never the current directory.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign import config as C
from codesign import errors
from codesign import targets as T
from codesign.errors import CodesignError

TOP_KEYS = ("name", "description", "target", "workloads", "axes", "set", "sampling", "derived")
WORKLOAD_KEYS = ("model", "trace", "phase", "batch", "seq", "context", "prompt", "output",
                 "routing", "weight_dtype")
# What each phase crosses with: a prefill's prompt tokens, a decode step's KV-cache tokens,
# a whole request's prompt and output tokens (codesign.generation).
PHASE_LENGTHS = {"prefill": ("seq",), "decode": ("context",), "generate": ("prompt", "output")}
SAMPLING_KEYS = ("method", "samples", "seed", "skip_invalid")
METHODS = ("grid", "random", "lhs")
DERIVED_KEYS = ("speedup_over", "metric", "at")
AT = ("point", "preset")
RANGE_KEYS = (("start", "stop", "step"), ("start", "stop", "factor"), ("min", "max", "log"))
TARGET_AXIS = "target"
# At most this many rows (points x workloads) per sweep unless the caller raises the cap
# (`codesign sweep --max-rows`): each row is a simulation (about 0.05 s on a GPU target to
# seconds on a RISC-V one when its kernels are not memoized), so 10,000 rows are already
# hours of CPU time; a larger design space is better sampled ([sampling] method = "lhs").
# The size is computed before any point is built, so an oversized spec is refused at once.
MAX_ROWS = 10_000
# Result columns a derived metric may not be named after (see codesign.sweep.store.schema).
RESERVED = ("row_id", "workload_id", "target", "reference", "overrides", "model", "phase",
            "batch", "seq", "context", "prompt", "output", "routing", "weight_dtype",
            "tokens_per_s", "gflop", "gbytes", "fingerprint", "family", "power_w",
            "tokens_per_j", "area_mm2", "memory_gb", "capacity_gb", "fits_memory")


def time_metrics() -> tuple[str, ...]:
    """Metrics a derived ratio may divide: seconds and joules, where less is better (a
    derived ``j_per_token`` over a baseline is the energy saving)."""
    from workloads.schema import KINDS

    return ("latency_s", "ttft_s", "tpot_s", "energy_j", "j_per_token",
            *(f"seconds_{k}" for k in KINDS))


# ---- where each key is in the TOML text ------------------------------------------------
_KEY = r'(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def _code(text: str) -> str:
    """A TOML line fragment with its strings emptied and its comment cut."""
    return _STRING.sub('""', text).split("#", 1)[0]


def _split_key(dotted: str) -> list[str]:
    parts = re.findall(_KEY, dotted)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Map each key path of a TOML text to its 1-based line (``("axes", "vector.vlen")``).

    Array-of-tables entries get their index: ``("workloads", 0, "model")``. Keys inside
    inline tables and multi-line arrays are not listed; :meth:`Spec.line` falls back to the
    nearest listed parent.
    """
    lines: dict[tuple[Any, ...], int] = {}
    table: tuple[Any, ...] = ()
    counts: dict[tuple[Any, ...], int] = {}
    depth = 0  # open brackets of a multi-line value
    for no, raw in enumerate(text.splitlines(), start=1):
        # strings emptied, then the comment cut: what is left is keys and brackets
        line = _code(raw)
        if depth == 0:
            h = _HEADER.match(raw)
            if h:
                path = tuple(_split_key(h.group(2)))
                if h.group(1) == "[[":
                    i = counts.get(path, 0)
                    counts[path] = i + 1
                    table = (*path, i)
                else:
                    table = path
                lines.setdefault(table, no)
                lines.setdefault(path, no)
                continue
            a = _ASSIGN.match(raw)
            if a:
                lines.setdefault((*table, *_split_key(a.group(1))), no)
                line = _code(raw[a.end():])
        depth = max(0, depth + line.count("[") + line.count("{")
                    - line.count("]") - line.count("}"))
    return lines


# ---- the parsed spec --------------------------------------------------------------------
@dataclass(frozen=True)
class Axis:
    """One swept config path: listed ``values``, or a continuous [low, high] to sample."""

    path: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    @property
    def continuous(self) -> bool:
        return not self.values


@dataclass(frozen=True)
class Workload:
    """One traced scenario: a model (name or config path) or a saved trace file."""

    id: str
    label: str
    model: str | None = None
    trace: str | None = None
    phase: str = "decode"
    batch: int = 1
    seq: int = 0  # prefill prompt tokens (0 otherwise)
    context: int = 0  # decode KV-cache tokens (0 otherwise)
    routing: str = "balanced"
    weight_dtype: str = "release"  # workloads.schema.RELEASE_FORMAT: as released
    prompt: int = 0  # generate: prompt tokens (0 otherwise)
    output: int = 0  # generate: output tokens per sequence (0 otherwise)

    def trace_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the one trace of a prefill or decode workload."""
        length = {"seq": self.seq} if self.phase == "prefill" else {"context": self.context}
        return dict(phase=self.phase, batch=self.batch, routing=self.routing,
                    weight_dtype=self.weight_dtype, **length)

    def traces(self) -> dict[str, dict[str, Any]]:
        """Every trace the workload needs, by name: its one trace (named ""), or for a
        generate workload the prefill and each decode context the request may time
        (:func:`codesign.generation.candidate_contexts`)."""
        if self.phase != "generate":
            return {"": self.trace_kwargs()}
        from codesign.generation import candidate_contexts

        common = dict(batch=self.batch, routing=self.routing, weight_dtype=self.weight_dtype)
        out = {"prefill": dict(phase="prefill", seq=self.prompt, **common)}
        if self.output > 1:
            for c in candidate_contexts(self.prompt, self.prompt + self.output - 2):
                out[f"decode-{c}"] = dict(phase="decode", context=c, **common)
        return out


@dataclass(frozen=True)
class Point:
    """A target with its overrides; ``reference`` marks a baseline preset (no axes)."""

    target: str
    overrides: tuple[tuple[str, Any], ...]
    reference: bool = False

    def key(self) -> str:
        return json.dumps([self.target, [list(kv) for kv in self.overrides]], default=str)


@dataclass(frozen=True)
class Derived:
    """A derived column: ``baseline[metric] / row[metric]`` per workload."""

    name: str
    baseline: str
    metric: str = "latency_s"
    at: str = "point"


@dataclass
class Spec:
    """A validated sweep: workloads x points, ready to run."""

    name: str
    description: str
    source: str
    text: str
    workloads: list[Workload]
    targets: list[str]
    axes: list[Axis]
    fixed: dict[str, Any]
    method: str
    samples: int
    seed: int
    derived: list[Derived]
    points: list[Point] = field(default_factory=list)
    skipped: int = 0  # invalid combinations dropped (skip_invalid)
    axis_types: dict[str, str] = field(default_factory=dict)  # path -> int/float/bool/str
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict, repr=False)

    @property
    def axis_paths(self) -> list[str]:
        return [a.path for a in self.axes]

    def rows(self) -> list[tuple[Point, Workload]]:
        """Every (point, workload) pair the sweep times."""
        return [(p, w) for w in self.workloads for p in self.points]


def row_id(point: Point, workload: Workload) -> str:
    """A content hash of (target, overrides, workload): stable across runs and spec edits."""
    blob = json.dumps([point.target, [list(kv) for kv in point.overrides], workload.id],
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class _Ctx:
    """Error reporting with spec line numbers, and the cap on the sweep's size."""

    def __init__(self, source: str, lines: dict[tuple[Any, ...], int],
                 max_rows: int = MAX_ROWS) -> None:
        self.source = source
        self.lines = lines
        self.max_rows = max_rows

    def check_size(self, path: Sequence[Any], rows: int, what: str,
                   sampled: bool = False) -> None:
        """Refuse a sweep of more than ``max_rows`` rows, before it is built."""
        if rows > self.max_rows:
            fewer = "take fewer samples" if sampled else \
                "sample the space ([sampling] method = \"lhs\", samples = N)"
            raise self.error(path, f"the sweep has {rows:,} rows ({what}), more than the cap "
                             f"of {self.max_rows:,}: {fewer}, or raise the cap "
                             "(--max-rows N)")

    def line(self, *path: Any) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None

    def error(self, path: Sequence[Any], message: str, more: Sequence[Sequence[Any]] = ()) \
            -> CodesignError:
        nums = sorted({n for n in (self.line(*q) for q in (path, *more)) if n is not None})
        where = f"{self.source}:{','.join(map(str, nums))}" if nums else self.source
        label = ".".join(_quote(str(p)) for p in path if not isinstance(p, int))
        return CodesignError(f"{where}: {label}: {message}" if label else f"{where}: {message}")


def _quote(key: str) -> str:
    return f'"{key}"' if "." in key else key


def _check_keys(ctx: _Ctx, path: tuple[Any, ...], table: Any, valid: Sequence[str]) -> None:
    if not isinstance(table, Mapping):
        raise ctx.error(path, f"expected a table, got {table!r}")
    for k in table:
        if k not in valid:
            raise ctx.error((*path, k), f"unknown key {k!r}; valid: {', '.join(valid)}")


# ---- loading ----------------------------------------------------------------------------
def load_spec(spec: str | Path | Mapping[str, Any] | Spec, max_rows: int = MAX_ROWS) -> Spec:
    """Read and validate a spec from a TOML path or an already-parsed mapping; a spec of
    more than ``max_rows`` rows is refused before any point is built."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, Mapping):
        return parse_spec(spec, source="spec", base_dir=Path.cwd(), max_rows=max_rows)
    path = Path(spec)
    data, text = read_toml(path, "sweep spec")
    return parse_spec(data, source=str(path), base_dir=path.resolve().parent, text=text,
                      max_rows=max_rows)


def read_toml(path: Path, what: str) -> tuple[dict[str, Any], str]:
    """A spec file's parsed TOML and its text (for line numbers); one line if it is
    missing or not TOML."""
    if not path.is_file():
        raise CodesignError(f"{what} {str(path)!r} does not exist")
    text = path.read_text()
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise CodesignError(f"{path}: not valid TOML: {exc}") from None


def parse_spec(data: Mapping[str, Any], source: str, base_dir: Path, text: str = "",
               max_rows: int = MAX_ROWS, build_points: bool = True) -> Spec:
    """Validate a parsed spec; ``text`` (the TOML) lets errors name line numbers.
    ``build_points=False`` validates the space only (``codesign.sweep.explore`` proposes the
    points itself)."""
    if max_rows < 1:
        raise CodesignError(f"--max-rows must be at least 1, got {max_rows}")
    ctx = _Ctx(source, key_lines(text) if text else {}, max_rows)
    _check_keys(ctx, (), data, TOP_KEYS)
    name = _string(ctx, ("name",), data.get("name", Path(source).stem))
    description = _string(ctx, ("description",), data.get("description", ""))

    workloads = _workloads(ctx, data.get("workloads"), base_dir)
    axes_raw = data.get("axes", {})
    _check_table(ctx, ("axes",), axes_raw)
    target_names = _targets(ctx, data, axes_raw)
    sampling = data.get("sampling", {})
    _check_keys(ctx, ("sampling",), sampling, SAMPLING_KEYS)
    method = sampling.get("method", "grid")
    if method not in METHODS:
        raise ctx.error(("sampling", "method"),
                        f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    samples = _int(ctx, ("sampling", "samples"), sampling.get("samples", 0), minimum=0)
    if method != "grid" and samples < 1:
        raise ctx.error(("sampling", "samples") if "samples" in sampling else ("sampling",),
                        f"method {method!r} needs samples = N (N >= 1)")
    if method == "grid" and "samples" in sampling:
        raise ctx.error(("sampling", "samples"), "samples applies to method \"random\" or "
                        "\"lhs\"; a grid takes every combination")
    seed = _int(ctx, ("sampling", "seed"), sampling.get("seed", 0), minimum=0)
    skip_invalid = sampling.get("skip_invalid", False)
    if not isinstance(skip_invalid, bool):
        raise ctx.error(("sampling", "skip_invalid"), f"expected true or false, "
                        f"got {skip_invalid!r}")

    # What a config field at each path is: checked against every target of the sweep.
    resolved = {t: _resolve(ctx, t, {}, ("axes", TARGET_AXIS)
                            if TARGET_AXIS in axes_raw else ("target",)) for t in target_names}
    fixed_raw = data.get("set", {})
    _check_table(ctx, ("set",), fixed_raw)
    fixed = {p: _value(ctx, ("set", p), resolved, p, v) for p, v in fixed_raw.items()}
    axes: list[Axis] = []
    for p, raw in axes_raw.items():
        if p == TARGET_AXIS:
            continue
        if p in fixed:
            raise ctx.error(("axes", p), "is also fixed in [set]; give it in one place",
                            more=[("set", p)])
        axes.append(_axis(ctx, p, raw, resolved, method))
    axis_types = {a.path: C.type_name(C.field_type(next(iter(resolved.values())).config, a.path))
                  for a in axes}
    derived = _derived(ctx, data.get("derived", {}), target_names, axes_raw)

    spec = Spec(name=name, description=description, source=source, text=text,
                workloads=workloads, targets=target_names, axes=axes, fixed=fixed,
                method=method, samples=samples, seed=seed, derived=derived,
                axis_types=axis_types, lines=ctx.lines)
    hardware = samples if method != "grid" else math.prod(len(a.values) for a in axes)
    points = hardware * len(target_names)
    ctx.check_size(("sampling", "samples") if method != "grid" else ("axes",),
                   points * len(workloads), f"{points:,} points x {len(workloads):,} "
                   f"workload{'s' if len(workloads) != 1 else ''}", sampled=method != "grid")
    if not build_points:
        return spec
    spec.points, spec.skipped = _points(ctx, spec, skip_invalid)
    if not spec.points:
        raise ctx.error(("axes",), "every combination was invalid: no point to run")
    return spec


def _check_table(ctx: _Ctx, path: tuple[Any, ...], table: Any) -> None:
    if not isinstance(table, Mapping):
        raise ctx.error(path, f"expected a table, got {table!r}")


def _string(ctx: _Ctx, path: tuple[Any, ...], v: Any) -> str:
    if not isinstance(v, str):
        raise ctx.error(path, f"expected a string, got {v!r}")
    return v


def _int(ctx: _Ctx, path: tuple[Any, ...], v: Any, minimum: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise ctx.error(path, f"expected an integer >= {minimum}, got {v!r}")
    return v


def _targets(ctx: _Ctx, data: Mapping[str, Any], axes: Mapping[str, Any]) -> list[str]:
    if TARGET_AXIS in axes:
        if "target" in data:
            raise ctx.error(("axes", TARGET_AXIS), "the target is given twice: as the "
                            "top-level `target` and as this axis; keep one",
                            more=[("target",)])
        raw = axes[TARGET_AXIS]
        path: tuple[Any, ...] = ("axes", TARGET_AXIS)
        if not isinstance(raw, list):
            raise ctx.error(path, f"expected a list of target names, got {raw!r}")
        if not raw:
            raise ctx.error(path, f"empty axis: list at least one target; valid: "
                            f"{', '.join(T.names())}")
    elif "target" in data:
        path, raw = ("target",), [data["target"]]
    else:
        raise ctx.error((), "no target: set `target = NAME` or an axis `target = [...]` "
                        f"under [axes]; valid: {', '.join(T.names())}")
    for t in raw:
        if not isinstance(t, str):
            raise ctx.error(path, f"expected a target name, got {t!r}")
    if len(set(raw)) != len(raw):
        raise ctx.error(path, "a target is listed twice")
    return list(raw)


def _resolve(ctx: _Ctx, target: str, overrides: Mapping[str, Any],
             path: tuple[Any, ...]) -> Any:
    try:
        return T.resolve(target, overrides)
    except errors.USER_ERRORS as exc:
        raise ctx.error(path, str(exc)) from None


def _value(ctx: _Ctx, where: tuple[Any, ...], resolved: Mapping[str, Any], path: str,
           value: Any) -> Any:
    """Check ``value`` fits the field at ``path`` of every target's config; returns it."""
    for name, tgt in resolved.items():
        typ = C.field_type(tgt.config, path)
        if typ is None:
            valid = ", ".join(p for p, _, _ in C.paths(tgt.config))
            raise ctx.error(where, f"unknown config path {path!r} for target {name!r}; "
                            f"valid: {valid}")
        try:
            C.coerce(value, typ, path)  # ranges and cross-field checks: per point
        except CodesignError as exc:
            raise ctx.error(where, f"{exc} (target {name!r})") from None
    return value


def _range_values(ctx: _Ctx, where: tuple[Any, ...], raw: Mapping[str, Any]) -> list[Any]:
    start, stop = raw["start"], raw["stop"]
    for k in ("start", "stop", "step", "factor"):
        v = raw.get(k)
        if k in raw and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ctx.error((*where, k), f"expected a number, got {v!r}")
    if start > stop:
        raise ctx.error(where, f"empty axis: start {start} > stop {stop}")
    ints = all(isinstance(raw[k], int) for k in raw)
    out: list[Any] = []
    if "step" in raw:
        step = raw["step"]
        if step <= 0:
            raise ctx.error((*where, "step"), f"step must be > 0, got {step}")
        n = math.floor((stop - start) / step + 1e-9) + 1
        out = [start + i * step for i in range(n)]
    else:
        factor = raw["factor"]
        if factor <= 1:
            raise ctx.error((*where, "factor"), f"factor must be > 1, got {factor}")
        v = start
        if v <= 0:
            raise ctx.error((*where, "start"), f"a geometric range starts above 0, got {v}")
        while v <= stop * (1 + 1e-9):
            out.append(v)
            v = v * factor
    if len(out) > 100_000:
        raise ctx.error(where, f"range has {len(out)} values; at most 100000")
    return [int(x) for x in out] if ints else [float(x) for x in out]


def _values(ctx: _Ctx, where: tuple[Any, ...], raw: Any, allow_continuous: bool) \
        -> tuple[list[Any], tuple[float, float, bool] | None]:
    """An axis or workload list: (values, None), or ([], (low, high, log)) if continuous."""
    if isinstance(raw, list):
        if not raw:
            raise ctx.error(where, "empty axis: list at least one value")
        return raw, None
    if isinstance(raw, Mapping):
        keys = set(raw)
        for shape in RANGE_KEYS:
            required = set(shape[:2]) | ({shape[2]} if shape[2] != "log" else set())
            if required <= keys <= set(shape):
                break
        else:
            shapes = "; ".join("{" + ", ".join(s) + "}" for s in RANGE_KEYS)
            raise ctx.error(where, f"a range table takes one of: {shapes}; got "
                            f"{{{', '.join(raw)}}}")
        if "min" not in raw:
            return _range_values(ctx, where, raw), None
        lo, hi, log = raw["min"], raw["max"], raw.get("log", False)
        if not allow_continuous:
            raise ctx.error(where, "a {min, max} range is sampled: set [sampling] method = "
                            "\"random\" or \"lhs\", or give a list or {start, stop, step}")
        for k, v in (("min", lo), ("max", hi)):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ctx.error((*where, k), f"expected a number, got {v!r}")
        if not isinstance(log, bool):
            raise ctx.error((*where, "log"), f"expected true or false, got {log!r}")
        if lo > hi or (log and lo <= 0):
            raise ctx.error(where, f"empty axis: need 0 < min <= max for log, min <= max "
                            f"otherwise; got min {lo}, max {hi}")
        return [], (float(lo), float(hi), log)
    raise ctx.error(where, "an axis takes a list of values or a range table "
                    "({start, stop, step}, {start, stop, factor}, {min, max}); "
                    f"got {raw!r} (fixed values go under [set])")


def _axis(ctx: _Ctx, path: str, raw: Any, resolved: Mapping[str, Any], method: str) -> Axis:
    where = ("axes", path)
    values, cont = _values(ctx, where, raw, allow_continuous=method != "grid")
    if len(set(map(repr, values))) != len(values):
        raise ctx.error(where, "a value is listed twice")
    if cont is None:
        for v in values:
            _value(ctx, where, resolved, path, v)
        return Axis(path=path, values=tuple(values))
    lo, hi, log = cont
    cfg = next(iter(resolved.values())).config
    integer = C.type_name(C.field_type(cfg, path)) == "int" if C.field_type(cfg, path) else False
    for v in (lo, hi):
        _value(ctx, where, resolved, path, round(v) if integer else v)
    if C.type_name(C.field_type(cfg, path)) in ("bool", "str"):
        raise ctx.error(where, f"{path!r} is not numeric: list its values instead")
    return Axis(path=path, low=lo, high=hi, log=log, integer=integer)


def _workloads(ctx: _Ctx, raw: Any, base_dir: Path) -> list[Workload]:
    if raw is None:
        raise ctx.error((), "no [workloads]: name a model (model = \"qwen3.5-9b\") or a saved "
                        "trace (trace = \"decode.parquet\")")
    tables = [(("workloads",), raw)] if isinstance(raw, Mapping) else \
        [(("workloads", i), t) for i, t in enumerate(raw)] if isinstance(raw, list) else None
    if not tables:
        raise ctx.error(("workloads",), "expected a table or an array of tables [[workloads]]")
    out: dict[str, Workload] = {}
    for where, table in tables:
        for w in _workload_table(ctx, where, table, base_dir):
            out.setdefault(w.id, w)
    return list(out.values())


def _listed(ctx: _Ctx, where: tuple[Any, ...], table: Mapping[str, Any], key: str,
            default: Any) -> list[Any]:
    if key not in table:
        return [default]
    v = table[key]
    if isinstance(v, (list, Mapping)):
        return _values(ctx, (*where, key), v, allow_continuous=False)[0]
    return [v]


def _workload_table(
        ctx: _Ctx, where: tuple[Any, ...], table: Any, base_dir: Path) -> list[Workload]:
    _check_keys(ctx, where, table, WORKLOAD_KEYS)
    if ("model" in table) == ("trace" in table):
        raise ctx.error(where, "give either model = ... (traced for the sweep) or trace = ... "
                        "(a file saved by `codesign trace`)")
    if "trace" in table:
        return _saved_trace_workloads(ctx, where, table, base_dir)
    model_ids = _model_ids(ctx, where, _listed(ctx, where, table, "model", None), base_dir)
    phases = _phases(ctx, where, table)
    ints = _lengths(ctx, where, table)
    routings = _listed(ctx, where, table, "routing", "balanced")
    for r in routings:
        _check_routing(ctx, (*where, "routing"), r)
    dtypes = _listed(ctx, where, table, "weight_dtype", "release")
    for d in dtypes:
        _check_weight_dtype(ctx, (*where, "weight_dtype"), d)
    per_phase = {ph: list(itertools.product(*(ints[k] for k in PHASE_LENGTHS[ph])))
                 for ph in phases}
    ctx.check_size(where, len(model_ids) * len(ints["batch"]) * len(routings) * len(dtypes)
                   * sum(len(v) for v in per_phase.values()),
                   "workloads alone, before any point")
    out = []
    for m, ph, b, r, d in itertools.product(model_ids, phases, ints["batch"], routings, dtypes):
        full, content = model_ids[m]
        for lengths in per_phase[ph]:
            n = dict(zip(PHASE_LENGTHS[ph], lengths, strict=True))
            if ph == "generate":
                _check_request_context(ctx, where, full, n["prompt"] + n["output"])
            key = [content, ph, b or 1, n.get("seq", 0), n.get("context", 0), r, d]
            if ph == "generate":  # (prefill and decode ids are those of earlier versions)
                key += [n["prompt"], n["output"]]
            wid = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:20]
            out.append(Workload(id=f"model-{wid}", label=m, model=full, phase=ph,
                                batch=b or 1, seq=n.get("seq", 0), context=n.get("context", 0),
                                routing=r, weight_dtype=d, prompt=n.get("prompt", 0),
                                output=n.get("output", 0)))
    return out


def _saved_trace_workloads(ctx: _Ctx, where: tuple[Any, ...], table: Any, base_dir: Path
                           ) -> list[Workload]:
    """Workloads of ``trace = ...``: each file's scenario as it was saved."""
    from workloads.errors import WorkloadError
    from workloads.schema import Trace

    extra = [k for k in table if k != "trace"]
    if extra:
        raise ctx.error((*where, extra[0]), f"{extra[0]!r} does not apply to a saved "
                        "trace: its scenario is in the file")
    out = []
    for t in _listed(ctx, where, table, "trace", None):
        if not isinstance(t, str):
            raise ctx.error((*where, "trace"), f"expected a file path, got {t!r}")
        p = (base_dir / t).resolve()
        try:
            tr = Trace.load(p)
        except WorkloadError as exc:
            raise ctx.error((*where, "trace"), str(exc)) from None
        digest = hashlib.sha256(p.read_bytes()).hexdigest()[:20]
        sc = tr.scenario
        out.append(Workload(id=f"trace-{digest}", label=tr.model, trace=str(p),
                            phase=sc.phase, batch=sc.batch, seq=sc.seq, context=sc.context,
                            routing=sc.routing, weight_dtype=sc.weight_dtype))
    return out


def _model_ids(ctx: _Ctx, where: tuple[Any, ...], models: list[Any], base_dir: Path
               ) -> dict[str, tuple[str, str]]:
    """Each model as given -> (its registered name or resolved config path, an identity:
    the name, or a hash of the config file's content)."""
    from workloads.errors import WorkloadError
    from workloads.registry import load_config, model_names

    out = {}
    for m in models:
        if not isinstance(m, str):
            raise ctx.error((*where, "model"), f"expected a model name or path, got {m!r}")
        local = base_dir / m
        is_path = m not in model_names() and (m.endswith(".json") or "/" in m
                                               or local.exists())
        full = str(local.resolve()) if is_path else m
        try:
            load_config(full)
        except WorkloadError as exc:
            raise ctx.error((*where, "model"), str(exc)) from None
        cfg_file = Path(full) / "config.json" if is_path and Path(full).is_dir() else Path(full)
        out[m] = (full, hashlib.sha256(cfg_file.read_bytes()).hexdigest()[:20] if is_path
                  else m)
    return out


def _phases(ctx: _Ctx, where: tuple[Any, ...], table: Any) -> list[Any]:
    """The phases crossed, each checked, with the lengths each needs given and no length
    given that no phase takes."""
    phases = _listed(ctx, where, table, "phase", "decode")
    for ph in phases:
        if ph not in PHASE_LENGTHS:
            raise ctx.error((*where, "phase"), f"unknown phase {ph!r}; valid: "
                            f"{', '.join(PHASE_LENGTHS)}")
    for ph, keys in PHASE_LENGTHS.items():
        for key in keys:
            if key in table and not any(key in PHASE_LENGTHS[p] for p in phases):
                takes = "; ".join(f"{p} takes {' and '.join(k)}"
                                  for p, k in PHASE_LENGTHS.items())
                raise ctx.error((*where, key), f"{key} applies to phase \"{ph}\" ({takes})")
            if ph in phases and key not in table:
                raise ctx.error(where, f"phase \"{ph}\" needs {key} = N (or a list of N): "
                                "a sweep states its scenario")
    return phases


def _lengths(ctx: _Ctx, where: tuple[Any, ...], table: Any) -> dict[str, list[Any]]:
    """batch and every length key's values, each checked against its minimum."""
    ints = {}
    for key, lo in (("batch", 1), ("seq", 1), ("context", 0), ("prompt", 1), ("output", 1)):
        vals = _listed(ctx, where, table, key, None)
        for v in vals:
            if v is not None:
                _int(ctx, (*where, key), v, minimum=lo)
        ints[key] = vals
    return ints


def _check_request_context(ctx: _Ctx, where: tuple[Any, ...], model: str, tokens: int
                           ) -> None:
    from codesign.api import check_context

    try:
        check_context(model, "prompt + output", tokens)
    except CodesignError as exc:
        raise ctx.error((*where, "output"), str(exc)) from None


def _check_routing(ctx: _Ctx, where: tuple[Any, ...], routing: Any) -> None:
    from workloads.errors import WorkloadError
    from workloads.routing import parse_routing

    try:
        parse_routing(routing)
    except WorkloadError as exc:
        raise ctx.error(where, str(exc)) from None


def _check_weight_dtype(ctx: _Ctx, where: tuple[Any, ...], dtype: Any) -> None:
    from workloads.schema import WEIGHT_OPTIONS

    if dtype not in WEIGHT_OPTIONS:
        raise ctx.error(where, f"unknown weight dtype {dtype!r}; valid: "
                        f"{', '.join(WEIGHT_OPTIONS)}")


def _derived(ctx: _Ctx, raw: Any, target_names: list[str], axes_raw: Mapping[str, Any]) \
        -> list[Derived]:
    _check_table(ctx, ("derived",), raw)
    out = []
    metrics = time_metrics()
    for name, table in raw.items():
        where = ("derived", name)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ctx.error(where, "a derived metric's name is a column name: letters, "
                            "digits and _")
        _check_keys(ctx, where, table, DERIVED_KEYS)
        if name in RESERVED or name in time_metrics() or name in axes_raw:
            raise ctx.error(where, f"{name!r} is already a column of the results; "
                            "choose another name")
        if "speedup_over" not in table:
            raise ctx.error(where, "needs speedup_over = TARGET (the baseline)")
        base = _string(ctx, (*where, "speedup_over"), table["speedup_over"])
        _resolve(ctx, base, {}, (*where, "speedup_over"))
        metric = table.get("metric", "latency_s")
        if metric not in metrics:
            raise ctx.error((*where, "metric"), f"unknown metric {metric!r}; valid: "
                            f"{', '.join(metrics)}")
        at = table.get("at", "point" if base in target_names else "preset")
        if at not in AT:
            raise ctx.error((*where, "at"), f"unknown value {at!r}; valid: {', '.join(AT)}")
        if at == "point" and base not in target_names:
            raise ctx.error((*where, "speedup_over"),
                            f"baseline {base!r} is not a target of this sweep, so there is "
                            f"no same point to compare with; valid: {', '.join(target_names)}"
                            " (or at = \"preset\")")
        out.append(Derived(name=name, baseline=base, metric=metric, at=at))
    return out


# ---- points -----------------------------------------------------------------------------
def _samples(spec: Spec) -> list[dict[str, Any]]:
    """The hardware points of the non-target axes: a grid, or random / Latin-hypercube."""
    axes = spec.axes
    if spec.method == "grid":
        return [dict(zip([a.path for a in axes], combo, strict=True))
                for combo in itertools.product(*(a.values for a in axes))]
    import numpy as np

    rng = np.random.default_rng(spec.seed)
    n, d = spec.samples, len(axes)
    if spec.method == "lhs":
        # Latin hypercube: each axis cut into n equal strata, one sample per stratum, the
        # strata of different axes paired by independent random permutations.
        u = np.empty((n, d))
        for j in range(d):
            u[:, j] = (rng.permutation(n) + rng.random(n)) / n
    else:
        u = rng.random((n, d))
    out = []
    for i in range(n):
        point = {}
        for j, a in enumerate(axes):
            point[a.path] = _from_unit(a, float(u[i, j]))
        out.append(point)
    return out


def _from_unit(a: Axis, u: float) -> Any:
    if a.values:
        return a.values[min(int(u * len(a.values)), len(a.values) - 1)]
    assert a.low is not None and a.high is not None
    if a.log:
        v = math.exp(math.log(a.low) + u * (math.log(a.high) - math.log(a.low)))
    else:
        v = a.low + u * (a.high - a.low)
    return round(v) if a.integer else v


def _points(ctx: _Ctx, spec: Spec, skip_invalid: bool) -> tuple[list[Point], int]:
    seen: dict[str, Point] = {}
    skipped = 0
    hardware = _samples(spec) or [{}]
    for hw in hardware:
        overrides = {**spec.fixed, **hw}
        key = tuple(sorted(overrides.items()))
        for t in spec.targets:
            p = Point(target=t, overrides=key)
            if p.key() in seen:
                continue
            try:
                T.resolve(t, overrides)
            except errors.USER_ERRORS as exc:
                if skip_invalid:
                    skipped += 1
                    continue
                shown = ", ".join(f"{k}={v}" for k, v in hw.items())
                raise ctx.error(
                    ("axes",), f"point target={t} {shown}: {exc} (add skip_invalid = true "
                    "under [sampling] to drop such points)",
                    more=[("axes", a.path) for a in spec.axes]) from None
            seen[p.key()] = p
    for d in spec.derived:
        if d.at == "preset":
            p = Point(target=d.baseline, overrides=(), reference=True)
            seen.setdefault(p.key(), p)
    return list(seen.values()), skipped
