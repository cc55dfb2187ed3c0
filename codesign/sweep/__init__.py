"""Design-space sweeps: a TOML spec of workloads x targets x config axes, run in parallel.

>>> import codesign as cd
>>> df = cd.sweep("experiments/sweep_vlen_dlen.toml", out="runs/vlen_dlen", jobs=2)

The spec format is described in :mod:`codesign.sweep.spec`; the output directory and the
resumable results in :mod:`codesign.sweep.runner` and :mod:`codesign.sweep.store`.

``codesign.sweep`` (the package attribute) is the :func:`sweep` function, which hides this
package there: import its modules with ``from codesign.sweep import spec`` or
``from codesign.sweep.spec import load_spec`` (``import codesign.sweep.spec`` fails).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from codesign.sweep.spec import MAX_ROWS, Spec, load_spec
from workloads.lazy import lazy_names

if TYPE_CHECKING:
    import pandas as pd

    from codesign.sweep.runner import RunInfo, assemble, run_with_info

__all__ = ["RunInfo", "Spec", "assemble", "load_spec", "run_with_info", "sweep"]


# the runner's names, imported on first use (`codesign sweep --help` reads the spec only)
__getattr__ = lazy_names(__name__, {n: "codesign.sweep.runner"
                                    for n in ("RunInfo", "assemble", "run_with_info")})


def sweep(spec_or_path: str | Path | dict[str, Any] | Spec, jobs: int | None = None,
          scheduler: str | None = None, out: str | Path | None = None,
          chunk: int | None = None, progress: bool = True,
          max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """Run a sweep; one row per (point, workload) with every axis value and metric.

    ``spec_or_path``: a spec file, a parsed spec (a dict as tomllib returns it) or a
    :class:`Spec`. ``jobs``: local worker processes (default: every CPU; 1 runs here).
    ``scheduler``: the address of a Dask distributed scheduler to run on instead.
    ``out``: the results directory; a rerun skips finished points (default: a temporary
    directory, so nothing is kept). ``chunk``: points per batch and part file.
    ``max_rows``: refuse a spec of more rows (points x workloads) than this.
    """
    from codesign.sweep.runner import run_with_info

    df, _ = run_with_info(spec_or_path, out=out, jobs=jobs, scheduler=scheduler, chunk=chunk,
                          progress=progress, max_rows=max_rows)
    return df
