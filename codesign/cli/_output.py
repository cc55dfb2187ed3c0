"""Shared output helpers for subcommands: ``--format table|json``."""

from __future__ import annotations

import argparse
import json
import math
import numbers
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def _columns(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]],
                                                      list[bool]] | None:
    """Columns, records and which columns are numeric, as a DataFrame of ``rows`` would
    type them (so a list of dicts is printed without importing pandas); None where its
    rules are not this simple (missing values)."""
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    if any(len(r) != len(cols) or any(v is None for v in r.values()) for r in rows):
        return None
    records = [[r[c] for c in cols] for r in rows]
    numeric = []
    for i in range(len(cols)):
        vals = [rec[i] for rec in records]
        if all(isinstance(v, bool) for v in vals):
            numeric.append(True)
        elif all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in vals):
            numeric.append(True)
            if not all(isinstance(v, numbers.Integral) for v in vals):
                for rec in records:  # an int among floats is a float64 in a DataFrame
                    rec[i] = float(rec[i])
        else:
            numeric.append(False)
    return cols, records, numeric


def format_table(rows: pd.DataFrame | Sequence[dict[str, Any]], floatfmt: str = "{:.4g}") -> str:
    """A plain aligned text table (right-aligned numbers, left-aligned text)."""
    plain = None if hasattr(rows, "itertuples") else _columns(list(rows))  # type: ignore[arg-type]
    if plain is None:
        import pandas as pd

        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        plain = ([str(c) for c in df.columns], [list(r) for r in df.itertuples(index=False)],
                 [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns])
    cols, records, numeric = plain
    if not records:
        return "(no rows)"
    cells = []
    for rec in records:
        line = []
        for v in rec:
            if isinstance(v, float):
                # large values in full with thousands separators, not as 3.949e+04
                line.append(f"{v:,.0f}" if abs(v) >= 1e4 else floatfmt.format(v))
            else:
                line.append(str(v))
        cells.append(line)
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]

    def fmt(vals: list[str]) -> str:
        cells = zip(vals, widths, numeric, strict=True)
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in cells).rstrip()

    out = [fmt(cols), fmt(["-" * w for w in widths])]
    out.extend(fmt(r) for r in cells)
    return "\n".join(out)


def print_table(rows: pd.DataFrame | Sequence[dict[str, Any]], floatfmt: str = "{:.4g}") -> None:
    print(format_table(rows, floatfmt))
