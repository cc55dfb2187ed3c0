"""The validation suite: predictions against published (or your own) measurements.

Cases are data: ``codesign/validation/<suite>_cases.json``, and any file a user passes
with ``codesign validate --cases FILE`` (``benchmarks/measure_gpu.py`` writes such files).
A file holds::

    {"format": "codesign-validation-cases/1",
     "cases": [{"name": ..., "target": "h100-sxm", "set": {"dotted.path": value},
                "row": {<trace row fields: kind, op, dtype, shape fields, flops, bytes>},
                "metric": "tflops" | "seconds" | "gbps", "measured": 467.0,
                "tolerance": 0.15, "source": "where the measurement comes from",
                "informational": false}],
     "rankings": [{"name": ..., "order": [case names, fastest first], "source": ...}]}

A case's prediction is its row, as a one-row trace, timed on ``target`` with the ``set``
overrides; the metric is taken from the row's time (launch overhead included). A case
passes when ``|predicted / measured - 1| <= tolerance``; an ``informational`` case is
reported but never fails. A ranking passes when the predicted metric strictly decreases
along ``order`` (by time, it increases for ``seconds``).

How the GPU model was calibrated against the built-in suite (see also the GPU config):

- Hardware numbers are datasheet values (gpu.md §1); GEMM main-loop efficiency (0.80
  H100, 0.87 A100) and the 90% streaming efficiency are gpu.md §3's published figures, so
  the two GEMM cases check the tile/wave model at those efficiencies, not a fit.
- FlashAttention-2 has no fitted constant: mma.sync at 2/3 of the wgmma peak (FA3 paper),
  the GEMM main-loop efficiency, no softmax overlap, exp at 16/clk/SM.
- Three constants are fitted, each to the 16k point of one series (its plateau):
  ``attention.fa3.softmax_overlap`` (0.71), ``attention.cudnn.softmax_overlap`` (0.53) and
  ``attention.triton.mma_efficiency`` (0.75). The 512..8k points of those series are
  predictions of the per-CTA prologue/epilogue latency model (``attention.round_trips`` x
  ``memory.latency_ns``), not fits.
- The standard (eager PyTorch) series fixes two constants by a minimax fit over its five
  points: ``attention.eager_softmax_efficiency`` (0.46 of DRAM bandwidth) and
  ``attention.eager_softmax_row_ns`` (210 ns of SM time per softmax row).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign import targets
from codesign.errors import CodesignError
from workloads.errors import WorkloadError
from workloads.schema import trace_from_rows

CASES_DIR = Path(__file__).resolve().parent / "validation"
FORMAT = "codesign-validation-cases/1"
METRICS = ("tflops", "seconds", "gbps")


@dataclass(frozen=True)
class Case:
    name: str
    target: str
    row: dict[str, Any]
    metric: str
    measured: float
    tolerance: float
    source: str
    overrides: dict[str, Any] = field(default_factory=dict)
    informational: bool = False


@dataclass(frozen=True)
class Ranking:
    name: str
    order: tuple[str, ...]
    source: str


def suites() -> list[str]:
    """The built-in suites: ``codesign/validation/<suite>_cases.json``."""
    return sorted(p.name.removesuffix("_cases.json") for p in CASES_DIR.glob("*_cases.json"))


def suite_file(suite: str) -> Path:
    if suite not in suites():
        raise CodesignError(f"unknown validation suite {suite!r}; valid: {', '.join(suites())}")
    return CASES_DIR / f"{suite}_cases.json"


def _need(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise CodesignError(f"{where}: missing field {key!r}")
    return obj[key]


def load_cases(path: str | Path) -> tuple[list[Case], list[Ranking]]:
    """Read one case file; refuse malformed ones with a one-line reason."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise CodesignError(f"case file {str(path)!r} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CodesignError(f"case file {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CodesignError(f"case file {str(path)!r} lacks \"format\": \"{FORMAT}\"")
    cases = []
    for i, c in enumerate(doc.get("cases", [])):
        where = f"{path.name} case {c.get('name', i)!r}"
        metric = _need(c, "metric", where)
        if metric not in METRICS:
            raise CodesignError(f"{where}: metric {metric!r} is not one of {', '.join(METRICS)}")
        try:
            measured = float(_need(c, "measured", where))
            tolerance = float(c.get("tolerance", 0.15))
        except (TypeError, ValueError):
            raise CodesignError(f"{where}: measured and tolerance must be numbers") from None
        if measured <= 0:
            raise CodesignError(f"{where}: measured must be positive")
        row = _need(c, "row", where)
        if not isinstance(row, dict) or "kind" not in row:
            raise CodesignError(f"{where}: row must be a table with at least 'kind'")
        cases.append(Case(
            name=str(_need(c, "name", where)), target=str(_need(c, "target", where)),
            row=dict(row), metric=metric, measured=measured, tolerance=tolerance,
            source=str(c.get("source", "")), overrides=dict(c.get("set", {})),
            informational=bool(c.get("informational", False)),
        ))
    rankings = [
        Ranking(name=str(_need(r, "name", path.name)),
                order=tuple(_need(r, "order", f"{path.name} ranking")),
                source=str(r.get("source", "")))
        for r in doc.get("rankings", [])
    ]
    return cases, rankings


