"""Fit the SRAM macro constants (area.sram_cells_*) on CACTI 7.0 macros.

    PYTHONPATH=. python benchmarks/fit_sram.py        # prints the fitted values

The fitting set is codesign/validation/sram_cacti.csv (its header says how CACTI was run):
single-port scratch-RAM macros at 22 nm, 2 KiB to 2 MiB, 64 to 512 bits wide. Each area is
counted in CACTI's bit cells (146 F^2 at F = 22 nm: CACTI tech_params/22nm.dat) and fitted,
by least squares on the relative error, as a x bits + b x w + c x w^2 + d x w x sqrt(bits)
(codesign.silicon.sram_macro_cells). The values printed are the ones AreaConfig holds.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

CSV = Path(__file__).resolve().parents[1] / "codesign" / "validation" / "sram_cacti.csv"
CACTI_CELL_UM2 = 146 * 0.022 ** 2  # CACTI tech_params/22nm.dat: SRAM area_cell 146 F^2


def cacti_rows() -> list[tuple[float, float, float]]:
    """(bits, width bits, single-port area in CACTI bit cells) of every CACTI macro."""
    with CSV.open() as f:
        lines = [ln for ln in f if not ln.startswith("#")]
    return [(float(r["kib"]) * 8192, float(r["width_bits"]),
             float(r["area_mm2"]) * 1e6 / CACTI_CELL_UM2) for r in csv.DictReader(lines)]


def fit() -> tuple[np.ndarray, float, float]:
    """The coefficients (a, b, c, d), and the fit's max and rms relative error."""
    rows = cacti_rows()
    x = np.array([[b, w, w * w, w * math.sqrt(b)] for b, w, _ in rows])
    y = np.array([a for *_, a in rows])
    coef, *_ = np.linalg.lstsq(x / y[:, None], np.ones_like(y), rcond=None)
    err = x @ coef / y - 1
    return coef, float(np.abs(err).max()), float(np.sqrt(np.mean(err ** 2)))


def main() -> None:
    coef, worst, rms = fit()
    for name, v in zip(("sram_cells_per_bit", "sram_cells_per_column",
                        "sram_cells_per_column_sq", "sram_cells_per_column_route"), coef,
                       strict=True):
        print(f"area.{name} = {v:.4g}")
    print(f"{len(cacti_rows())} CACTI macros: max |error| {worst:.1%}, rms {rms:.1%}")


if __name__ == "__main__":
    main()
