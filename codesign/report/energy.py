"""The report's energy and area sections (issue #17), for Results that carry them.

Per scenario:

- energy per token by target (mJ/token, average W, tokens/J, mm^2) and by target and op
  kind (dynamic mJ per token; static, clock and GPU idle energy belong to no kind);
- Pareto fronts: latency against area (RISC-V targets: area is the cost whenever the
  results carry it) and latency against energy per token;
- power over the pass, op by op, per target;
- "Xattn pays for itself": each Xattn subset against the plain-RVV result of the same
  config: speed-up, energy saving, the area it adds, and both per added mm^2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from codesign.errors import CodesignError
from codesign.report import figures as F
from codesign.report import inputs as I
from codesign.result import Result


def _number(v: float | None, fmt: str = ".4g") -> str:
    return "" if v is None else format(v, fmt)


def energy_table(results: Sequence[Result]) -> pd.DataFrame:
    """One row per target: energy per token, average power, tokens/J and area."""
    rows = []
    for r in results:
        per_token = r.energy_j / r.new_tokens if r.energy_j is not None and r.new_tokens \
            else None
        rows.append({"target": r.target, "family": r.family,
                     "energy (mJ/token)": _number(per_token and per_token * 1e3),
                     "power (W)": _number(r.power_w), "tokens/J": _number(r.tokens_per_j),
                     "area (mm^2)": _number(r.area_mm2),
                     "largest part": max(r.energy_parts, key=r.energy_parts.__getitem__)
                     if r.energy_parts else ""})
    return pd.DataFrame(rows)


def kind_table(results: Sequence[Result]) -> pd.DataFrame:
    """Dynamic mJ per token by op kind (rows) and target (columns)."""
    cols = {r.target: {k: v / max(r.new_tokens, 1) * 1e3 for k, v in r.energy_by_kind().items()}
            for r in results}
    df = pd.DataFrame(cols).fillna(0.0)
    df = df.loc[df.sum(axis=1).sort_values(ascending=False).index]
    return df.map(lambda v: format(v, ".4g")).rename_axis("kind (mJ/token)").reset_index()


def _plain_of(r: Result, results: Sequence[Result]) -> Result | None:
    """The plain-RVV result of ``r``'s config (the same config but ``isa = rvv``)."""
    rest = {k: v for k, v in r.config.items() if k != "isa"}
    for p in results:
        if p.family == "riscv" and p.config.get("isa") == "rvv" and \
                {k: v for k, v in p.config.items() if k != "isa"} == rest:
            return p
    return None


def xattn_table(results: Sequence[Result]) -> pd.DataFrame | None:
    """Each Xattn subset against its plain-RVV result: speed-up, energy saving and the
    area they cost; None when no pair was run."""
    rows: list[dict[str, Any]] = []
    for r in results:
        if r.family != "riscv" or r.config.get("isa", "rvv") == "rvv":
            continue
        p = _plain_of(r, results)
        if p is None or not (p.energy_j and r.energy_j and p.area_mm2 and r.area_mm2):
            continue
        speedup = p.latency_s / r.latency_s if r.latency_s > 0 else float("nan")
        saving = 1.0 - r.energy_j / p.energy_j
        added = r.area_mm2 - p.area_mm2
        rows.append({
            "target": r.target, "over": p.target, "isa": r.config.get("isa"),
            "speedup": f"{speedup:.4g}x", "energy saving": f"{saving * 100:.3g}%",
            "added area (mm^2)": f"{added:.4g}",
            "area share": f"{added / r.area_mm2 * 100:.3g}%",
            "speedup per mm^2": f"{(speedup - 1) * 100 / added:.3g}%" if added > 0 else "n/a",
            "energy saving per mm^2": f"{saving * 100 / added:.3g}%" if added > 0 else "n/a",
        })
    return pd.DataFrame(rows) if rows else None


def sections(results: Sequence[Result]) -> list[Any]:
    """The energy/area sections of the report (page.Section objects), one set per
    scenario whose results carry energy."""
    from codesign.report.page import Section

    out = []
    for scenario in I.group_by_scenario(results):
        group = [r for r in scenario if r.energy_parts]
        if not group:
            continue
        scen = I.scenario_text(group[0].trace_meta)
        sec = Section(f"Energy and area: {scen}",
                      intro="Energy from each target's model (RISC-V: the simulated work of "
                            "every op, codesign.riscv.energy; GPU: board power by "
                            "utilisation, codesign.gpu.power); area of RISC-V clusters "
                            "(codesign.riscv.area).")
        sec.table = energy_table(group)
        _fronts(sec, group)
        sec.figures.append(power_timeline(group))
        out.append(sec)
        out.append(Section(f"Energy per token by op kind: {scen}", table=kind_table(group)))
        x = xattn_table(group)
        if x is not None:
            out.append(Section(
                f"Xattn pays for itself: {scen}", table=x,
                intro="Each Xattn subset against the plain-RVV run of the same config: its "
                      "speed-up and energy saving, the area its units add, and both per "
                      "added mm^2 (percent per mm^2)."))
    return out


def power_timeline(results: Sequence[Result]) -> Any:
    """Average power of each op over the pass, one step line per target: ops in trace
    order, each over its total time (a collapsed layer body spans all its repeats, as in
    the timeline). RISC-V ops draw their dynamic power plus the cluster's leakage and
    clock power; GPU ops their board power (idle included)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, r in enumerate(results):
        ops = r.ops[r.ops["total_seconds"] > 0]
        if ops.empty or "energy_j" not in ops:
            continue
        every_cycle = r.energy_parts.get("static", 0.0) + r.energy_parts.get("clock", 0.0)
        static = every_cycle / r.latency_s if r.latency_s > 0 else 0.0
        watts = ops["energy_j"] / ops["seconds"] + static
        edges = [0.0, *(ops["total_seconds"].cumsum() * 1e3)]  # each op's start, then end
        fig.add_scatter(name=r.target, x=edges, y=[*watts, float(watts.iloc[-1])],
                        mode="lines", text=[*ops["name"], ""],
                        line={"shape": "hv", "color": F._PALETTE[i % len(F._PALETTE)]},
                        hovertemplate="%{text}: %{y:.4g} W<extra>" + r.target + "</extra>")
    cap = ("Average power of each op over the pass (ops in trace order; a collapsed layer "
           "body spans all its repeats). Energy is the area under each line. Workload: "
           f"{I.scenario_text(results[0].trace_meta)}.")
    return F._finish(fig, "Power over the pass", cap, xaxis={"title": "time (ms)"},
                     yaxis={"title": "power (W)", "type": "log"})


def _fronts(sec: Any, group: Sequence[Result]) -> None:
    with_area = [r for r in group if r.area_mm2]
    if len(with_area) > 1:
        sec.figures.append(F.pareto(with_area, cost="area"))
    else:
        sec.notes.append("Latency-vs-area front omitted: fewer than two results carry an "
                         "area (only RISC-V targets have an area model).")
    if len(group) > 1:
        try:
            sec.figures.append(F.pareto(list(group), cost="j_per_token"))
        except CodesignError as exc:
            sec.notes.append(f"Energy-vs-latency front omitted: {exc}.")
    else:
        sec.notes.append("Energy-vs-latency front omitted: a front needs more than one "
                         "design point.")
