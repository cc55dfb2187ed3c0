"""Design-space search: find the best points of a sweep's space under constraints.

>>> import codesign as cd
>>> res = cd.explore("experiments/explore_edge.toml", out="runs/edge", trials=200)
>>> res.pareto          # the feasible, non-dominated trials

An explore spec is a sweep spec (:mod:`codesign.sweep.spec`: workloads, a target or a
target axis, ``[axes]``, ``[set]``) plus an ``[explore]`` table. Instead of timing every
combination, a multi-objective optimiser (Optuna's NSGA-II by default, seeded) proposes
points a generation at a time; each generation is timed like a sweep (here, in ``jobs``
processes or on a Dask cluster) and its results told back::

    [explore]
    trials = 200                 # trials in all; a resumed search runs only the missing ones
    sampler = "nsga2"            # "nsga2" (NSGA-II), "tpe" (Optuna's TPE) or "random"
    population = 20              # trials proposed and timed together (NSGA-II's population)
    seed = 0
    minimize = ["decode.latency_s", "vector.vlen"]    # objectives ...
    maximize = []                                     # ... in either direction
    constraints = ["decode.tokens_per_s >= 20", "prefill.latency_s <= 2", "fits_memory"]
    per_target = false           # true: one search per target, the trials shared out

A name is a metric column of the results (``latency_s``, ``tokens_per_s``,
``memory_gb``, ``seconds_gemm`` ...; with several workloads qualified by the workload's
phase, ``prefill.latency_s``) or a swept axis (``vector.vlen``: the point's own value, a
cost proxy). A boolean metric alone (``fits_memory``) must hold for every workload. The
target axis, if the spec has one, is a categorical choice of the search; with
``per_target = true`` each target gets a search of its own instead (the trials shared out
as evenly as they go, each search seeded alike, so their first generations propose the
same configurations), and a front of its own. That is the way to ask "with and without
an extension": one search over both converges on the better target and leaves the other
barely sampled.

A point the sampler proposes again (NSGA-II's crossover and mutation do, once the
population converges) is not timed again and does not count as a trial: it is told the
values of its first trial, and the search stops early when ``STALE_GENERATIONS``
generations in a row propose nothing new. ``ExploreResult.repeats`` counts them.

Constraints reach the sampler as Optuna's ``constraints_func`` (a value <= 0 is feasible;
each is the violation relative to its bound), so the search is pushed towards feasibility.
``DIR/study.journal`` is Optuna's own storage: a killed search resumes where it stopped;
a trial that was being timed is proposed again with the same parameters (its finished
rows are found under ``DIR/parts``), so no trial is lost. At the end ``DIR`` holds
``trials.parquet`` (every trial: parameters, objective and constraint values, feasible,
violation, on the front), ``pareto.parquet`` (the feasible non-dominated trials) and
``results.parquet`` (every timed row in the sweep format, for ``codesign report DIR``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from codesign import targets as T
from codesign.errors import USER_ERRORS, CodesignError
from codesign.outputs import check_output_dir
from codesign.parallel import check_jobs
from codesign.sweep import runner, store
from codesign.sweep.lock import locked
from codesign.sweep.spec import (
    MAX_ROWS,
    TARGET_AXIS,
    Point,
    Spec,
    _check_keys,
    _Ctx,
    _int,
    key_lines,
    parse_spec,
    read_toml,
    row_id,
)

EXPLORE_KEYS = ("trials", "sampler", "population", "seed", "minimize", "maximize",
                "constraints", "per_target")
SAMPLERS = ("nsga2", "tpe", "random")
TRIALS = "trials.parquet"
PARETO = "pareto.parquet"
JOURNAL = "study.journal"
_CONSTRAINT = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(<=|>=)\s*(\S+)\s*$")
# user attribute of a trial whose point a config rejects (it counts as a finished trial)
_INVALID = "invalid"
# user attribute of a trial that proposed an earlier trial's point again (its number)
_REPEAT = "repeat_of"
# generations in a row that propose no new point before a search stops early
STALE_GENERATIONS = 10


@dataclass(frozen=True)
class Quantity:
    """A named value of a trial: a metric of one workload (``phase``) or a swept axis."""

    name: str  # as written in the spec
    metric: str  # metric column or axis path
    workload: str | None  # workload id (None: an axis value)


@dataclass(frozen=True)
class Constraint:
    """``quantity op bound``; ``op`` is "true" for a boolean metric that must hold."""

    quantity: Quantity
    op: str
    bound: float = 0.0

    def violation(self, value: Any) -> float:
        """How far ``value`` is from satisfying the constraint (<= 0: satisfied), relative
        to the bound; NaN (a metric the workload lacks) is infinitely far."""
        if self.op == "true":
            return 0.0 if bool(value) else 1.0
        v = float(value)
        if math.isnan(v):
            return math.inf
        scale = abs(self.bound) or 1.0
        return (v - self.bound) / scale if self.op == "<=" else (self.bound - v) / scale

    def __str__(self) -> str:
        return self.quantity.name if self.op == "true" else \
            f"{self.quantity.name} {self.op} {self.bound:g}"


@dataclass
class ExploreSpec:
    """A validated explore: the sweep's space plus the search's settings."""

    space: Spec
    trials: int
    sampler: str
    population: int
    seed: int
    objectives: list[tuple[Quantity, str]]  # (quantity, "minimize" | "maximize")
    constraints: list[Constraint] = field(default_factory=list)
    per_target: bool = False  # one search per target (see the module's documentation)

    def searches(self) -> list[tuple[str, list[str], int]]:
        """Each search: its study name, the targets it chooses from and its trials."""
        name, targets = self.space.name, list(self.space.targets)
        if not self.per_target or len(targets) == 1:
            return [(name, targets, self.trials)]
        n = len(targets)
        return [(f"{name}:{t}", [t], self.trials // n + (i < self.trials % n))
                for i, t in enumerate(targets)]


@dataclass
class ExploreResult:
    """What a search found: every finished trial, the feasible Pareto front, and (when no
    trial is feasible) the trials closest to feasibility."""

    trials: pd.DataFrame
    pareto: pd.DataFrame
    results: pd.DataFrame
    timed: int = 0  # trials timed by this call (the rest were resumed)
    repeats: int = 0  # proposals of an earlier trial's point, told its values, not timed
    per_target: bool = False  # one search (and front) per target
    seconds: float = 0.0
    rejected: list[str] = field(default_factory=list)  # why each rejected trial was

    @property
    def feasible(self) -> bool:
        return bool(self.trials["feasible"].any()) if len(self.trials) else False

    def closest(self, n: int = 3) -> pd.DataFrame:
        """The ``n`` finished trials with the smallest total constraint violation (of each
        target, when each had its own search)."""
        ranked = self.trials.sort_values("violation", kind="stable")
        return ranked.groupby("target", sort=False).head(n).sort_values(
            ["target", "violation"], kind="stable") if self.per_target else ranked.head(n)


# ---- the spec -----------------------------------------------------------------------------
def load_explore(spec: str | Path | Mapping[str, Any], max_rows: int = MAX_ROWS) -> ExploreSpec:
    """Read and validate an explore spec (a TOML path or a parsed mapping)."""
    if isinstance(spec, Mapping):
        return parse_explore(spec, "spec", Path.cwd(), "", max_rows)
    path = Path(spec)
    data, text = read_toml(path, "explore spec")
    return parse_explore(data, str(path), path.resolve().parent, text, max_rows)


def parse_explore(data: Mapping[str, Any], source: str, base_dir: Path, text: str = "",
                  max_rows: int = MAX_ROWS) -> ExploreSpec:
    """Validate a parsed explore spec; every error names its line and the valid choices."""
    ctx = _Ctx(source, key_lines(text) if text else {}, max_rows)
    if "explore" not in data:
        raise ctx.error((), "an explore spec needs an [explore] table (objectives, trials)")
    for key in ("sampling", "derived"):
        if key in data:
            raise ctx.error((key,), f"[{key}] belongs to sweeps; the search chooses the "
                            "points of an explore")
    raw = data["explore"]
    if not isinstance(raw, Mapping):
        raise ctx.error(("explore",), f"expected a table, got {raw!r}")
    _check_keys(ctx, ("explore",), raw, EXPLORE_KEYS)
    seed = _int(ctx, ("explore", "seed"), raw.get("seed", 0), minimum=0)
    # The space: the sweep parser with continuous axes allowed, no points built.
    space_data = {k: v for k, v in data.items() if k != "explore"}
    space_data["sampling"] = {"method": "random", "samples": 1, "seed": seed}
    space = parse_spec(space_data, source, base_dir, text, max_rows, build_points=False)
    sampler = raw.get("sampler", "nsga2")
    if sampler not in SAMPLERS:
        raise ctx.error(("explore", "sampler"),
                        f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    trials = _int(ctx, ("explore", "trials"), raw.get("trials", 100), minimum=1)
    population = _int(ctx, ("explore", "population"), raw.get("population", 20), minimum=2)
    names = _names(space)
    objectives = []
    for direction in ("minimize", "maximize"):
        listed = raw.get(direction, [])
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            raise ctx.error(("explore", direction), f"expected a list of names, got {listed!r}")
        for n in listed:
            q = _quantity(ctx, ("explore", direction), n, names, space)
            if q.metric in _BOOL_METRICS:
                raise ctx.error(("explore", direction), f"{n!r} is true or false: make it a "
                                "constraint, not an objective")
            objectives.append((q, direction))
    if not objectives:
        raise ctx.error(("explore",), "needs an objective: minimize = [...] or maximize = "
                        f"[...] with names from: {', '.join(names)}")
    cons_raw = raw.get("constraints", [])
    if not isinstance(cons_raw, list) or not all(isinstance(c, str) for c in cons_raw):
        raise ctx.error(("explore", "constraints"), f"expected a list of strings such as "
                        f"\"tokens_per_s >= 20\", got {cons_raw!r}")
    constraints = [_constraint(ctx, c, names, space) for c in cons_raw]
    per_target = raw.get("per_target", False)
    if not isinstance(per_target, bool):
        raise ctx.error(("explore", "per_target"), f"expected true or false, got {per_target!r}")
    if per_target and (short := _too_few_trials(trials, space)):
        raise ctx.error(("explore", "trials"), short)
    return ExploreSpec(space=space, trials=trials, sampler=sampler, population=population,
                       seed=seed, objectives=objectives, constraints=constraints,
                       per_target=per_target)


def _too_few_trials(trials: int, space: Spec) -> str:
    """Why ``trials`` cannot be shared out one search per target ("" when they can)."""
    n = len(space.targets)
    return f"per_target shares {trials} trials out over {n} targets: give at least one " \
        "each" if trials < n else ""


def _metric_names() -> dict[str, str]:
    """Numeric and boolean metric columns of the results, by name -> arrow type name."""
    return {f.name: str(f.type) for f in store.metric_fields()
            if pa.types.is_floating(f.type) or pa.types.is_boolean(f.type)}


_BOOL_METRICS = ("fits_memory",)


def _names(space: Spec) -> list[str]:
    """Every name an objective or constraint may use in this space."""
    metrics = list(_metric_names())
    phases = [w.phase for w in space.workloads]
    if len(space.workloads) == 1:
        qualified = metrics
    else:
        qualified = [f"{ph}.{m}" for ph in dict.fromkeys(phases) if phases.count(ph) == 1
                     for m in metrics] + [b for b in _BOOL_METRICS]
    return [*qualified, *space.axis_paths]


def _quantity(ctx: _Ctx, where: tuple[Any, ...], name: str, names: Sequence[str],
              space: Spec) -> Quantity:
    if name in space.axis_paths:
        return Quantity(name, name, None)
    metrics = _metric_names()
    phase, dot, metric = name.rpartition(".") if name not in metrics else ("", "", name)
    if name in metrics and len(space.workloads) == 1:
        return Quantity(name, name, space.workloads[0].id)
    if name in _BOOL_METRICS:  # must hold for every workload: checked per workload
        return Quantity(name, name, "*")
    by_phase = [w for w in space.workloads if w.phase == phase]
    if dot and metric in metrics and len(by_phase) == 1:
        return Quantity(name, metric, by_phase[0].id)
    hint = ""
    if name in metrics:
        hint = " (with several workloads, qualify it by the workload's phase)"
    elif dot and metric in metrics and len(by_phase) > 1:
        hint = f" (several workloads are {phase!r}: give each explore one of them)"
    raise ctx.error(where, f"unknown name {name!r}{hint}; valid: {', '.join(names)}")


def _constraint(ctx: _Ctx, text: str, names: Sequence[str], space: Spec) -> Constraint:
    where = ("explore", "constraints")
    if text.strip() in _BOOL_METRICS:
        return Constraint(_quantity(ctx, where, text.strip(), names, space), "true")
    m = _CONSTRAINT.match(text)
    if not m:
        raise ctx.error(where, f"constraint {text!r} is not NAME <= NUMBER, NAME >= NUMBER "
                        f"or {' / '.join(_BOOL_METRICS)}")
    q = _quantity(ctx, where, m.group(1), names, space)
    try:
        bound = float(m.group(3))
    except ValueError:
        bound = math.nan
    if not math.isfinite(bound):
        raise ctx.error(where, f"constraint {text!r}: the bound {m.group(3)!r} is not a "
                        "finite number")
    if q.metric in _BOOL_METRICS:
        raise ctx.error(where, f"{q.name!r} is true or false: write it alone")
    return Constraint(q, m.group(2), bound)


# ---- the search ---------------------------------------------------------------------------
def explore(spec: str | Path | Mapping[str, Any] | ExploreSpec, out: str | Path,
            trials: int | None = None, jobs: int | None = None,
            scheduler: str | None = None, progress: bool = False,
            force: bool = False) -> ExploreResult:
    """Search ``spec``'s space into ``out`` (resuming what is there) until ``trials``
    trials (default: the spec's) have finished; see the module's documentation."""
    es = spec if isinstance(spec, ExploreSpec) else load_explore(spec)
    if trials is not None:
        if trials < 1:
            raise CodesignError(f"--trials must be at least 1, got {trials}")
        es = dataclasses.replace(es, trials=trials)
        if es.per_target and (short := _too_few_trials(trials, es.space)):
            raise CodesignError(f"--trials {trials}: {short}")
    if jobs is not None:
        check_jobs(jobs)
    if scheduler is not None:
        runner.check_scheduler(scheduler)
    t0 = time.perf_counter()
    path = Path(out)
    check_output_dir(path, "output")
    path.mkdir(parents=True, exist_ok=True)
    with locked(path):
        runner._claim(path, es.space, force)
        client = runner._dask_client(scheduler) if scheduler else None
        timed = repeats = 0
        try:
            for name, targets, n in es.searches():
                t, r = _search(es, _study(es, path, name), targets, n, path, client, jobs,
                               progress)
                timed, repeats = timed + t, repeats + r
        finally:
            if client is not None:
                client.close()
        res = _collect(es, path)
    res.timed, res.repeats, res.seconds = timed, repeats, time.perf_counter() - t0
    return res


def _study(es: ExploreSpec, out: Path, name: str) -> Any:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # constraints_func is marked experimental in Optuna 4; its interface is pinned by <5
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    storage = JournalStorage(JournalFileBackend(str(out / JOURNAL)))
    samplers = {
        "nsga2": lambda: optuna.samplers.NSGAIISampler(
            population_size=es.population, seed=es.seed, constraints_func=_constraint_values),
        "tpe": lambda: optuna.samplers.TPESampler(seed=es.seed,
                                                  constraints_func=_constraint_values),
        "random": lambda: optuna.samplers.RandomSampler(seed=es.seed),
    }
    return optuna.create_study(
        study_name=name, storage=storage, load_if_exists=True,
        sampler=samplers[es.sampler](), directions=[d for _, d in es.objectives])


def _constraint_values(trial: Any) -> list[float]:
    return list(trial.user_attrs.get("constraints", []))


def _finished(study: Any) -> int:
    from optuna.trial import TrialState

    return sum(1 for t in study.get_trials(deepcopy=False)
               if (t.state == TrialState.COMPLETE and _REPEAT not in t.user_attrs)
               or (t.state == TrialState.FAIL and _INVALID in t.user_attrs))


def _requeue_interrupted(study: Any) -> None:
    """Trials left running by a killed search: proposed again with the same parameters
    (their rows, if timed, are found under DIR/parts) and the stale ones closed."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        if t.state == TrialState.RUNNING:
            study.enqueue_trial(t.params, skip_if_exists=False)
            study.tell(t.number, state=TrialState.FAIL)


def _search(es: ExploreSpec, study: Any, targets: list[str], trials: int, out: Path,
            client: Any, jobs: int | None, progress: bool) -> tuple[int, int]:
    """Run one search until ``trials`` trials have finished; the trials it timed and the
    repeated points it told without timing."""
    from optuna.trial import TrialState

    _requeue_interrupted(study)
    seen = {_point_of(es.space, t.params, t.user_attrs["target"]): t
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if _REPEAT not in t.user_attrs}
    timed = repeats = stale = 0
    while (left := trials - _finished(study)) > 0 and stale < STALE_GENERATIONS:
        batch = [study.ask() for _ in range(min(es.population, left))]
        points: dict[int, Point] = {}
        repeated: list[tuple[Any, Point]] = []  # told below, once their first trial is
        for trial in batch:
            point = _propose(es.space, targets, trial)
            if point in seen or point in points.values():
                repeated.append((trial, point))
                continue
            try:
                T.resolve(point.target, dict(point.overrides))
            except USER_ERRORS as exc:
                trial.set_user_attr(_INVALID, str(exc))
                study.tell(trial, state=TrialState.FAIL)
                continue
            points[trial.number] = point
        if points:
            gen = dataclasses.replace(es.space, points=list(dict.fromkeys(points.values())))
            keys, _ = runner.time_rows(gen, out, client, jobs, progress=progress,
                                       record_total=False)
            df = runner.assemble(gen, out, keys).set_index("row_id")
            for trial in batch:
                if trial.number in points:
                    _tell(es, study, trial, points[trial.number], df)
                    timed += 1
            told = study.get_trials(deepcopy=False)
            seen.update((point, told[n]) for n, point in points.items())
        for trial, point in repeated:  # the values of the point's first trial
            first = seen[point]
            trial.set_user_attr(_REPEAT, first.number)
            if first.state != TrialState.COMPLETE:  # no finite objective: nor has this one
                study.tell(trial, state=TrialState.FAIL)
                continue
            for key in ("constraints", "values", "target"):
                trial.set_user_attr(key, first.user_attrs[key])
            study.tell(trial, first.values)
            repeats += 1
        stale = stale + 1 if len(repeated) == len(batch) else 0
    return timed, repeats


def _point_of(space: Spec, params: Mapping[str, Any], target: str) -> Point:
    """The point of a trial's parameters (the target chosen or the search's only one)."""
    chosen = {a.path: params[a.path] for a in space.axes if a.path in params}
    return Point(target=target, overrides=tuple(sorted({**space.fixed, **chosen}.items())))


def _propose(space: Spec, targets: list[str], trial: Any) -> Point:
    """The point ``trial`` proposes: a target and one value per axis (plus ``[set]``)."""
    target = trial.suggest_categorical(TARGET_AXIS, targets) \
        if len(targets) > 1 else targets[0]
    chosen: dict[str, Any] = {}
    for a in space.axes:
        if a.values:
            chosen[a.path] = trial.suggest_categorical(a.path, list(a.values))
        elif a.integer:
            assert a.low is not None and a.high is not None
            chosen[a.path] = trial.suggest_int(a.path, math.ceil(a.low), math.floor(a.high),
                                               log=a.log)
        else:
            assert a.low is not None and a.high is not None
            chosen[a.path] = trial.suggest_float(a.path, a.low, a.high, log=a.log)
    return _point_of(space, chosen, target)


def _values(es: ExploreSpec, point: Point, df: pd.DataFrame) -> dict[str, Any]:
    """Every objective's and constraint's quantity for ``point``, by name."""
    ov = dict(point.overrides)
    rows = {w.id: df.loc[row_id(point, w)] for w in es.space.workloads}
    out: dict[str, Any] = {}
    single = len(es.space.workloads) == 1
    for w in es.space.workloads:  # every metric of every workload, for trials.parquet
        for m in _metric_names():
            out[m if single else f"{w.phase}.{m}"] = rows[w.id][m]
    quantities = [q for q, _ in es.objectives] + [c.quantity for c in es.constraints]
    for q in quantities:
        if q.workload is None:
            out[q.name] = ov[q.metric]
        elif q.workload == "*":
            out[q.name] = all(bool(r[q.metric]) for r in rows.values())
        else:
            out[q.name] = rows[q.workload][q.metric]
    return out


def _tell(es: ExploreSpec, study: Any, trial: Any, point: Point, df: pd.DataFrame) -> None:
    from optuna.trial import TrialState

    values = _values(es, point, df)
    violations = [c.violation(values[c.quantity.name]) for c in es.constraints]
    trial.set_user_attr("constraints", [min(v, 1e300) for v in violations])
    trial.set_user_attr("values", {k: _plain(v) for k, v in values.items()})
    trial.set_user_attr("target", point.target)
    objective = [float(values[q.name]) for q, _ in es.objectives]
    if not all(math.isfinite(v) for v in objective):
        trial.set_user_attr(_INVALID, "an objective is not a finite number: "
                            + ", ".join(f"{q.name}={v}" for (q, _), v in
                                        zip(es.objectives, objective, strict=True)))
        study.tell(trial, state=TrialState.FAIL)
        return
    study.tell(trial, objective)


def _plain(v: Any) -> Any:
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    return v


# ---- the results --------------------------------------------------------------------------
def pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Which rows of ``values`` (trials x objectives) no other row dominates."""
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    v = values * sign
    keep = np.ones(len(v), dtype=bool)
    for i in range(len(v)):
        dominated = np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1)
        keep[i] = not dominated.any()
    return keep


def _collect(es: ExploreSpec, out: Path) -> ExploreResult:
    """trials.parquet, pareto.parquet and results.parquet from the study and the parts."""
    from optuna.trial import TrialState

    names = [q.name for q, _ in es.objectives]
    recs, points = [], []
    done = [t for name, _, _ in es.searches()
            for t in _study(es, out, name).get_trials(deepcopy=False,
                                                     states=(TrialState.COMPLETE,))
            if _REPEAT not in t.user_attrs]
    for t in done:
        vals = t.user_attrs.get("values", {})
        cons = t.user_attrs.get("constraints", [])
        rec = {"trial": t.number, "target": t.user_attrs.get("target"),
               **{a.path: t.params.get(a.path, es.space.fixed.get(a.path))
                  for a in es.space.axes},
               **{n: vals.get(n) for n in vals},
               "violation": float(sum(max(0.0, c) for c in cons)),
               "feasible": all(c <= 0 for c in cons)}
        recs.append(rec)
        overrides = {**es.space.fixed, **{a.path: rec[a.path] for a in es.space.axes}}
        points.append(Point(target=str(rec["target"]),
                            overrides=tuple(sorted(overrides.items()))))
    columns = ["trial", "target", *es.space.axis_paths,
               *dict.fromkeys([*names, *(c.quantity.name for c in es.constraints)]),
               "violation", "feasible"]
    trials = pd.DataFrame(recs, columns=None if recs else columns)
    trials["pareto"] = False
    # one front per search: per target when each target had its own
    fronts = trials.groupby("target").groups.values() if es.per_target and len(trials) \
        else [trials.index]
    for index in fronts:
        feas = trials.loc[index][trials.loc[index, "feasible"]]
        if len(feas):
            mask = pareto_mask(feas[names].to_numpy(dtype=float),
                               [d for _, d in es.objectives])
            trials.loc[feas.index[mask], "pareto"] = True
    pareto = trials[trials["pareto"]].sort_values(
        ["target", *names] if es.per_target else names)
    space = dataclasses.replace(es.space, points=list(dict.fromkeys(points)))
    results = runner.assemble(space, out) if points else pd.DataFrame()
    for frame, name in ((trials, TRIALS), (pareto, PARETO)):
        store.write_atomic(pa.Table.from_pandas(frame, preserve_index=False), out / name)
    if points:
        store.write_atomic(store.results_table(results, space), out / store.RESULTS)
    return ExploreResult(trials=trials, pareto=pareto, results=results,
                         rejected=rejections(out), per_target=es.per_target)



def rejections(out: str | Path) -> list[str]:
    """Why each rejected trial under ``out`` was rejected (a config error, or an objective
    that is not a finite number), in trial order."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = Path(out) / JOURNAL
    if not path.exists():
        return []
    storage = JournalStorage(JournalFileBackend(str(path)))
    return [t.user_attrs[_INVALID] for s in storage.get_all_studies()
            for t in storage.get_all_trials(s._study_id, deepcopy=False)
            if _INVALID in t.user_attrs]
