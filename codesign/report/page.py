"""The HTML report: every figure the inputs support, each with its caption, in one
self-contained file (plotly.js inlined once in the page head, so it opens offline).

Figures the inputs cannot support (a speedup of a single target, a heatmap without a
two-axis sweep, a Pareto front without a cost) are left out with a note saying why.

A sweep's section answers the sweep's question first: its derived speedups, then latency,
against the swept axis (:func:`codesign.report.figures.sweep_lines`); heatmaps follow only
where two config axes vary.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from codesign.errors import CodesignError
from codesign.outputs import write_atomically
from codesign.report import figures as F
from codesign.report import inputs as I
from codesign.result import Result

MAX_HEATMAP_PAIRS = 3


@dataclass
class Section:
    """A heading with figures, notes (why a figure is missing) and an optional table."""

    title: str
    intro: str = ""  # a sentence under the heading (a sweep's description: its question)
    figures: list[go.Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    table: pd.DataFrame | None = None


@dataclass
class Report:
    title: str
    sources: list[str]
    sections: list[Section]
    baselines: list[str] = field(default_factory=list)  # per scenario group

    @property
    def figures(self) -> list[go.Figure]:
        return [f for s in self.sections for f in s.figures]

    @property
    def notes(self) -> list[str]:
        return [n for s in self.sections for n in s.notes]

    @property
    def incomplete(self) -> list[str]:
        """What is missing from the inputs (an unfinished sweep), for a warning."""
        return [n.removeprefix("Incomplete: ") for n in self.notes
                if n.startswith("Incomplete: ")]


# ---- building --------------------------------------------------------------------------


def _number(v: float) -> str:
    """4 significant digits; large values in full with thousands separators."""
    return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"

def _summary_table(results: Sequence[Result], base: Result) -> pd.DataFrame:
    rows = []
    for r in results:
        s = r.summary()
        rows.append({"target": r.target, "family": r.family, "engine": r.engine or "-",
                     "latency (ms)": _number(r.latency_s * 1e3),
                     "tokens/s": _number(s["tokens_per_s"]),
                     f"speedup over {base.target}": f"{base.latency_s / r.latency_s:.3g}x"
                     if r.latency_s > 0 else "",
                     "memory (GB)": _number(s["memory_gb"]) if s["memory_gb"] else "",
                     "fits memory": {True: "yes", False: "NO"}.get(s["fits_memory"], "-"),
                     "top kind": next(iter(s["seconds_by_kind"]), "")})
    return pd.DataFrame(rows)


def _memory_notes(results: Sequence[Result]) -> list[str]:
    """A note for each target whose memory cannot hold the pass it was timed on."""
    out = []
    for r in results:
        mem = r.memory
        if mem is not None and mem.fits is False:
            out.append(f"Over capacity: {r.trace_meta.get('model')} does not fit "
                       f"{r.target}: {mem.text()}. Its latency is of a model the target "
                       "cannot hold.")
    return out


def _results_sections(results: Sequence[Result], baseline: str | None,
                      cost: str | None) -> list[Section]:
    out = []
    for group in I.group_by_scenario(results):
        scen = I.scenario_text(group[0].trace_meta)
        sec = Section(f"Results: {scen}")
        names = [r.target for r in group]
        if baseline is not None and baseline not in names:
            sec.notes.append(f"baseline {baseline} was not run in this scenario; "
                             f"{names[0]} is the baseline here.")
        base = I.pick_baseline(group, baseline if baseline in names else None)
        ordered = [base, *[r for r in group if r is not base]]
        sec.table = _summary_table(ordered, base)
        sec.notes.extend(_memory_notes(ordered))
        if len(group) > 1:
            sec.figures.append(F.speedup(ordered, baseline=base.target))
        else:
            sec.notes.append(f"Speedup omitted: only one target ({base.target}) was run in "
                             "this scenario; a speedup needs a baseline and another target.")
        sec.figures.append(F.breakdown(ordered))
        lat = [r.latency_s for r in ordered if r.latency_s > 0]
        if len(lat) > 1 and max(lat) / min(lat) > 10:
            sec.figures.append(F.breakdown(ordered, normalize=True))
        for r in ordered:
            sec.figures.append(F.roofline(r))
        if cost is not None and len(group) > 1:
            try:
                sec.figures.append(F.pareto(list(ordered), cost=cost))
            except CodesignError as exc:
                sec.notes.append(f"Pareto front omitted: {exc}.")
        elif cost is not None:
            sec.notes.append("Pareto front omitted: a front needs more than one design point.")
        for r in ordered:
            sec.figures.append(F.timeline(r))
        out.append(sec)
    return out


MAX_HEATMAPS = 6  # per sweep: a heatmap per target and axis pair, the first ones


def _varying_axes(df: pd.DataFrame) -> list[str]:
    """The numeric config axes that take several values among the non-reference rows."""
    return [a for a in I.sweep_axes(df) if pd.api.types.is_numeric_dtype(df[a])
            and I._varies(df[a])]


def _line_sections(sec: Section, df: pd.DataFrame, derived: list[dict]) -> None:
    """The sweep's question first: each derived quantity, then latency, against the swept
    axis, per workload kind (model, phase, ...) whose rows share that axis."""
    split = [c for c in I.WORKLOAD_LABELS if c in df.columns and df[c].nunique() > 1]
    groups = list(df.groupby(split, sort=False)) if split else [((), df)]
    drawn = False
    for _key, g in groups:
        x = I.line_axis(g)
        if x is None:
            continue
        for d in derived:
            sec.figures.append(F.sweep_lines(g, d["name"], x, derived=d))
        sec.figures.append(F.sweep_lines(g, "latency_s", x))
        drawn = True
    if not drawn:
        sec.notes.append("Line figures omitted: no workload field (context, seq, batch) or "
                         "numeric config axis takes several values.")
    elif not derived:
        sec.notes.append("No derived quantity: add [derived.NAME] with speedup_over = TARGET "
                         "to the spec to plot the speedup that answers its question.")


def _heatmap_value(derived: list[dict]) -> tuple[dict | None, str]:
    """What the heatmaps color: the first derived speedup at the same point, else latency."""
    d = next((d for d in derived if d.get("at") == "point"), None)
    return d, (d["name"] if d else "latency_s")


def _heatmaps(sec: Section, hw: pd.DataFrame, derived: list[dict], x: str | None) -> None:
    """A heatmap per target over each pair of numeric config axes that both vary, at one
    workload (the largest value of the swept workload axis, where the lines end)."""
    numeric = _varying_axes(hw)
    if len(numeric) < 2:
        sec.notes.append(f"Sensitivity heatmap omitted: the sweep varies {len(numeric)} "
                         "numeric config axis" + ("" if len(numeric) == 1 else "es")
                         + "; a heatmap needs two.")
        return
    d, value = _heatmap_value(derived)
    rows = hw[hw[value].notna()]
    if d and d.get("baseline"):
        rows = rows[rows["target"] != d["baseline"]]  # 1 everywhere
    wcol = I.workload_column(rows)
    at = ""
    if wcol and rows[wcol].nunique() > 1:
        pick = rows.sort_values(x).iloc[-1] if x in I.WORKLOAD_AXES else rows.iloc[0]
        rows = rows[rows[wcol] == pick[wcol]]
        at = " One workload of several: the line figures above cover them all."
    pairs = list(itertools.combinations(numeric, 2))[:MAX_HEATMAP_PAIRS]
    shown = 0
    for _target, g in rows.groupby("target", sort=False):
        for a, b in pairs:
            if shown == MAX_HEATMAPS:
                sec.notes.append(f"Heatmaps after the first {MAX_HEATMAPS} omitted.")
                return
            fig = _one_heatmap(sec, g, a, b, numeric, value, ratio=d is not None)
            if fig is not None:
                fig.layout.meta["caption"] += at
                sec.figures.append(fig)
                shown += 1


def _one_heatmap(sec: Section, g: pd.DataFrame, x: str, y: str, numeric: list[str],
                 value: str, ratio: bool) -> Any:
    sub, fixed = g, []
    for a in (a for a in numeric if a not in (x, y)):  # other axes at their smallest
        v = sub[a].min()
        sub = sub[sub[a] == v]
        fixed.append(f"{a} = {F.tick(v)}")
    if sub.duplicated([x, y]).any():
        sec.notes.append(f"Heatmap {x} x {y} omitted: rows repeat the same ({x}, {y}) "
                         "with other columns varying.")
        return None
    fig = F.heatmap(sub, x=x, y=y, value=value, relative=not ratio, ratio=ratio)
    if fixed:
        fig.layout.meta["caption"] += " Other axes held at " + ", ".join(fixed) + "."
    return fig


def _sweep_section(df: pd.DataFrame, cost: str | None) -> Section:
    meta = df.attrs.get("sweep", {})
    hw = df[~df["reference"]]
    axes = [c for c in I.WORKLOAD_AXES if c in df.columns and df[c].nunique() > 1] \
        + (["target"] if df["target"].nunique() > 1 else []) + _varying_axes(hw)
    name = meta.get("name") or df.attrs.get("source", "sweep")
    sec = Section(f"Sweep: {name} ({len(df)} rows; axes: {', '.join(axes) or 'none'})",
                  intro=str(meta.get("description", "")))
    if df.attrs.get("incomplete"):
        sec.notes.append(f"Incomplete: {df.attrs['incomplete']}.")
    derived = I.derived_columns(df)
    _line_sections(sec, df, derived)
    _heatmaps(sec, hw, derived, I.line_axis(df))
    if cost is None:
        sec.notes.append("Pareto front omitted: no cost given (use --cost EXPR, e.g. "
                         "'vector.dlen*cluster.cores', over the sweep's axis columns).")
    else:
        sec.figures.append(F.pareto(hw, cost=cost))
    return sec


def build(inputs: I.Inputs, baseline: str | None = None, cost: str | None = None,
          title: str | None = None) -> Report:
    """The report's sections for the loaded inputs."""
    run_targets = [*(r.target for r in inputs.results), *(g.target for g in inputs.generations)]
    if baseline is not None and run_targets and baseline not in run_targets:
        raise CodesignError(f"--baseline {baseline!r} is not among the results; valid: "
                            f"{', '.join(dict.fromkeys(run_targets))}")
    if cost is not None:  # a bad expression is the user's error: say so before plotting
        for table in ([I.results_table(inputs.results)] if inputs.results else []) \
                + inputs.sweeps:
            I.cost(table, cost)
    sections = _results_sections(inputs.results, baseline, cost) if inputs.results else []
    if inputs.results:
        from codesign.report.energy import sections as energy_sections

        sections.extend(energy_sections(inputs.results))
        from codesign.report.density import sections as density_sections

        sections.extend(density_sections(inputs.results))
    if inputs.generations:
        from codesign.report.generation import sections as generation_sections

        sections.extend(generation_sections(inputs.generations, baseline))
    baselines = list(dict.fromkeys(
        I.pick_baseline(g, baseline if baseline in {r.target for r in g} else None).target
        for g in I.group_by_scenario(inputs.results)))
    for df in inputs.sweeps:
        sections.append(_sweep_section(df, cost))
    if not inputs.results:  # after the sweeps: a report of sweeps leads with their question
        sections.append(Section("Per-op figures", notes=[
            "Speedup, breakdown, roofline and timeline omitted: no per-op Result files "
            "were given (only " + ("generation results" if inputs.generations and not
                                   inputs.sweeps else "sweep tables") + ")."]))
    if not inputs.sweeps:
        sections.append(Section("Design space", notes=[
            "Sensitivity heatmaps omitted: no sweep output was given (run `codesign sweep` "
            "over two axes and pass its output directory)."]))
    if title is None:
        models = dict.fromkeys([*(str(r.trace_meta.get("model")) for r in inputs.results),
                                *(g.model for g in inputs.generations)])
        title = "codesign report" + (f": {', '.join(models)}" if models else "")
    return Report(title, list(inputs.sources), sections, baselines)


