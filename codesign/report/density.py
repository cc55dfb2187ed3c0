"""Intelligence density (issue #13): what a model scores against what it costs to run.

A published benchmark score (``workloads/quality.toml``, each with its source) is set
against each Result's tokens/s, joules per token and memory footprint, per target, one
point per model. Qwen3.5-9B scores 81.7 on GPQA Diamond, GPT-OSS-120B 80.1 at high
reasoning effort: the density question is what the 13x smaller model buys in speed, energy
and memory on a RISC-V core with Xattn and on a GPU.

```python
results = [cd.simulate(cd.trace(m, phase="decode", context=4096), t)
           for m in models for t in targets]
report.density_table(results)                     # one row per (model, target, scenario)
report.density(results, x="tokens_per_s")         # score against tokens/s
```
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from codesign.errors import CodesignError
from codesign.report import figures as F
from codesign.report import inputs as I
from codesign.result import Result

DEFAULT_BENCHMARK = "GPQA Diamond"
# What a density figure may put on its x axis: column -> axis label.
AXES = {"tokens_per_s": "tokens/s", "j_per_token": "J/token", "memory_gb": "memory (GB)"}


def _score(model: str, benchmark: str) -> Any:
    from workloads.errors import WorkloadError
    from workloads.quality import best

    try:
        return best(model, benchmark)
    except WorkloadError as exc:
        raise CodesignError(str(exc)) from None


def density_table(results: Sequence[Result],
                  benchmark: str = DEFAULT_BENCHMARK) -> pd.DataFrame:
    """One row per Result: model, target, scenario, tokens/s, J/token, memory, whether it
    fits, the model's best published ``benchmark`` score (NaN without one) and the score
    per GB of memory."""
    rows = []
    for r in results:
        s = r.summary()
        model = str(r.trace_meta.get("model", "?"))
        sc = _score(model, benchmark)
        score = sc.score if sc else float("nan")
        mem = s.get("memory_gb")
        rows.append({
            "model": model, "target": r.target, "scenario": I.scenario_text(r.trace_meta),
            "tokens_per_s": s["tokens_per_s"], "j_per_token": s.get("j_per_token"),
            "memory_gb": mem, "fits": s.get("fits_memory"), benchmark: score,
            f"{benchmark} per GB": score / mem if mem else float("nan"),
            "score setting": sc.setting if sc else "no published score",
        })
    return pd.DataFrame(rows)


def density(results: Sequence[Result], x: str = "tokens_per_s",
            benchmark: str = DEFAULT_BENCHMARK) -> go.Figure:
    """The published ``benchmark`` score against ``x`` (tokens_per_s, j_per_token or
    memory_gb): one marker per (model, target), a colour per target; models without a
    published score are left out and named in the caption."""
    if x not in AXES:
        raise CodesignError(f"unknown density axis {x!r}; valid: {', '.join(AXES)}")
    df = density_table(results, benchmark)
    unscored = sorted(set(df.loc[df[benchmark].isna(), "model"]))
    df = df[df[benchmark].notna() & df[x].notna()]
    fig = go.Figure()
    for target, rows in df.groupby("target", sort=False):
        fig.add_scatter(name=str(target), x=rows[x], y=rows[benchmark], mode="markers+text",
                        text=rows["model"], textposition="top center",
                        marker={"size": 11}, hovertext=rows["scenario"])
    note = f" Left out (no published {benchmark} score): {', '.join(unscored)}." \
        if unscored else ""
    return F._finish(
        fig, f"Intelligence density: {benchmark} against {AXES[x]}",
        f"Each model's best published {benchmark} score (workloads/quality.toml, with its "
        f"source) against its {AXES[x]} on each target.{note}",
        xaxis_title=AXES[x], yaxis_title=f"{benchmark} (%)",
        **({"xaxis_type": "log"} if x != "memory_gb" else {}))


def sections(results: Sequence[Result], benchmark: str = DEFAULT_BENCHMARK) -> list[Any]:
    """The report's density section, when the results hold two or more models with a
    published score."""
    from codesign.report.page import Section

    table = density_table(results, benchmark)
    scored = table[table[benchmark].notna()]
    if scored["model"].nunique() < 2:
        return []
    sec = Section("Intelligence density", intro=(
        f"Published {benchmark} scores against speed, energy and memory, per target "
        "(issue #13: Qwen3.5-9B scores 81.7, GPT-OSS-120B 80.1 at high reasoning effort)."),
        table=table)
    sec.figures.append(density(results, "tokens_per_s", benchmark))
    if table["j_per_token"].notna().any():
        sec.figures.append(density(results, "j_per_token", benchmark))
    sec.figures.append(density(results, "memory_gb", benchmark))
    return [sec]
