"""The report's figures as plotly figures, for notebooks and for ``codesign report``.

Every function returns a ``plotly.graph_objects.Figure`` with a title and axis units; the
caption (what was compared, under which scenario) is kept in ``fig.layout.meta["caption"]``
so the HTML report prints it under the figure and a notebook can show it.

- :func:`speedup`: each target over a baseline, end to end and by op kind.
- :func:`breakdown`: busy time by op kind, stacked, per target.
- :func:`roofline`: every op of one Result on log-log axes with the target's roofs.
- :func:`pareto`: design points, latency against a cost expression, with the front.
- :func:`sweep_lines`: a sweep's derived quantity (or latency) against its swept axis, a
  line per target and hardware point.
- :func:`heatmap`: a value over two sweep axes.
- :func:`timeline`: op instances in time, one row per layer instance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from codesign.errors import CodesignError
from codesign.report import inputs as I
from codesign.report import timeline as T
from codesign.result import Result
from workloads.schema import KINDS

END_TO_END = "end to end"
_PALETTE = qualitative.Plotly + qualitative.D3


def kind_color(kind: str) -> str:
    """One fixed color per op kind, the same in every figure."""
    i = KINDS.index(kind) if kind in KINDS else len(KINDS) + sum(map(ord, kind)) % 7
    return _PALETTE[i % len(_PALETTE)]


def _finish(fig: go.Figure, title: str, caption: str, **layout: Any) -> go.Figure:
    fig.update_layout(title={"text": title}, meta={"caption": caption},
                      template="plotly_white", margin={"t": 70}, **layout)
    return fig


def caption(fig: go.Figure) -> str:
    """The caption a figure function stored on the figure."""
    meta = fig.layout.meta
    return str(meta.get("caption", "")) if isinstance(meta, dict) else ""


def _as_list(results: Result | Sequence[Result]) -> list[Result]:
    out = [results] if isinstance(results, Result) else list(results)
    if not out:
        raise CodesignError("no results given")
    return out


# ---- speedup ---------------------------------------------------------------------------

def speedup_table(results: Sequence[Result], baseline: str | None = None) -> pd.DataFrame:
    """Speedup of each target over the baseline: rows are targets (baseline excluded),
    columns ``end to end`` (latency ratio) and each op kind (busy-seconds ratio)."""
    results = _as_list(results)
    I.check_same_scenario(results)
    base = I.pick_baseline(results, baseline)
    base_kind = base.seconds_by_kind()
    rows = {}
    for r in results:
        if r is base:
            continue
        by_kind = r.seconds_by_kind()
        row = {END_TO_END: base.latency_s / r.latency_s if r.latency_s > 0 else np.nan}
        for kind, secs in base_kind.items():
            theirs = by_kind.get(kind, 0.0)
            row[kind] = secs / theirs if theirs > 0 and secs > 0 else np.nan
        rows[r.target] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def speedup(results: Sequence[Result], baseline: str | None = None) -> go.Figure:
    """Grouped bars: speedup of each target over ``baseline`` (default the first Result),
    end to end and by op kind (ratio of busy seconds of that kind)."""
    results = _as_list(results)
    if len(results) < 2:
        raise CodesignError("a speedup needs at least two results (a baseline and a target)")
    base = I.pick_baseline(results, baseline)
    table = speedup_table(results, base.target)
    cats = [END_TO_END, *[k for k in base.seconds_by_kind() if table[k].notna().any()]]
    fig = go.Figure()
    for i, (target, row) in enumerate(table.iterrows()):
        y = [row[c] for c in cats]
        fig.add_bar(name=str(target), x=cats, y=y, marker_color=_PALETTE[i % len(_PALETTE)],
                    text=[f"{v:.3g}x" if np.isfinite(v) else "" for v in y],
                    textposition="outside",
                    hovertemplate="%{x}: %{y:.4g}x<extra>" + str(target) + "</extra>")
    vals = table[cats].to_numpy(dtype=float)
    vals = vals[np.isfinite(vals) & (vals > 0)]
    log = vals.size > 0 and vals.max() / vals.min() > 20
    fig.add_hline(y=1.0, line_dash="dot", line_color="gray")
    cap = (f"Speedup over {base.target} (baseline = 1): end to end is the ratio of latencies; "
           f"by kind, the ratio of the busy seconds of that op kind. Scenario: "
           f"{I.scenario_text(base.trace_meta)}. Targets: "
           f"{I.targets_text(results, base.target)}.")
    return _finish(fig, f"Speedup over {base.target}", cap, barmode="group",
                   xaxis_title="op kind",
                   yaxis={"title": f"speedup over {base.target} (x, higher is faster)",
                          "type": "log" if log else "linear"})


# ---- latency breakdown -----------------------------------------------------------------

def breakdown_table(results: Sequence[Result]) -> pd.DataFrame:
    """Busy seconds by op kind: rows are targets, columns kinds (sum of total_seconds)."""
    results = _as_list(results)
    return pd.DataFrame({r.target: r.seconds_by_kind() for r in results}).T.fillna(0.0)


def breakdown(results: Result | Sequence[Result], normalize: bool = False) -> go.Figure:
    """Stacked bars of busy time by op kind, one bar per target (milliseconds, or percent of
    the target's busy time with ``normalize``). Diamonds mark the end-to-end latency."""
    results = _as_list(results)
    I.check_same_scenario(results)
    table = breakdown_table(results)
    kinds = list(table.sum(axis=0).sort_values(ascending=False).index)
    targets = list(table.index)
    fig = go.Figure()
    totals = table.sum(axis=1)
    for kind in kinds:
        y = table[kind] / totals * 100 if normalize else table[kind] * 1e3
        fig.add_bar(name=kind, x=targets, y=list(y), marker_color=kind_color(kind),
                    hovertemplate="%{x}<br>" + kind + ": %{y:.4g}"
                    + (" %" if normalize else " ms") + "<extra></extra>")
    if not normalize:
        fig.add_scatter(name="end-to-end latency", x=targets,
                        y=[r.latency_s * 1e3 for r in results], mode="markers",
                        marker={"symbol": "diamond", "size": 11, "color": "black"},
                        hovertemplate="%{x}: latency %{y:.4g} ms<extra></extra>")
    scen = I.scenario_text(results[0].trace_meta)
    what = "share of each target's busy time" if normalize else "busy milliseconds"
    cap = (f"Latency breakdown by op kind ({what}; busy time sums each op's seconds x repeat, "
           "so ops overlapping on several cores count fully, and the diamond gives the "
           f"end-to-end latency). Scenario: {scen}. Targets: {I.targets_text(results)}.")
    return _finish(fig, "Latency breakdown by op kind" + (" (share)" if normalize else ""),
                   cap, barmode="stack", xaxis_title="target",
                   yaxis_title="share of busy time (%)" if normalize else "time (ms)")


# ---- roofline --------------------------------------------------------------------------

def roofline_points(result: Result) -> pd.DataFrame:
    """The ops a roofline can place (flops > 0, bytes > 0, seconds > 0) with their
    arithmetic intensity (FLOP/byte) and achieved FLOP/s."""
    ops = result.ops
    ok = ops[(ops["flops"] > 0) & (ops["bytes"] > 0) & (ops["seconds"] > 0)].copy()
    ok["intensity"] = ok["flops"] / ok["bytes"]
    ok["achieved"] = ok["flops"] / ok["seconds"]
    return ok


def roofline(result: Result) -> go.Figure:
    """Every op of ``result`` on log-log axes: arithmetic intensity (FLOP/byte) against
    achieved FLOP/s, colored by kind, under the target's bandwidth and compute roofs."""
    pts = roofline_points(result)
    roofs = I.roofs(result)
    fig = go.Figure()
    for kind, g in pts.groupby("kind", sort=False):
        share = g["seconds"] * g["repeat"] / max(result.ops["total_seconds"].sum(), 1e-300)
        fig.add_scatter(
            name=str(kind), x=g["intensity"], y=g["achieved"], mode="markers",
            marker={"color": kind_color(str(kind)), "size": 6 + 18 * np.sqrt(share),
                    "line": {"width": 0.5, "color": "white"}},
            customdata=np.stack([g["name"].astype(str), g["layer"].astype(str),
                                 g["seconds"] * 1e6, g["bound"].astype(str)], axis=-1),
            hovertemplate=("%{customdata[0]} (layer %{customdata[1]})<br>"
                           "%{x:.3g} FLOP/B, %{y:.3g} FLOP/s<br>%{customdata[2]:.3g} µs, "
                           "%{customdata[3]}-bound<extra>" + str(kind) + "</extra>"))
    xs = pts["intensity"] if not pts.empty else pd.Series([1.0])
    x_lo, x_hi = float(xs.min()) / 4, float(xs.max()) * 4
    for i, (label, peak) in enumerate(sorted(roofs.compute.items(), key=lambda kv: -kv[1])):
        if roofs.bandwidth:
            ridge = peak / roofs.bandwidth
            x_lo, x_hi = min(x_lo, ridge / 4), max(x_hi, ridge * 4)
        dash = "solid" if i == 0 else "dash"
        fig.add_scatter(name=f"{label}: {peak / 1e12:.3g} TFLOP/s", mode="lines",
                        x=[peak / roofs.bandwidth if roofs.bandwidth else x_lo, x_hi],
                        y=[peak, peak], line={"color": "black", "dash": dash, "width": 1.5},
                        hoverinfo="name")
    if roofs.bandwidth:
        top = max(roofs.compute.values(), default=float(pts["achieved"].max() * 2)
                  if not pts.empty else 1.0)
        fig.add_scatter(name=f"DRAM bandwidth: {roofs.bandwidth / 1e9:.4g} GB/s",
                        mode="lines", x=[x_lo, top / roofs.bandwidth],
                        y=[roofs.bandwidth * x_lo, top],
                        line={"color": "firebrick", "width": 1.5}, hoverinfo="name")
    for label, bw in roofs.other_bandwidths.items():
        top = max(roofs.compute.values(), default=bw * x_hi)
        fig.add_scatter(name=f"{label}: {bw / 1e9:.4g} GB/s", mode="lines",
                        x=[x_lo, top / bw], y=[bw * x_lo, top],
                        line={"color": "darkorange", "width": 1.2, "dash": "dot"},
                        hoverinfo="name")
    skipped = len(result.ops) - len(pts)
    cap = (f"Roofline of {result.target}: each marker is one op (one instance; marker area "
           f"grows with its share of busy time), placed at arithmetic intensity = FLOPs / "
           f"bytes moved and achieved FLOP/s = FLOPs / seconds. Roofs from {roofs.source}. "
           f"{len(pts)} ops placed"
           + (f"; {skipped} ops with no FLOPs or bytes (copies, fills, embedding gathers) "
              "cannot sit on a log axis and are left out" if skipped else "")
           + f". Scenario: {I.scenario_text(result.trace_meta)}.")
    return _finish(fig, f"Roofline: {result.target}", cap,
                   xaxis={"title": "arithmetic intensity (FLOP/byte)", "type": "log"},
                   yaxis={"title": "achieved throughput (FLOP/s)", "type": "log"})


# ---- Pareto front ----------------------------------------------------------------------

def _hover_columns(df: pd.DataFrame) -> list[str]:
    axes = I.sweep_axes(df)
    extra = [c for c in ("target", "workload") if c in df.columns and c not in axes]
    return [*extra, *axes]


_TARGET_SYMBOLS = ("circle", "square", "triangle-up", "x", "star", "cross", "triangle-down",
                   "pentagon", "hexagon", "circle-open", "square-open", "triangle-up-open")


def _target_symbols(df: pd.DataFrame) -> dict[str, str]:
    """A marker symbol per target when the points come from several targets (so points of
    the same cost are told apart by target), else nothing."""
    if "target" not in df.columns or df["target"].nunique() < 2:
        return {}
    names = list(dict.fromkeys(str(t) for t in df["target"]))
    return {t: _TARGET_SYMBOLS[i % len(_TARGET_SYMBOLS)] for i, t in enumerate(names)}


def pareto(df: pd.DataFrame | Sequence[Result], cost: str,
           latency: str = "latency_s") -> go.Figure:
    """Design points, latency (ms) against the value of the ``cost`` expression (over the
    table's columns: sweep axes or config paths such as ``vector.dlen*cluster.cores``), with
    the Pareto front (no other point is both cheaper and faster) drawn through them. A
    table with several workloads gets one front per workload; points of several targets get
    a marker symbol per target."""
    if not isinstance(df, pd.DataFrame):
        df = I.results_table(_as_list(df))
    if latency not in df.columns:
        raise CodesignError(f"no {latency!r} column; columns: {', '.join(map(str, df.columns))}")
    df = df.copy()
    df["_cost"] = I.cost(df, cost)
    wcol = I.workload_column(df)
    groups = list(df.groupby(wcol, sort=False)) if wcol and df[wcol].nunique() > 1 \
        else [("all points", df)]
    hover = _hover_columns(df)
    symbol_of = _target_symbols(df)
    fig = go.Figure()
    n_front = n_points = 0
    for i, (wname, rows) in enumerate(groups):
        color = _PALETTE[i % len(_PALETTE)]
        g = rows[np.isfinite(rows["_cost"]) & (rows[latency] > 0)]
        front = I.pareto_mask(g["_cost"], g[latency])
        n_front += int(front.sum())
        n_points += len(g)
        text = ["<br>".join(f"{c} = {row[c]}" for c in hover) for _, row in g.iterrows()]
        label = str(wname) if len(groups) > 1 else "design points"
        symbols = [symbol_of[str(t)] for t in g["target"]] if symbol_of else "circle"
        fig.add_scatter(name=label, x=g["_cost"], y=g[latency] * 1e3, mode="markers",
                        marker={"color": color, "size": 8, "opacity": 0.45,
                                "symbol": symbols}, text=text,
                        hovertemplate="cost %{x:.4g}, %{y:.4g} ms<br>%{text}<extra></extra>")
        f = g[front].sort_values("_cost")
        fig.add_scatter(name=f"Pareto front ({label})" if len(groups) > 1 else "Pareto front",
                        x=f["_cost"], y=f[latency] * 1e3, mode="lines+markers",
                        line={"color": color, "shape": "hv"},
                        marker={"color": color, "size": 10, "symbol": "diamond"},
                        text=[text[j] for j in np.flatnonzero(front)],
                        hovertemplate="cost %{x:.4g}, %{y:.4g} ms<br>%{text}<extra></extra>")
    lat = df[latency][df[latency] > 0]
    log_y = len(lat) > 1 and lat.max() / lat.min() > 20
    workloads = (", ".join(str(w) for w, _ in groups) if len(groups) > 1
                 else str(df[wcol].iloc[0]) if wcol else "as in the table")
    for target, symbol in symbol_of.items():  # legend entries: which marker is which target
        fig.add_scatter(name=f"target {target}", x=[None], y=[None], mode="markers",
                        marker={"color": "grey", "size": 8, "symbol": symbol})
    dropped = len(df) - n_points
    cap = (f"Pareto front of latency against cost = {cost}: {n_points} design points, "
           f"{n_front} on the front (no other point is both cheaper and faster)"
           + (f"; {dropped} rows without a value of the cost (their targets lack those "
              "config fields) are left out" if dropped else "") + ". "
           f"Workload: {workloads}.")
    return _finish(fig, f"Latency vs cost ({cost})", cap,
                   xaxis={"title": f"cost: {cost} (units of the expression)"},
                   yaxis={"title": "latency (ms)", "type": "log" if log_y else "linear"})


# ---- a sweep's question: a quantity against the swept axis -----------------------------

_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def tick(v: Any) -> str:
    """An axis value as a label: integers without a decimal point (512, not 512.0)."""
    if (isinstance(v, (float, np.floating)) and float(v).is_integer()) or \
            isinstance(v, (int, np.integer)):
        n = int(v)
        return f"{n:,}" if abs(n) >= 1e4 else str(n)
    return str(v)


def _series(df: pd.DataFrame, x: str) -> list[str]:
    """What tells the lines of a figure against ``x`` apart: the target, the config axes
    that vary among the non-reference rows, and the other varying workload fields."""
    hw = df[~df["reference"]] if "reference" in df.columns else df
    axes = [a for a in I.sweep_axes(hw) if a != x and I._varies(hw[a])]
    others = [c for c in (*I.WORKLOAD_AXES, *I.WORKLOAD_LABELS)
              if c != x and c in df.columns and df[c].nunique() > 1]
    return ["target", *axes, *others]


def _line_label(key: dict[str, Any], reference: bool) -> str:
    rest = [f"{k}={tick(v)}" for k, v in key.items() if k != "target" and pd.notna(v)]
    return str(key["target"]) + (" (preset)" if reference else "") \
        + (f", {', '.join(rest)}" if rest else "")


def _x_layout(values: pd.Series, x: str) -> dict[str, Any]:
    """A log axis for a geometric range (context 1k..128k), ticks at the swept values."""
    vals = sorted(v for v in values.dropna().unique())
    log = len(vals) > 2 and vals[0] > 0 and vals[-1] / vals[0] >= 16
    layout: dict[str, Any] = {"title": I.axis_title(x), "type": "log" if log else "linear"}
    if len(vals) <= 16:
        layout.update(tickmode="array", tickvals=vals, ticktext=[tick(v) for v in vals])
    return layout


def _ends(df: pd.DataFrame, x: str, value: str) -> str:
    """The answer in words: the range of ``value`` at the smallest and the largest x."""
    xs = sorted(df[x].dropna().unique())
    out = []
    for v in (xs[0], xs[-1]):
        col = df.loc[df[x] == v, value].dropna()
        if not col.empty:
            lo, hi = col.min(), col.max()
            rng = f"{lo:.4g}" if math.isclose(lo, hi, rel_tol=1e-9) else f"{lo:.4g} to {hi:.4g}"
            out.append(f"at {x} = {tick(v)}, {rng}")
    text = "; ".join(out)
    return text[:1].upper() + text[1:]


def _add_lines(fig: go.Figure, rows: pd.DataFrame, keys: list[str], x: str, value: str,
               scale: float, targets: list[str]) -> None:
    """One line per group of ``keys``: color by target, dash by config point, dotted for a
    reference row."""
    dash_of: dict[tuple[Any, ...], str] = {}
    for key, group in rows.groupby(keys, sort=False, dropna=False):
        parts = key if isinstance(key, tuple) else (key,)
        named = dict(zip(keys, parts, strict=True))
        dash = dash_of.setdefault(tuple(parts[1:]), _DASHES[len(dash_of) % len(_DASHES)])
        line = group.sort_values(x)
        ref = bool(line["reference"].iloc[0])
        label = _line_label(named, ref)
        color = _PALETTE[targets.index(named["target"]) % len(_PALETTE)]
        fig.add_scatter(name=label, x=line[x], y=line[value] * scale, mode="lines+markers",
                        line={"color": color, "dash": "dot" if ref else dash},
                        hovertemplate=f"{x} = %{{x}}<br>{value} = %{{y:.4g}}"
                                      f"<extra>{label}</extra>")


def _lines_caption(df: pd.DataFrame, rows: pd.DataFrame, value: str, x: str, keys: list[str],
                   derived: dict[str, Any] | None, scale: float) -> str:
    if derived:
        metric = derived.get("metric", "latency_s")
        where = ("at the same hardware point" if derived.get("at") == "point"
                 else "as its preset")
        what = (f"{value} = {metric} of {derived.get('baseline') or 'the baseline'} {where} "
                f"/ this row's {metric} (above 1: faster than the baseline)")
    else:
        what = f"{value.removesuffix('_s')} in ms" if value.endswith("_s") else value
    wcol = I.workload_column(df)
    if wcol and x not in I.WORKLOAD_AXES:
        workload = "; ".join(sorted({str(w) for w in df[wcol]}))
    elif {"model", "phase"} <= set(df.columns):
        workload = f"{df['model'].iloc[0]}, {df['phase'].iloc[0]}"
    else:
        workload = "as in the table"
    ends = _ends(rows.assign(**{value: rows[value] * scale}), x, value)
    return (f"{what}, against {x}; one line per {', '.join(keys)}"
            + (" (dotted: a preset reference row)" if rows["reference"].any() else "")
            + f". {ends}. Workload: {workload}.")


def sweep_lines(df: pd.DataFrame, value: str, x: str,
                derived: dict[str, Any] | None = None) -> go.Figure:
    """``value`` (a derived speedup, or ``latency_s``) of a sweep table against the axis
    ``x``: one line per target (color) and config point (dash), reference rows (a preset
    baseline such as a GPU) as their own line. A derived speedup leaves out its baseline's
    line (1 everywhere; the dotted line at 1 stands for it)."""
    for c in (x, value):
        if c not in df.columns:
            raise CodesignError(f"sweep_lines: no column {c!r}; columns: "
                                f"{', '.join(map(str, df.columns))}")
    df = df.assign(reference=df["reference"].astype(bool)) if "reference" in df.columns \
        else df.assign(reference=False)
    keys = _series(df, x)
    rows = df[df[value].notna()]
    if derived and derived.get("baseline"):
        at_preset = rows["reference"] if derived.get("at") == "preset" else ~rows["reference"]
        rows = rows[~((rows["target"] == derived["baseline"]) & at_preset)]
    scale = 1e3 if value.endswith("_s") else 1.0
    fig = go.Figure()
    _add_lines(fig, rows, keys, x, value, scale, list(dict.fromkeys(df["target"])))
    ys = rows[value].to_numpy(dtype=float) * scale
    ys = ys[np.isfinite(ys) & (ys > 0)]
    log_y = value.endswith("_s") and ys.size > 1 and ys.max() / ys.min() > 20
    if derived:
        fig.add_hline(y=1.0, line_dash="dot", line_color="gray")
    ytitle = f"{value} (x)" if derived else \
        f"{value.removesuffix('_s')} (ms)" if value.endswith("_s") else value
    return _finish(fig, f"{value} vs {x}",
                   _lines_caption(df, rows, value, x, keys, derived, scale),
                   xaxis=_x_layout(rows[x], x),
                   yaxis={"title": ytitle, "type": "log" if log_y else "linear"},
                   legend={"title": {"text": ", ".join(keys)}})


# ---- sensitivity heatmap ---------------------------------------------------------------

# The narrowest colour range a heatmap gets, as a fraction of its middle value: a model
# whose numbers are approximate to a few percent should not paint 0.3% apart in full
# contrast (the cells still print their values).
MIN_COLOR_SPAN = 0.05


def _color_range(z: np.ndarray, ratio: bool) -> tuple[float, float, bool]:
    """(zmin, zmax, widened): a ratio's range is centred on 1, any range is at least
    MIN_COLOR_SPAN of its middle wide."""
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        return 0.0, 1.0, False
    lo, hi = float(finite.min()), float(finite.max())
    if ratio:
        half = max(abs(lo - 1.0), abs(hi - 1.0))
        return 1.0 - max(half, MIN_COLOR_SPAN / 2), 1.0 + max(half, MIN_COLOR_SPAN / 2), \
            half < MIN_COLOR_SPAN / 2
    mid = (lo + hi) / 2
    half = max((hi - lo) / 2, abs(mid) * MIN_COLOR_SPAN / 2)
    return mid - half, mid + half, hi - lo < abs(mid) * MIN_COLOR_SPAN


def heatmap(df: pd.DataFrame, x: str, y: str, value: str = "latency_s",
            relative: bool = False, ratio: bool = False) -> go.Figure:
    """``value`` over two sweep axes ``x`` and ``y`` (other columns must not vary, or the
    cell would be ambiguous). ``relative`` shows the speedup over the cell at the smallest
    x and y (its value / each cell's value), with the value itself in each cell; ``ratio``
    says ``value`` is itself a speedup. Ratios get a diverging colour scale centred on 1;
    no scale is narrower than MIN_COLOR_SPAN of its middle."""
    for c in (x, y, value):
        if c not in df.columns:
            raise CodesignError(f"heatmap: no column {c!r}; columns: "
                                f"{', '.join(map(str, df.columns))}")
    dup = df.duplicated([x, y])
    if dup.any():
        raise CodesignError(f"heatmap: several rows share the same ({x}, {y}); fix the other "
                            f"axes first (e.g. df[df['other'] == value])")
    grid = df.pivot(index=y, columns=x, values=value).sort_index().sort_index(axis=1)
    z = grid.to_numpy(dtype=float)
    seconds = value.endswith("_s")
    shown = z * 1e3 if seconds else z
    unit = " ms" if seconds else ("x" if ratio else "")
    text = [[f"{v:.4g}{unit}" if np.isfinite(v) else "" for v in row] for row in shown]
    corner = f"{x}={tick(grid.columns[0])}, {y}={tick(grid.index[0])}"
    if relative:
        zz = z[0, 0] / z
        colorbar = f"speedup over {corner} (x)"
    else:
        zz = shown
        colorbar = value.removesuffix("_s") + (" (ms)" if seconds else " (x)" if ratio else "")
    zmin, zmax, widened = _color_range(zz, relative or ratio)
    fig = go.Figure(go.Heatmap(
        z=zz, x=[tick(v) for v in grid.columns], y=[tick(v) for v in grid.index], text=text,
        texttemplate="%{text}", colorbar={"title": {"text": colorbar}},
        colorscale="RdBu" if relative or ratio else "Viridis", zmin=zmin, zmax=zmax,
        hovertemplate=f"{x} = %{{x}}<br>{y} = %{{y}}<br>{value} = %{{text}}"
                      "<br>color %{z:.4g}<extra></extra>"))
    wcol = I.workload_column(df)
    workload = f" Workload: {df[wcol].iloc[0]}." if wcol else ""
    target = f" Target: {df['target'].iloc[0]}." if "target" in df.columns else ""
    what = (f"speedup over the ({corner}) corner; cells print {value}") if relative else value
    finite = zz[np.isfinite(zz)]
    spread = (f" The colour scale spans at least {MIN_COLOR_SPAN:.0%}: these cells differ by "
              f"{(finite.max() / finite.min() - 1):.2%} at most."
              if widened and finite.size and finite.min() > 0 else "")
    cap = f"Sensitivity of {value} to {x} and {y} (color: {what}).{target}{workload}{spread}"
    one = df["target"].iloc[0] if "target" in df.columns and df["target"].nunique() == 1 \
        else None
    return _finish(fig, f"Sensitivity: {value} over {x} x {y}" + (f" ({one})" if one else ""),
                   cap, xaxis={"title": I.axis_title(x), "type": "category"},
                   yaxis={"title": I.axis_title(y), "type": "category"})


# ---- timeline --------------------------------------------------------------------------

def timeline(result: Result) -> go.Figure:
    """Op instances in time (ms): one row per layer instance (collapsed layers expanded by
    repeat), bars colored by kind. Ops run back to back unless the Result carries start_s."""
    sp = T.spans(result)
    order = list(dict.fromkeys(sp["layer_label"]))
    fig = go.Figure()
    for kind, g in sp.groupby("kind", sort=False):
        fig.add_bar(name=str(kind), orientation="h", y=g["layer_label"], x=g["dur_s"] * 1e3,
                    base=g["start_s"] * 1e3, marker_color=kind_color(str(kind)),
                    customdata=np.stack([g["name"].astype(str), g["dur_s"] * 1e6], axis=-1),
                    hovertemplate="%{customdata[0]}: start %{base:.4g} ms, "
                                  "%{customdata[1]:.3g} µs<extra>" + str(kind) + "</extra>")
    end = float((sp["start_s"] + sp["dur_s"]).max()) if not sp.empty else 0.0
    placed = "the schedule's start times" if "start_s" in result.ops.columns \
        else "back to back in trace order"
    cap = (f"Timeline of {result.target}: {len(sp)} op instances ({len(order)} layer "
           f"instances; collapsed layers expanded by their repeat), placed {placed}; the last "
           f"ends at {end * 1e3:.4g} ms (latency {result.latency_s * 1e3:.4g} ms). Scenario: "
           f"{I.scenario_text(result.trace_meta)}.")
    height = max(350, min(1400, 90 + 16 * len(order)))
    return _finish(fig, f"Per-layer timeline: {result.target}", cap, barmode="overlay",
                   height=height, bargap=0.15,
                   xaxis={"title": "time (ms)"},
                   yaxis={"title": "layer instance", "categoryorder": "array",
                          "categoryarray": order, "autorange": "reversed"})
