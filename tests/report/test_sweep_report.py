"""The report of a sweep answers the sweep's question: it leads with the spec's derived
speedups against the swept workload axis (a line per target and config point, the preset
reference rows kept), draws heatmaps only over two config axes that vary, with colour
ranges that do not paint noise, and says when the sweep it shows is incomplete."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

import codesign as cd
from codesign.cli import main
from codesign.report import figures as F
from codesign.report import inputs as I
from codesign.report.page import build
from codesign.sweep import store

from .conftest import DATA

SPEC = f"""\
name = "tiny-context"
description = "Does H100 stay ahead of A100 as the context grows?"

[workloads]
model = "{DATA / 'tiny-qwen3.5.json'}"
phase = "decode"
context = [16, 64, 256]

[axes]
target = ["h100-sxm", "a100-80gb"]
"memory.dram_gbps" = [1000.0, 2000.0]
{{extra}}
[derived.speedup_vs_a100]
speedup_over = "a100-80gb"

[derived.speedup_vs_l4]
speedup_over = "l4"
"""
ROWS = 3 * (2 * 2 * 2 + 1)  # 3 contexts x (2 targets x 2 x 2 + the l4 preset)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    spec = d / "spec-src.toml"
    spec.write_text(SPEC.format(extra='"efficiency.dram_stream" = [0.8, 0.9]'))
    cd.sweep(spec, jobs=1, out=d / "out", progress=False)
    return d / "out"


@pytest.fixture(scope="module")
def report(sweep_dir):
    return build(I.load([sweep_dir]))


def test_the_first_figure_is_the_derived_speedup_against_context(report, sweep_dir):
    fig = report.figures[0]
    assert fig.layout.title.text == "speedup_vs_a100 vs context"
    assert fig.layout.xaxis.title.text == "context (tokens)"
    assert list(fig.layout.xaxis.ticktext) == ["16", "64", "256"]
    df = pd.read_parquet(sweep_dir / store.RESULTS)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    # one line per h100 point (2 bandwidths x 2 efficiencies); the baseline's is 1 and left out
    assert len(lines) == 4 and all(t.name.startswith("h100-sxm, ") for t in lines)
    for t in lines:
        bw = float(t.name.split("memory.dram_gbps=")[1].split(",")[0])
        eff = float(t.name.split("efficiency.dram_stream=")[1])
        at = df[(df["memory.dram_gbps"] == bw) & (df["efficiency.dram_stream"] == eff)]
        a100 = at[at.target == "a100-80gb"].set_index("context")["latency_s"]
        h100 = at[at.target == "h100-sxm"].set_index("context")["latency_s"]
        assert list(t.x) == [16, 64, 256]
        assert list(t.y) == pytest.approx(list(a100 / h100))
    assert "At context = 16, " in F.caption(fig) and "at context = 256, " in F.caption(fig)


def test_reference_rows_are_kept_as_their_own_line(report):
    vs_l4 = next(f for f in report.figures if f.layout.title.text == "speedup_vs_l4 vs context")
    names = [t.name for t in vs_l4.data if t.mode == "lines+markers"]
    assert len(names) == 8 and not any(n.startswith("l4") for n in names)  # l4 is the 1
    latency = next(f for f in report.figures if f.layout.title.text == "latency_s vs context")
    ref = [t for t in latency.data if t.name == "l4 (preset)"]
    assert len(ref) == 1 and len(ref[0].x) == 3 and ref[0].line.dash == "dot"
    assert "dotted: a preset reference row" in F.caption(latency)


def test_heatmaps_of_the_speedup_per_target_at_one_workload(report):
    maps = [f for f in report.figures if f.layout.title.text.startswith("Sensitivity")]
    assert [f.layout.title.text for f in maps] == [
        "Sensitivity: speedup_vs_a100 over memory.dram_gbps x efficiency.dram_stream "
        "(h100-sxm)"]
    hm = maps[0].data[0]
    assert list(hm.x) == ["1000", "2000"]  # integer values without ".0"
    assert hm.zmin + hm.zmax == pytest.approx(2.0)  # a ratio: the scale is centred on 1
    assert "context 256" in F.caption(maps[0])  # the last workload, where the lines end


def test_no_heatmap_when_one_config_axis_varies(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(extra=""))
    cd.sweep(spec, jobs=1, out=tmp_path / "out", progress=False)
    rep = build(I.load([tmp_path / "out"]))
    assert not [f for f in rep.figures if f.layout.title.text.startswith("Sensitivity")]
    assert any("varies 1 numeric config axis; a heatmap needs two" in n for n in rep.notes)
    assert rep.figures[0].layout.title.text == "speedup_vs_a100 vs context"


def test_a_nearly_flat_heatmap_is_not_painted_in_full_contrast():
    rows = [{"vector.vlen": v, "vector.dlen": d, "latency_s": 0.1 * (1 + 1e-3 * (v // d))}
            for v in (512, 1024) for d in (256, 512)]
    fig = F.heatmap(pd.DataFrame(rows), x="vector.vlen", y="vector.dlen")
    hm = fig.data[0]
    z = np.asarray(hm.z, dtype=float)
    assert hm.zmax - hm.zmin == pytest.approx(F.MIN_COLOR_SPAN * (z.max() + z.min()) / 2)
    assert "these cells differ by 0.30% at most" in F.caption(fig)


def test_an_interrupted_sweep_is_reported_as_such(sweep_dir, tmp_path, capsys):
    part = tmp_path / "part"
    shutil.copytree(sweep_dir, part)
    (part / store.RESULTS).unlink()
    files = store.part_files(part)
    files[0].unlink()
    done = ROWS - len(pd.read_parquet(sweep_dir / "parts" / files[0].name))
    out = tmp_path / "r.html"
    assert main(["report", str(part), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"codesign report: warning: the sweep in {str(part)!r} did not "
                          f"finish: {done} of {ROWS} rows are done")
    assert "Incomplete: the sweep in" in out.read_text()


def test_an_interrupted_sweep_of_a_relative_path_spec_counts_its_rows(tmp_path, capsys):
    """spec.toml's relative model path does not resolve from the output directory: the
    row total comes from the sweep.json the run wrote."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(DATA / "tiny-qwen3.5.json", src / "tiny.json")
    spec = src / "spec.toml"
    spec.write_text(SPEC.format(extra="").replace(str(DATA / "tiny-qwen3.5.json"),
                                                  "tiny.json"))
    out = tmp_path / "out"
    cd.sweep(spec, jobs=1, out=out, progress=False)
    rows = 3 * (2 * 2 + 1)  # no efficiency axis: 3 contexts x (2 targets x 2 + l4)
    (out / store.RESULTS).unlink()
    first = store.part_files(out)[0]
    done = rows - len(pd.read_parquet(first))
    first.unlink()
    assert main(["report", str(out), "-o", str(tmp_path / "r.html")]) == 0
    assert f"did not finish: {done} of {rows} rows are done" in capsys.readouterr().err


