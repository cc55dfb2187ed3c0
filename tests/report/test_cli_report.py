"""`codesign report`: the page holds every figure the inputs support, notes for the rest,
and user errors are one line with exit status 2."""

from __future__ import annotations

import re

import pytest

from codesign.cli import main
from codesign.result import Result


def _figures(html: str) -> int:
    return len(re.findall(r"<figure><div[^>]*>\s*<div id=\"figure-\d+\"", html))


def test_report_from_run_outputs(result_files, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", *map(str, result_files), "-o", str(out)]) == 0
    html = out.read_text()
    n = len(result_files)
    # speedup, breakdown (and its share view when latencies differ over 10x), a roofline
    # and a timeline per target; the energy section's latency-vs-area and
    # latency-vs-energy-per-token fronts and its power timeline (#17)
    lats = [Result.load(p).latency_s for p in result_files]
    expected = 1 + 1 + n + n + (1 if max(lats) / min(lats) > 10 else 0) + 3
    assert _figures(html) == expected
    printed = capsys.readouterr().out
    assert f"wrote {out}: {expected} figures" in printed
    assert "baseline: c950-like (the first result given" in printed
    assert "Sensitivity heatmaps omitted" in html  # no sweep given: said, not faked
    assert "Plotly.newPlot" in html and "plotly.js v" in html  # bundle inlined: opens offline
    assert "http://" not in html.split("<body>")[1].split("Plotly.newPlot")[0]
    assert "c950-like (baseline)" in html


def test_report_with_sweep_and_cost(result_files, tmp_path):
    import pandas as pd

    rows = [{"target": t, "vector.vlen": v, "dram.bandwidth_gbps": b, "model": "tiny",
             "phase": "decode", "batch": 1, "seq": 0, "context": 64, "reference": False,
             "latency_s": 1e-3 * (1 + 256 / v) * (1 + 10 / b) * (0.7 if "xattn" in t else 1)}
            for t in ("c950-like", "c950-like+xattn") for v in (256, 512) for b in (10.0, 20.0)]
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    pd.DataFrame(rows).to_parquet(sweep / "results.parquet")
    out = tmp_path / "r.html"
    assert main(["report", str(result_files[0]), str(sweep), "--cost",
                 "vector.vlen*dram.bandwidth_gbps", "-o", str(out)]) == 0
    html = out.read_text()
    assert html.count("Sensitivity: latency_s over vector.vlen x dram.bandwidth_gbps") == 2
    assert "Latency vs cost (vector.vlen*dram.bandwidth_gbps)" in html
    # axis titles carry the units the config fields declare ("/" is \u002f in plotly JSON)
    assert "vector.vlen (bits)" in html and "dram.bandwidth_gbps (GB\\u002fs)" in html
    assert "Speedup omitted: only one target" in html


@pytest.mark.parametrize(("args", "msg"), [
    (["missing.parquet"], "does not exist"),
    (["{r}", "--baseline", "nope"], "--baseline 'nope' is not among the results"),
    (["{r}", "--cost", "vector.vlenn*2"], "unknown column 'vector.vlenn'"),
    # before: an OverflowError traceback
    (["{r}", "--cost", "vector.vlen*10**10**10"], "is infinite for 1 of 1 points"),
    (["{r}", "--cost", "10**10**10"], "names no column"),
    (["{r}", "--cost", "1+" * 300 + "vector.vlen"], "at most 500"),
])
def test_report_user_errors(args, msg, result_files, tmp_path, capsys):
    args = [a.replace("{r}", str(result_files[0])) for a in args]
    assert main(["report", *args, "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1
    assert not (tmp_path / "x.html").exists()


def test_every_figure_has_title_axis_titles_and_scenario_caption(result_files):
    from codesign.report import caption, load
    from codesign.report.page import build

    rep = build(load(result_files), cost="vector.vlen*cluster.cores")
    assert len(rep.figures) >= 12
    for fig in rep.figures:
        assert fig.layout.title.text
        assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
        cap = caption(fig)
        assert "seq 32" in cap or "Workload: data, prefill, batch 1, seq 32" in cap, cap
    pareto = next(f for f in rep.figures if f.layout.title.text.startswith("Latency vs cost"))
    # the GPU rows have no vector.vlen: left out, and the caption says so
    assert "2 design points" in caption(pareto) and "3 rows without" in caption(pareto)
