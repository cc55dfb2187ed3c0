"""Generation results saved and reported: `run --phase generate -o` writes each target's
request as Parquet, it loads back equal, and `codesign report` gives it a section (its
table, time per output token over the steps, the request's breakdown)."""

from __future__ import annotations

import numpy as np
import pytest

import codesign as cd
from codesign.cli import main
from codesign.errors import CodesignError
from codesign.report import inputs as I
from codesign.report.generation import generation_table, tpot
from codesign.report.page import build
from codesign.result import GenerateResult, Result

MODEL = "qwen3-0.6b"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    code = main(["run", MODEL, "--phase", "generate", "--prompt", "100", "--output", "9",
                 "-t", "c950-like", "-t", "h100-sxm", "-o", str(d / "gen.parquet")])
    assert code == 0
    return d


def test_a_saved_request_loads_back_equal(tmp_path):
    r = cd.generate(MODEL, "h100-sxm", prompt=100, output=9, engine="vllm")
    back = GenerateResult.load(r.save(tmp_path / "g.parquet"))
    assert back.summary() == r.summary()
    assert np.array_equal(back.step_seconds, r.step_seconds)
    assert back.sampled == r.sampled and back.engine == "vllm"
    assert back.prefill.ops.equals(r.prefill.ops)
    with pytest.raises(CodesignError, match="not a codesign result file"):
        Result.load(tmp_path / "g.parquet")  # a request is not a single pass


def test_run_writes_a_request_per_target_and_the_report_reads_them(saved, tmp_path, capsys):
    files = sorted(saved.glob("gen.*.parquet"))
    assert [f.name for f in files] == ["gen.c950-like.parquet", "gen.h100-sxm.parquet"]
    inputs = I.load([saved])
    assert not inputs.results and [g.target for g in inputs.generations] == \
        ["c950-like", "h100-sxm"]
    rep = build(inputs, baseline="c950-like")
    sec = next(s for s in rep.sections if s.title.startswith("Generation: "))
    assert "prompt 100 tokens, output 9 tokens" in sec.title
    g = {x.target: x for x in inputs.generations}
    row = sec.table.set_index("target").loc["h100-sxm"]
    assert row["TTFT (ms)"] == pytest.approx(g["h100-sxm"].ttft_s * 1e3)
    assert row["speedup over c950-like"] == pytest.approx(
        g["c950-like"].e2e_s / g["h100-sxm"].e2e_s)
    assert row["engine"] == "vllm" and sec.table.set_index("target").loc[
        "c950-like", "engine"] == "-"
    out = tmp_path / "r.html"
    assert main(["report", str(saved), "--baseline", "c950-like", "-o", str(out)]) == 0
    assert "Time per output token" in out.read_text()


def test_tpot_figure_draws_every_step_and_marks_the_timed_contexts(saved):
    gens = I.load([saved]).generations
    fig = tpot(gens)
    lines = [t for t in fig.data if t.mode == "lines"]
    marks = [t for t in fig.data if t.mode == "markers"]
    for g, line, mark in zip(gens, lines, marks, strict=True):
        assert list(line.x) == list(range(2, g.output + 1))
        assert list(line.y) == pytest.approx(list(g.step_seconds * 1e3))
        # the step at context c (prompt + i) makes output token i + 2: markers on the line
        for x, y in zip(mark.x, mark.y, strict=True):
            assert y == pytest.approx(line.y[x - 2])


def test_requests_of_different_scenarios_are_not_tabled_together(saved):
    gens = I.load([saved]).generations
    other = cd.generate(MODEL, "h100-sxm", prompt=50, output=3)
    with pytest.raises(CodesignError, match="different requests"):
        generation_table([*gens, other])
    sections = build(I.Inputs(generations=[*gens, other])).sections
    assert sum(s.title.startswith("Generation: ") for s in sections) == 2


def test_generate_refuses_a_bad_output_path_before_any_work(tmp_path, capsys):
    (tmp_path / "dir.parquet").mkdir()
    code = main(["run", MODEL, "--phase", "generate", "--prompt", "10", "--output", "2",
                 "-t", "h100-sxm", "-o", str(tmp_path / "dir.parquet")])
    assert code == 2
    assert capsys.readouterr().out == ""  # refused before timing: no table