def test_a_sweep_still_being_written_names_its_writer(sweep_dir, tmp_path, capsys):
    from codesign.sweep.lock import locked

    running = tmp_path / "running"
    shutil.copytree(sweep_dir, running)
    with locked(running):
        assert main(["report", str(running), "-o", str(tmp_path / "r.html")]) == 0
    err = capsys.readouterr().err
    assert "is still running (pid " in err and f"{ROWS} of {ROWS} rows are finished" in err


def test_rows_without_results_in_results_parquet_are_counted(sweep_dir, tmp_path, capsys):
    holes = tmp_path / "holes"
    shutil.copytree(sweep_dir, holes)
    df = pd.read_parquet(holes / store.RESULTS)
    df.loc[df.index[:5], "latency_s"] = np.nan
    df.to_parquet(holes / store.RESULTS)
    assert main(["report", str(holes), "-o", str(tmp_path / "r.html")]) == 0
    err = capsys.readouterr().err
    assert f"is incomplete: {ROWS - 5} of {ROWS} rows have results" in err


def test_a_complete_sweep_says_nothing_on_stderr(sweep_dir, tmp_path, capsys):
    assert main(["report", str(sweep_dir), "-o", str(tmp_path / "r.html")]) == 0
    assert capsys.readouterr().err == ""
