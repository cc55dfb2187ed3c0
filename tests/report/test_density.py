"""Intelligence density (issue #13): published scores against tokens/s, J/token, memory."""

from __future__ import annotations

import json
import math

import pytest

import codesign as cd
from codesign.cli import main
from codesign.report import density, density_table
from codesign.report.density import sections
from workloads.quality import best, scores


@pytest.fixture(scope="module")
def results():
    return [cd.simulate(cd.trace(m, phase="decode", context=16), t)
            for m in ("qwen3.5-9b", "gpt-oss-120b", "qwen3-0.6b")
            for t in ("h100-sxm", "b200")]


def test_the_scores_the_issue_names_with_their_sources():
    assert best("qwen3.5-9b", "GPQA Diamond").score == 81.7
    oss = sorted(s.score for s in scores() if s.model == "gpt-oss-120b")
    assert oss == [67.1, 73.1, 80.1]
    assert best("gpt-oss-120b", "GPQA Diamond").setting.startswith("high")
    assert all(s.source for s in scores())
    assert best("qwen3-0.6b", "GPQA Diamond") is None  # no published score: none made up


def test_table_rows_are_the_results_and_the_published_scores(results):
    t = density_table(results)
    for (_, row), r in zip(t.iterrows(), results, strict=True):
        s = r.summary()
        assert row["tokens_per_s"] == s["tokens_per_s"]
        assert row["memory_gb"] == s["memory_gb"] and row["j_per_token"] == s["j_per_token"]
        sc = best(row["model"], "GPQA Diamond")
        if sc is None:
            assert math.isnan(row["GPQA Diamond"])
        else:
            assert row["GPQA Diamond"] == sc.score
            assert row["GPQA Diamond per GB"] == pytest.approx(sc.score / s["memory_gb"])


def test_figure_points_are_the_table_and_unscored_models_are_named(results):
    fig = density(results, x="memory_gb")
    t = density_table(results)
    for trace in fig.data:
        rows = t[(t.target == trace.name) & t["GPQA Diamond"].notna()]
        assert list(trace.x) == list(rows.memory_gb)
        assert list(trace.y) == list(rows["GPQA Diamond"])
        assert list(trace.text) == list(rows.model)
    assert "Left out (no published GPQA Diamond score): qwen3-0.6b" in cd.report.caption(fig)
    assert len(sections(results)) == 1 and not sections(results[4:])


def test_bad_benchmark_or_axis_is_one_line(results, capsys):
    with pytest.raises(cd.CodesignError, match="unknown benchmark 'MMLU'; valid: GPQA Diamond"):
        density_table(results, "MMLU")
    with pytest.raises(cd.CodesignError, match="unknown density axis 'area'; valid: tok"):
        density(results, x="area")
    assert main(["density", "qwen3-0.6b", "-t", "h100-sxm", "--benchmark", "MMLU"]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'MMLU'" in err and err.count("\n") == 1


def test_density_command_prints_both_phases(capsys):
    assert main(["density", "qwen3.5-9b", "qwen3-0.6b", "-t", "h100-sxm", "--seq", "16",
                 "--context", "16", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["phase"]) for r in rows] == [
        ("qwen3.5-9b", "prefill"), ("qwen3.5-9b", "decode"),
        ("qwen3-0.6b", "prefill"), ("qwen3-0.6b", "decode")]
    assert rows[0]["GPQA Diamond"] == 81.7 and rows[2]["GPQA Diamond"] is None
