"""The Python API for notebooks: trace a model, time it on targets, compare them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from codesign import targets
from codesign.result import Result
from workloads.schema import Trace


def trace(model: str, phase: str = "prefill", batch: int = 1, seq: int | None = None,
          context: int | None = None, **options: Any) -> Trace:
    """Extract the operator trace of a forward pass (shape-only; see ``workloads.extract``).

    ``model`` is a registered name (``codesign models``) or the path of a config.json.
    Prefill takes ``seq`` (default 2048); decode takes ``context`` (default 4096).
    Other options: ``routing`` ("balanced", "zipf:S[:SEED]"), ``weight_dtype``.
    """
    from workloads.extract import trace as _trace  # imports torch: only when extracting

    return _trace(model, phase=phase, batch=batch, seq=seq, context=context, **options)


def as_trace(obj: Trace | str | Path) -> Trace:
    """A Trace, or a trace loaded from a Parquet path."""
    return obj if isinstance(obj, Trace) else Trace.load(obj)


def simulate(trace: Trace | str | Path, target: str, **overrides: Any) -> Result:
    """Time ``trace`` on ``target`` (a name from ``codesign targets``).

    Keyword overrides replace config fields by dotted path; since Python keywords cannot
    hold dots, pass them as ``**{"vector.dlen": 512}`` or with ``__`` (``vector__dlen=512``).
    """
    paths = {k.replace("__", "."): v for k, v in overrides.items()}
    return targets.resolve(target, paths).simulate(as_trace(trace))


def compare(trace: Trace | str | Path, target_names: Sequence[str],
            overrides: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per target: latency, tokens/s and speedup over the first target."""
    tr = as_trace(trace)
    rows = [simulate(tr, t, **(overrides or {})).summary() for t in target_names]
    df = pd.DataFrame(rows)
    df["speedup"] = df["latency_s"].iloc[0] / df["latency_s"]
    return df
