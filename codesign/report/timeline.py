"""The simulated timeline of a Result: op instances in time, and its Chrome/Perfetto export.

A Result keeps identical layers collapsed (one body with ``repeat``). The timeline expands
each body into its ``repeat`` instances, placed in the model's layer order (the ``layers``
column lists which decoder layers a body stands for). Where the ops carry
``start_s`` (and ``core``) from a schedule, those place the first instance of each body;
otherwise ops run back to back in trace order on one track (a GPU stream), which is how the
GPU model times a pass, so the last op ends at the Result's latency.

:func:`to_chrome_trace` gives the Trace Event Format that chrome://tracing and
https://ui.perfetto.dev open: one process per target, one thread (track) per core or
stream with "X" complete events (``ts``/``dur`` in microseconds), and a "layers" track
with one event per layer instance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from codesign.outputs import write_atomically
from codesign.result import Result

LAYER_TRACK = 0  # tid of the per-layer track; cores/streams are 1 + core


def _blocks(ops: pd.DataFrame) -> list[pd.DataFrame]:
    """Consecutive runs of rows of the same (layer, repeat): one layer body each."""
    key = ops["layer"].astype(str) + "/" + ops["repeat"].astype(str)
    run = (key != key.shift()).cumsum()
    return [g for _, g in ops.groupby(run, sort=True)]


def _layer_label(layer: int, layer_type: str, instance: int, repeat: int) -> str:
    if layer < 0:
        return "model"
    if repeat == 1:
        return f"L{layer} {layer_type}"
    return f"L{layer} {layer_type} #{instance + 1}/{repeat}"


def _instances(blocks: list[pd.DataFrame]) -> list[tuple[int, int, int | None]]:
    """(block, instance, decoder-layer index or None) in execution order. With the
    trace's ``layers`` column, layer instances run in the model's real layer order (a
    hybrid model interleaves its layer types); without it, each body's repeats run
    consecutively."""
    pre: list[tuple[int, int, int | None]] = []
    post: list[tuple[int, int, int | None]] = []
    layered: list[tuple[tuple[int, int, int], tuple[int, int, int | None]]] = []
    for b, block in enumerate(blocks):
        layer, repeat = int(block["layer"].iloc[0]), int(block["repeat"].iloc[0])
        if layer < 0:
            (post if layered else pre).extend((b, k, None) for k in range(repeat))
            continue
        listed = str(block["layers"].iloc[0]) if "layers" in block.columns else ""
        indices = [int(x) for x in listed.split(",") if x != ""]
        for k in range(repeat):
            if len(indices) == repeat:
                layered.append(((indices[k], 0, b), (b, k, indices[k])))
            else:  # no usable layer list: the body's repeats run consecutively
                layered.append(((layer, k, b), (b, k, None)))
    layered.sort(key=lambda e: e[0])
    return pre + [entry for _, entry in layered] + post


def spans(result: Result) -> pd.DataFrame:
    """One row per op instance: start_s, dur_s, track, instance, layer_label, and the op's
    name, kind, layer, layer_type, module, op_id, flops, bytes, bound."""
    ops = result.ops.reset_index(drop=True)
    scheduled = "start_s" in ops.columns
    blocks = _blocks(ops)
    rows: list[dict[str, Any]] = []

    def add(block: pd.DataFrame, b: int, k: int, label: str, starts: list[float]) -> None:
        for op, start in zip(block.itertuples(index=False), starts, strict=True):
            rows.append({
                "start_s": start, "dur_s": float(op.seconds),
                "track": int(getattr(op, "core", 0)) if scheduled else 0,
                "block": b, "instance": k, "layer_label": label,
                "layer": int(block["layer"].iloc[0]),
                "layer_type": str(block["layer_type"].iloc[0]), "name": op.name,
                "kind": op.kind, "module": op.module, "op_id": int(op.op_id),
                "flops": float(op.flops), "bytes": float(op.bytes), "bound": op.bound,
            })

    if not scheduled:
        clock = 0.0  # back to back: each op starts where the previous one ended
        for b, k, index in _instances(blocks):
            block = blocks[b]
            repeat = int(block["repeat"].iloc[0])
            ltype = str(block["layer_type"].iloc[0])
            if index is not None:
                label = f"L{index} {ltype}"
            else:
                label = _layer_label(int(block["layer"].iloc[0]), ltype, k, repeat)
            durations = [float(x) for x in block["seconds"]]
            starts = [clock + sum(durations[:i]) for i in range(len(durations))]
            clock += sum(durations)
            add(block, b, k, label, starts)
    else:
        shift = 0.0  # time added by expanding earlier bodies' repeats
        prev: tuple[float, float, int] | None = None  # previous (start, span, repeat)
        for b, block in enumerate(blocks):
            repeat = int(block["repeat"].iloc[0])
            start0 = float(block["start_s"].min())
            span = float((block["start_s"] + block["seconds"]).max()) - start0
            # make room for the previous body's repeats unless the schedule left it
            if prev is not None and start0 < prev[0] + prev[2] * prev[1] * (1 - 1e-9):
                shift += (prev[2] - 1) * prev[1]
            prev = (start0, span, repeat)
            for k in range(repeat):
                label = _layer_label(int(block["layer"].iloc[0]),
                                     str(block["layer_type"].iloc[0]), k, repeat)
                add(block, b, k, label,
                    [float(x) + shift + k * span for x in block["start_s"]])
    return pd.DataFrame(rows, columns=[
        "start_s", "dur_s", "track", "block", "instance", "layer_label", "layer", "layer_type",
        "name", "kind", "module", "op_id", "flops", "bytes", "bound"])


def _track_name(result: Result, track: int) -> str:
    return f"core {track}" if result.family == "riscv" or track else "stream 0"


def to_chrome_trace(result: Result | Sequence[Result]) -> dict[str, Any]:
    """The timeline(s) as a Chrome trace (``{"traceEvents": [...], ...}``); several
    Results become several processes of one trace."""
    results = [result] if isinstance(result, Result) else list(result)
    events: list[dict[str, Any]] = []
    for pid, r in enumerate(results, start=1):
        sp = spans(r)
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": LAYER_TRACK,
                       "args": {"name": r.target}})
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": LAYER_TRACK,
                       "args": {"name": "layers"}})
        for track in sorted(sp["track"].unique()) if not sp.empty else []:
            events.append({"ph": "M", "name": "thread_name", "pid": pid,
                           "tid": 1 + int(track), "args": {"name": _track_name(r, int(track))}})
        for s in sp.itertuples(index=False):
            events.append({
                "name": s.name, "cat": s.kind, "ph": "X", "pid": pid, "tid": 1 + int(s.track),
                "ts": s.start_s * 1e6, "dur": s.dur_s * 1e6,
                "args": {"layer": s.layer_label, "module": s.module, "op_id": s.op_id,
                         "flops": s.flops, "bytes": s.bytes, "bound": s.bound},
            })
        if not sp.empty:  # one event per layer instance, spanning its ops on all tracks
            sp["end_s"] = sp["start_s"] + sp["dur_s"]
            lay = sp.groupby(["block", "instance"], sort=False).agg(
                label=("layer_label", "first"), start=("start_s", "min"), end=("end_s", "max"),
                ops=("op_id", "size"))
            for row in lay.itertuples(index=False):
                events.append({"name": row.label, "cat": "layer", "ph": "X", "pid": pid,
                               "tid": LAYER_TRACK, "ts": row.start * 1e6,
                               "dur": (row.end - row.start) * 1e6, "args": {"ops": int(row.ops)}})
    first = results[0] if results else None
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "model": first.trace_meta.get("model") if first else None,
            "scenario": first.scenario if first else {},
            "targets": [r.target for r in results],
            "latency_s": {r.target: r.latency_s for r in results},
        },
    }


def write_chrome_trace(result: Result | Sequence[Result], path: str | Path) -> Path:
    """Write :func:`to_chrome_trace` as JSON (atomically); open it in ui.perfetto.dev."""
    text = json.dumps(to_chrome_trace(result))
    return write_atomically(path, lambda f: f.write(text.encode()))
