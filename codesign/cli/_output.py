"""Shared output helpers for subcommands: ``--format table|json``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import pandas as pd


def add_format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("table", "json"), default="table",
        help="table for people (default), json for programs",
    )


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):  # numpy scalars
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def print_json(obj: Any) -> None:
    json.dump(_jsonable(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")


def format_table(rows: pd.DataFrame | Sequence[dict[str, Any]], floatfmt: str = "{:.4g}") -> str:
    """A plain aligned text table (right-aligned numbers, left-aligned text)."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if df.empty:
        return "(no rows)"
    cols = [str(c) for c in df.columns]
    cells = []
    for rec in df.itertuples(index=False):
        line = []
        for v in rec:
            if isinstance(v, float):
                # large values in full with thousands separators, not as 3.949e+04
                line.append(f"{v:,.0f}" if abs(v) >= 1e4 else floatfmt.format(v))
            else:
                line.append(str(v))
        cells.append(line)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]

    def fmt(vals: list[str]) -> str:
        cells = zip(vals, widths, numeric, strict=True)
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in cells).rstrip()

    out = [fmt(cols), fmt(["-" * w for w in widths])]
    out.extend(fmt(r) for r in cells)
    return "\n".join(out)


def print_table(rows: pd.DataFrame | Sequence[dict[str, Any]], floatfmt: str = "{:.4g}") -> None:
    print(format_table(rows, floatfmt))
