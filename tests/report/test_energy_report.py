"""The report's energy and area sections (codesign.report.energy)."""

from __future__ import annotations

import pytest

from codesign.cli import main
from codesign.report import energy as E
from codesign.report import inputs as I


def test_energy_table_has_every_target_with_energy_per_token(riscv_results, gpu_results):
    results = [*riscv_results, *gpu_results]
    df = E.energy_table(results)
    assert list(df["target"]) == [r.target for r in results]
    for r, (_, row) in zip(results, df.iterrows(), strict=True):
        assert float(row["energy (mJ/token)"]) == pytest.approx(
            r.energy_j / r.new_tokens * 1e3, rel=1e-3)
    assert df.set_index("target").loc["h100-sxm", "area (mm^2)"] == ""
    assert float(df.set_index("target").loc["c950-like", "area (mm^2)"]) > 0


def test_kind_table_sums_to_the_dynamic_energy(riscv_results):
    df = E.kind_table(riscv_results).set_index("kind (mJ/token)").astype(float)
    for r in riscv_results:
        dyn = r.energy_j - r.energy_parts["static"] - r.energy_parts["clock"]
        assert df[r.target].sum() == pytest.approx(dyn / r.new_tokens * 1e3, rel=1e-3)


def test_xattn_pays_table_pairs_each_subset_with_its_plain_run(riscv_results, gpu_results):
    df = E.xattn_table([*riscv_results, *gpu_results])
    assert df is not None and list(df["target"]) == ["c950-like+xattn"]
    row = df.iloc[0]
    plain, x = riscv_results
    assert row["over"] == "c950-like"
    assert float(row["added area (mm^2)"]) == pytest.approx(x.area_mm2 - plain.area_mm2,
                                                            rel=1e-3)
    speedup = plain.latency_s / x.latency_s
    assert row["speedup"] == f"{speedup:.4g}x"
    added = x.area_mm2 - plain.area_mm2
    assert row["speedup per mm^2"] == f"{(speedup - 1) * 100 / added:.3g}%"
    assert E.xattn_table(gpu_results) is None


def test_report_page_has_the_energy_sections_and_fronts(result_files, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", *map(str, result_files), "-o", str(out)]) == 0
    html = out.read_text()
    assert "Energy and area: " in html and "Xattn pays for itself" in html
    assert "Latency vs cost (area)" in html and "Latency vs cost (j_per_token)" in html


def test_area_cost_of_results_without_area_is_one_clear_error(gpu_results):
    with pytest.raises(Exception, match="carry no area"):
        I.cost(I.results_table(gpu_results), "area")


def test_power_timeline_integrates_to_the_energy(riscv_results, gpu_results):
    results = [*riscv_results, *gpu_results]
    fig = E.power_timeline(results)
    assert [t.name for t in fig.data] == [r.target for r in results]
    for r, t in zip(results, fig.data, strict=True):
        x, y = list(t.x), list(t.y)
        joules = sum((x[i + 1] - x[i]) / 1e3 * y[i] for i in range(len(x) - 1))
        assert joules == pytest.approx(r.energy_j, rel=1e-6)
