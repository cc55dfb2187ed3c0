"""Report pages of whole requests (``codesign run --phase generate -o``): per request
(model, prompt, output, batch) a table of time to first token, time per output token and
end-to-end tokens/s by target, the time per output token over the decode steps, and where
the request's time goes by op kind.

- :func:`generation_table`: the table (one row per target, speedups over the baseline).
- :func:`tpot`: seconds per output token against the output token's index, a line per target.
- :func:`generation_breakdown`: stacked bars of the request's seconds by op kind.
- :func:`sections`: the report sections for a list of GenerateResults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from codesign.errors import CodesignError
from codesign.report.figures import _PALETTE, _finish, kind_color

if TYPE_CHECKING:
    from codesign.report.page import Section
    from codesign.result import GenerateResult


def request_text(g: GenerateResult) -> str:
    return (f"{g.model} generate, batch {g.batch}, prompt {g.prompt:,} tokens, "
            f"output {g.output:,} tokens")


def _key(g: GenerateResult) -> tuple[Any, ...]:
    return (g.model, g.prompt, g.output, g.batch)


def group_requests(gens: Sequence[GenerateResult]) -> list[list[GenerateResult]]:
    """GenerateResults grouped by request (model, prompt, output, batch), in input order."""
    groups: dict[tuple[Any, ...], list[GenerateResult]] = {}
    for g in gens:
        groups.setdefault(_key(g), []).append(g)
    return list(groups.values())


def _checked(gens: Sequence[GenerateResult]) -> list[GenerateResult]:
    gens = list(gens)
    if not gens:
        raise CodesignError("no generation results given")
    if len({_key(g) for g in gens}) > 1:
        raise CodesignError("generation results of different requests: "
                            + "; ".join(dict.fromkeys(request_text(g) for g in gens)))
    return gens


def generation_table(gens: Sequence[GenerateResult], baseline: str | None = None
                     ) -> pd.DataFrame:
    """One row per target: engine, TTFT, mean and last time per output token, end to end,
    output tokens/s, speedup of the end-to-end time over ``baseline`` (default: the first),
    and whether the model fits the target's memory."""
    gens = _checked(gens)
    base = next((g for g in gens if g.target == baseline), gens[0])
    return pd.DataFrame([{
        "target": g.target, "engine": g.engine or "-",
        "TTFT (ms)": g.ttft_s * 1e3, "TPOT mean (ms)": g.tpot_mean_s * 1e3,
        "TPOT last (ms)": g.tpot_last_s * 1e3, "end to end (s)": g.e2e_s,
        "output tokens/s": g.output_tokens_per_s,
        f"speedup over {base.target}": base.e2e_s / g.e2e_s if g.e2e_s > 0 else np.nan,
        "fits memory": _fits(g),
    } for g in gens])


def _fits(g: GenerateResult) -> str:
    mem = g.prefill.memory
    return "-" if mem is None or mem.fits is None else "yes" if mem.fits else "NO"


def tpot(gens: Sequence[GenerateResult]) -> go.Figure:
    """Time per output token (ms) against the output token's index, a line per target;
    markers at the contexts that were timed (the rest is interpolated between them)."""
    gens = _checked(gens)
    fig = go.Figure()
    for i, g in enumerate(gens):
        color = _PALETTE[i % len(_PALETTE)]
        steps = np.arange(2, len(g.step_seconds) + 2)  # token 1 comes from the prefill
        fig.add_scatter(name=g.target, x=steps, y=g.step_seconds * 1e3, mode="lines",
                        line={"color": color},
                        hovertemplate=g.target + ": token %{x}, %{y:.4g} ms<extra></extra>")
        ctx = sorted(g.sampled)
        fig.add_scatter(name=f"{g.target} (timed)", x=[c - g.prompt + 2 for c in ctx],
                        y=[g.sampled[c] * 1e3 for c in ctx], mode="markers",
                        marker={"color": color, "size": 7}, showlegend=False,
                        hovertemplate=g.target + ": token %{x} timed, %{y:.4g} ms"
                        "<extra></extra>")
    worst = max(g.bound_s / g.e2e_s for g in gens if g.e2e_s > 0) if gens else 0.0
    cap = (f"Time per output token over the request, a line per target; markers are the "
           f"decode contexts that were timed, the line between them is interpolated (error "
           f"bound at most {100 * worst:.2g}% of end to end). Request: "
           f"{request_text(gens[0])}.")
    return _finish(fig, "Time per output token", cap,
                   xaxis={"title": "output token (index)"},
                   yaxis={"title": "time per output token (ms)", "rangemode": "tozero"})


def generation_breakdown(gens: Sequence[GenerateResult]) -> go.Figure:
    """Stacked bars of the request's seconds by op kind (prefill and every decode step;
    ``host`` is the serving engine's per-step CPU time), one bar per target; diamonds mark
    the end-to-end time."""
    gens = _checked(gens)
    table = pd.DataFrame({g.target: g.breakdown for g in gens}).T.fillna(0.0)
    kinds = list(table.sum(axis=0).sort_values(ascending=False).index)
    fig = go.Figure()
    for kind in kinds:
        fig.add_bar(name=kind, x=list(table.index), y=list(table[kind]),
                    marker_color=kind_color(kind),
                    hovertemplate="%{x}<br>" + kind + ": %{y:.4g} s<extra></extra>")
    fig.add_scatter(name="end to end", x=[g.target for g in gens], y=[g.e2e_s for g in gens],
                    mode="markers", marker={"symbol": "diamond", "size": 11, "color": "black"},
                    hovertemplate="%{x}: end to end %{y:.4g} s<extra></extra>")
    cap = ("Where the request's time goes, by op kind (seconds over the prefill and every "
           "decode step; host is the serving engine's per-step CPU time on GPU targets; the "
           f"diamond is the end-to-end time). Request: {request_text(gens[0])}.")
    return _finish(fig, "Request time by op kind", cap, barmode="stack",
                   xaxis_title="target", yaxis_title="time (s)")


def sections(gens: Sequence[GenerateResult], baseline: str | None) -> list[Section]:
    """A report section per request: its table, TPOT over the steps and its breakdown."""
    from codesign.report.page import Section

    out = []
    for group in group_requests(gens):
        names = [g.target for g in group]
        first = next((g for g in group if g.target == baseline), group[0])
        ordered = [first, *[g for g in group if g is not first]]
        sec = Section(f"Generation: {request_text(group[0])}",
                      table=generation_table(ordered))
        if baseline is not None and baseline not in names:
            sec.notes.append(f"baseline {baseline} was not run for this request; "
                             f"{first.target} is the baseline here.")
        sec.figures.extend([tpot(ordered), generation_breakdown(ordered)])
        out.append(sec)
    return out