def predict(case: Case) -> float:
    """The case's metric as the model predicts it."""
    try:
        trace = trace_from_rows([case.row], {"model": f"validate:{case.name}",
                                             "scenario": {"phase": "prefill"}})
    except WorkloadError as exc:
        raise CodesignError(f"case {case.name!r}: bad row: {exc}") from None
    result = targets.resolve(case.target, case.overrides).simulate(trace)
    seconds = float(result.ops["seconds"].iloc[0])
    row = trace.ops.iloc[0]
    if case.metric == "seconds":
        return seconds
    if case.metric == "tflops":
        return float(row["flops"]) / seconds / 1e12
    return float(row["bytes_read"] + row["bytes_written"]) / seconds / 1e9


def run(suite: str | None = "gpu", extra: list[str | Path] | None = None) -> list[dict[str, Any]]:
    """Every case and ranking of ``suite`` plus the ``extra`` case files, as result rows:
    case, target, metric, predicted, measured, error, tolerance, ok, source."""
    files = ([suite_file(suite)] if suite else []) + [Path(p) for p in extra or []]
    out: list[dict[str, Any]] = []
    for f in files:
        cases, rankings = load_cases(f)
        predicted: dict[str, float] = {}
        metrics: dict[str, str] = {}
        for c in cases:
            p = predict(c)
            predicted[c.name], metrics[c.name] = p, c.metric
            err = p / c.measured - 1.0
            out.append({
                "case": c.name, "target": c.target, "metric": c.metric, "predicted": p,
                "measured": c.measured, "error": err, "tolerance": c.tolerance,
                "ok": True if c.informational else abs(err) <= c.tolerance,
                "informational": c.informational, "source": c.source,
            })
        for r in rankings:
            missing = [n for n in r.order if n not in predicted]
            if missing:
                raise CodesignError(
                    f"{f.name} ranking {r.name!r} names unknown cases: {', '.join(missing)}")
            # higher is better for rates, lower for seconds: compare as "speed"
            speed = [predicted[n] if metrics[n] != "seconds" else -predicted[n]
                     for n in r.order]
            ok = all(a > b for a, b in itertools.pairwise(speed))
            actual = sorted(r.order, key=lambda n: -speed[r.order.index(n)])
            out.append({
                "case": r.name, "target": "", "metric": "ranking",
                "predicted": " > ".join(_short(n) for n in actual),
                "measured": " > ".join(_short(n) for n in r.order),
                "error": None, "tolerance": None, "ok": ok, "informational": False,
                "source": r.source,
            })
    return out


def _short(case_name: str) -> str:
    """attn-fa3-h100-hdim128-s512 -> fa3 (the part that differs within a ranking)."""
    parts = case_name.split("-")
    return parts[1] if len(parts) > 2 else case_name


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and worst |error| over the numeric cases, and how many failed."""
    errs = [(abs(r["error"]), r["case"]) for r in rows if r["error"] is not None]
    return {
        "cases": len(rows),
        "failed": sum(1 for r in rows if not r["ok"]),
        "mean_abs_error": sum(e for e, _ in errs) / len(errs) if errs else 0.0,
        "worst_abs_error": max(errs)[0] if errs else 0.0,
        "worst_case": max(errs)[1] if errs else "",
    }