# ---- rendering -------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
figure { margin: 1.5em 0; } figcaption { font-size: 0.9em; color: #444; margin-top: 0.3em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
p.omitted { background: #fff6e0; border-left: 4px solid #e0a000; padding: 0.4em 0.8em; }
.sources { font-size: 0.85em; color: #666; }
"""


def render(report: Report) -> str:
    """The report as one self-contained HTML page."""
    from plotly.offline import get_plotlyjs

    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             f"<title>{html.escape(report.title)}</title>", f"<style>{_CSS}</style>",
             f"<script type='text/javascript'>{get_plotlyjs()}</script>", "</head><body>",
             f"<h1>{html.escape(report.title)}</h1>",
             "<p class='sources'>Inputs: " + ", ".join(html.escape(s) for s in report.sources)
             + "</p>"]
    n = 0
    for sec in report.sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2>")
        if sec.intro:
            parts.append(f"<p>{html.escape(sec.intro)}</p>")
        if sec.table is not None:
            parts.append(sec.table.to_html(index=False, border=0, escape=True))
        for note in sec.notes:
            parts.append(f"<p class='omitted'>{html.escape(note)}</p>")
        for fig in sec.figures:
            n += 1
            div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"figure-{n}",
                              config={"displaylogo": False, "responsive": True})
            parts.append(f"<figure>{div}<figcaption><b>Figure {n}.</b> "
                         f"{html.escape(F.caption(fig))}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(sources: Iterable[str | Path] | I.Inputs, path: str | Path,
                 baseline: str | None = None, cost: str | None = None,
                 title: str | None = None) -> Report:
    """Load ``sources`` (Result files, sweep outputs), build and write the HTML report."""
    inputs = sources if isinstance(sources, I.Inputs) else I.load(sources)
    if not inputs.results and not inputs.sweeps and not inputs.generations:
        raise CodesignError("no results given")
    report = build(inputs, baseline=baseline, cost=cost, title=title)
    text = render(report)
    write_atomically(path, lambda f: f.write(text.encode("utf-8")))
    return report


__all__ = ["Report", "Section", "build", "render", "write_report"]
