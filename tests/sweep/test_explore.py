"""``codesign explore``: a seeded multi-objective search over a sweep's space.

Every trial's numbers are checked against a direct simulation of its point, the Pareto
front against the definition of dominance, and resume against a search killed mid-trial.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import codesign as cd
from codesign.cli import main
from codesign.sweep.explore import JOURNAL, STALE_GENERATIONS, load_explore, pareto_mask


def explore_spec(trace, constraints='["memory.dram_gbps >= 1000", "fits_memory"]', extra="",
                 trials=8) -> str:
    return f"""\
name = "gpu-explore"

[workloads]
trace = "{trace}"

[axes]
target = ["h100-sxm", "a100-80gb"]
"memory.dram_gbps" = {{min = 200.0, max = 4000.0, log = true}}
"sm.count" = [40, 80, 108]

[explore]
trials = {trials}
population = 4
seed = 3
minimize = ["latency_s", "sm.count"]
constraints = {constraints}
{extra}
"""


def _point(row: pd.Series) -> dict:
    return {"memory.dram_gbps": float(row["memory.dram_gbps"]),
            "sm.count": int(row["sm.count"])}


def test_every_trial_is_its_point_simulated_and_the_front_is_the_non_dominated_set(
        tiny_trace, write_spec, tmp_path):
    res = cd.explore(write_spec(explore_spec(tiny_trace)), out=tmp_path / "run", jobs=1)
    t = res.trials
    assert len(t) == 8 and res.timed == 8
    for _, row in t.iterrows():
        r = cd.simulate(tiny_trace, row["target"], **_point(row)).summary()
        assert row["latency_s"] == pytest.approx(r["latency_s"], rel=1e-12)
        assert row["tokens_per_s"] == pytest.approx(r["tokens_per_s"], rel=1e-12)
        assert row["feasible"] == (row["memory.dram_gbps"] >= 1000 and r["fits_memory"])
        assert row["violation"] == pytest.approx(max(0.0, (1000 - row["memory.dram_gbps"])
                                                     / 1000))
    # the front: feasible, not dominated by a feasible trial; every other feasible trial is
    assert t["feasible"].any() and len(res.pareto) >= 1
    feas = t[t["feasible"]]
    obj = feas[["latency_s", "sm.count"]].to_numpy(float)

    def dominates(a, b):
        return bool(np.all(a <= b) and np.any(a < b))

    for i, (_, row) in enumerate(feas.iterrows()):
        dominated = any(dominates(obj[j], obj[i]) for j in range(len(obj)) if j != i)
        assert row["pareto"] == (not dominated)
    assert not t[~t["feasible"]]["pareto"].any()
    assert res.pareto["trial"].tolist() == sorted(
        t[t["pareto"]]["trial"], key=lambda n: tuple(t.set_index("trial").loc[n, [
            "latency_s", "sm.count"]]))
    # the files: trials, front and the sweep-format results (one row per trial's point)
    out = tmp_path / "run"
    assert len(pd.read_parquet(out / "trials.parquet")) == 8
    assert len(pd.read_parquet(out / "pareto.parquet")) == len(res.pareto)
    assert pd.read_parquet(out / "results.parquet")["latency_s"].notna().all()


def test_same_seed_same_search_and_a_resume_times_only_the_missing_trials(
        tiny_trace, write_spec, tmp_path):
    spec = write_spec(explore_spec(tiny_trace))
    a = cd.explore(spec, out=tmp_path / "a", jobs=1, trials=4)
    assert a.timed == 4
    a = cd.explore(spec, out=tmp_path / "a", jobs=1)  # the spec's 8
    assert a.timed == 4 and len(a.trials) == 8
    # the resumed sampler, seeded alike, proposes the first generation's points again:
    # those are told their values untimed and do not count, so 8 distinct points finish
    assert a.repeats >= 1 and a.trials["trial"].is_monotonic_increasing
    assert not a.trials.duplicated(["target", "memory.dram_gbps", "sm.count"]).any()
    # an uninterrupted search is deterministic under its seed (a resumed one continues
    # from a new sampler with the same seed, so its later proposals differ)
    b = cd.explore(spec, out=tmp_path / "b", jobs=1)
    c = cd.explore(spec, out=tmp_path / "c", jobs=1)
    cols = ["trial", "target", "memory.dram_gbps", "sm.count", "latency_s"]
    pd.testing.assert_frame_equal(b.trials[cols], c.trials[cols])
    pd.testing.assert_frame_equal(a.trials[cols].head(4), b.trials[cols].head(4))


def _timed_points(out) -> int:
    """Points whose rows were timed under ``out`` (one part file per timed point)."""
    return len(pd.read_parquet(out / "results.parquet"))


def test_a_point_proposed_again_is_not_timed_again_and_a_converged_search_stops(
        tiny_trace, write_spec, tmp_path, capsys):
    # a space of 2 targets x 3 SM counts = 6 points, asked for 30 trials
    text = explore_spec(tiny_trace, constraints='["fits_memory"]', trials=30).replace(
        '"memory.dram_gbps" = {min = 200.0, max = 4000.0, log = true}\n', "")
    res = cd.explore(write_spec(text), out=tmp_path / "run", jobs=1)
    t = res.trials
    assert 1 <= len(t) <= 6 and res.timed == len(t)  # every point at most once
    assert not t.duplicated(["target", "sm.count"]).any()
    assert res.repeats >= STALE_GENERATIONS * 4  # it stopped after that many stale generations
    assert _timed_points(tmp_path / "run") == len(t)
    # resumed with more trials: nothing new to time and nothing lost
    again = cd.explore(write_spec(text), out=tmp_path / "run", jobs=1, trials=40)
    assert again.timed == 0 and len(again.trials) == len(t)
    pd.testing.assert_frame_equal(again.trials, t)
    # the command says what it skipped
    assert main(["explore", str(write_spec(text)), "-o", str(tmp_path / "cli"), "--jobs",
                 "1", "--no-progress"]) == 0
    assert "proposals of an earlier point not timed again" in capsys.readouterr().out


def test_per_target_runs_one_search_and_one_front_per_target(tiny_trace, write_spec,
                                                            tmp_path):
    spec = write_spec(explore_spec(tiny_trace, trials=9, extra="per_target = true"))
    res = cd.explore(spec, out=tmp_path / "run", jobs=1)
    t = res.trials
    counts = t["target"].value_counts()
    assert counts["h100-sxm"] == 5 and counts["a100-80gb"] == 4  # 9 shared out in order
    # both searches are seeded alike: their first generations propose the same configs
    first = {g: d.sort_values("trial").head(4)[["memory.dram_gbps", "sm.count"]]
             .reset_index(drop=True) for g, d in t.groupby("target")}
    pd.testing.assert_frame_equal(first["h100-sxm"], first["a100-80gb"])
    # the front of each target: feasible trials no other trial OF THAT TARGET dominates
    for target, d in t.groupby("target"):
        feas = d[d["feasible"]]
        obj = feas[["latency_s", "sm.count"]].to_numpy(float)
        for i, (_, row) in enumerate(feas.iterrows()):
            dominated = any(np.all(obj[j] <= obj[i]) and np.any(obj[j] < obj[i])
                            for j in range(len(obj)) if j != i)
            assert row["pareto"] == (not dominated), target
        assert not d[~d["feasible"]]["pareto"].any()
    assert set(res.pareto["target"]) <= set(t["target"])
    assert len(res.pareto) == int(t["pareto"].sum())
    for _, row in t.iterrows():  # each trial is its own point, simulated
        r = cd.simulate(tiny_trace, row["target"], **_point(row)).summary()
        assert row["latency_s"] == pytest.approx(r["latency_s"], rel=1e-12)
    # resuming with more trials shares the new total out again
    more = cd.explore(spec, out=tmp_path / "run", jobs=1, trials=12)
    assert more.trials["target"].value_counts().to_dict() == {"h100-sxm": 6, "a100-80gb": 6}
    # an infeasible budget shows the closest trials of each target
    closest = more.closest(2)
    assert closest["target"].value_counts().to_dict() == {"h100-sxm": 2, "a100-80gb": 2}
    for target, d in closest.groupby("target"):
        assert d["violation"].tolist() == sorted(
            more.trials[more.trials["target"] == target]["violation"])[:2]


def test_a_trial_killed_while_timed_is_proposed_again_and_not_lost(
        tiny_trace, write_spec, tmp_path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    spec = write_spec(explore_spec(tiny_trace, trials=4))
    out = tmp_path / "run"
    cd.explore(spec, out=out, jobs=1, trials=2)
    # a search killed after proposing a trial and before telling its result
    study = optuna.load_study(study_name="gpu-explore",
                              storage=JournalStorage(JournalFileBackend(str(out / JOURNAL))))
    killed = study.ask()
    killed.suggest_categorical("target", ["h100-sxm", "a100-80gb"])
    killed.suggest_float("memory.dram_gbps", 200.0, 4000.0, log=True)
    killed.suggest_categorical("sm.count", [40, 80, 108])
    res = cd.explore(spec, out=out, jobs=1)
    assert len(res.trials) == 4 and res.timed == 2
    again = res.trials[res.trials["trial"] > killed.number].iloc[0]
    assert again["target"] == killed.params["target"]
    assert again["memory.dram_gbps"] == killed.params["memory.dram_gbps"]
    assert again["sm.count"] == killed.params["sm.count"]


def test_explore_on_dask_gives_the_local_search(tiny_trace, write_spec, tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = write_spec(explore_spec(tiny_trace, trials=4))
    local = cd.explore(spec, out=tmp_path / "local", jobs=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = cd.explore(spec, out=tmp_path / "dask", scheduler=cluster.scheduler_address)
    cols = ["trial", "target", "memory.dram_gbps", "sm.count", "latency_s", "feasible"]
    pd.testing.assert_frame_equal(local.trials[cols], remote.trials[cols])


def test_an_infeasible_budget_is_said_plainly_with_the_closest_trials(
        tiny_trace, write_spec, tmp_path, capsys):
    spec = write_spec(explore_spec(tiny_trace, constraints='["tokens_per_s >= 1e12"]',
                                   trials=4))
    code = main(["explore", str(spec), "-o", str(tmp_path / "run"), "--jobs", "1",
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    assert "no trial satisfies the constraints: tokens_per_s >= 1e+12" in out
    assert "closest" in out and "violation" in out
    trials = pd.read_parquet(tmp_path / "run" / "trials.parquet")
    assert not trials["feasible"].any()
    best = trials.sort_values("violation").iloc[0]
    assert best["tokens_per_s"] == trials["tokens_per_s"].max()


def test_json_output_lists_the_front(tiny_trace, write_spec, tmp_path, capsys):
    spec = write_spec(explore_spec(tiny_trace, constraints='["tokens_per_s >= 1"]', trials=4))
    assert main(["explore", str(spec), "-o", str(tmp_path / "run"), "--jobs", "1",
                 "--no-progress", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["trials"] == 4 and doc["objectives"] == ["latency_s", "sm.count"]
    assert all(p["feasible"] for p in doc["pareto"]) and doc["pareto"]


@pytest.mark.parametrize(("edit", "message"), [
    (("minimize = [\"latency_s\", \"sm.count\"]", "minimize = [\"joules\"]"),
     "unknown name 'joules'; valid: latency_s, tokens_per_s"),
    (("seed = 3", "seed = 3\nsampler = \"grid\""),
     "unknown sampler 'grid'; valid: nsga2, tpe, random"),
    (("\"memory.dram_gbps >= 1000\"", "\"tokens_per_s > 1\""),
     "is not NAME <= NUMBER, NAME >= NUMBER or fits_memory"),
    (("\"memory.dram_gbps >= 1000\"", "\"tokens_per_s >= nan\""), "is not a finite number"),
    (("minimize = [\"latency_s\", \"sm.count\"]", "minimize = [\"fits_memory\"]"),
     "make it a constraint"),
    (("minimize = [\"latency_s\", \"sm.count\"]", "minimize = []"), "needs an objective"),
    (("population = 4", "population = 4\nsamples = 3"), "unknown key 'samples'"),
    (("population = 4", "population = 4\nper_target = 1"), "expected true or false, got 1"),
    (("trials = 8", "trials = 1\nper_target = true"),
     "per_target shares 1 trials out over 2 targets: give at least one each"),
])
def test_bad_specs_are_one_line_naming_the_valid_choices(tiny_trace, write_spec, tmp_path,
                                                         capsys, edit, message):
    text = explore_spec(tiny_trace)
    assert edit[0] in text
    spec = write_spec(text.replace(*edit))
    assert main(["explore", str(spec), "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "spec.toml:" in err
    assert not (tmp_path / "run").exists()  # refused before any work


def test_a_spec_without_explore_or_with_sweep_sampling_is_refused(tiny_trace, write_spec):
    text = explore_spec(tiny_trace)
    with pytest.raises(cd.CodesignError, match=r"needs an \[explore\] table"):
        load_explore(write_spec(text[:text.index("[explore]")]))
    with pytest.raises(cd.CodesignError, match=r"\[sampling\] belongs to sweeps"):
        load_explore(write_spec(text + "\n[sampling]\nmethod = \"lhs\"\n"))


def test_several_workloads_need_phase_qualified_names(tiny_trace, write_spec):
    from tests.sweep.conftest import TINY_CONFIG

    text = f"""\
name = "two"
[[workloads]]
model = "{TINY_CONFIG}"
phase = "decode"
context = 64
[[workloads]]
model = "{TINY_CONFIG}"
phase = "prefill"
seq = 32
[axes]
target = ["h100-sxm"]
"sm.count" = [40, 80]
[explore]
minimize = ["latency_s"]
"""
    with pytest.raises(cd.CodesignError, match="qualify it by the workload's phase"):
        load_explore(write_spec(text))
    es = load_explore(write_spec(text.replace('["latency_s"]',
                                              '["decode.latency_s", "prefill.latency_s"]')))
    assert [q.metric for q, _ in es.objectives] == ["latency_s", "latency_s"]
    assert len({q.workload for q, _ in es.objectives}) == 2


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 3)),
              elements=st.integers(0, 4).map(float)),
       st.lists(st.sampled_from(["minimize", "maximize"]), min_size=3, max_size=3))
def test_pareto_mask_is_the_set_no_other_point_dominates(values, directions):
    dirs = directions[:values.shape[1]]
    mask = pareto_mask(values, dirs)
    sign = np.array([1 if d == "minimize" else -1 for d in dirs])
    v = values * sign
    for i in range(len(v)):
        dominated = any(all(v[j] <= v[i]) and any(v[j] < v[i]) for j in range(len(v)))
        assert mask[i] == (not dominated)
    assert mask.any() or math.isnan(values).any()


def test_energy_and_area_are_objectives_and_constraints_of_riscv_points(
        tiny_trace, write_spec, tmp_path):
    spec = write_spec(f"""\
name = "rv-area"
[workloads]
trace = "{tiny_trace}"
[axes]
target = ["spacemit-x60-like", "spacemit-x60-like+xattn"]
"cluster.cores" = [1, 2, 4, 8]
[explore]
trials = 4
population = 4
minimize = ["latency_s", "area_mm2"]
constraints = ["power_w <= 1000", "j_per_token <= 1000"]
""")
    res = cd.explore(spec, out=tmp_path / "run", jobs=1)
    assert len(res.trials) == 4
    for _, row in res.trials.iterrows():
        r = cd.simulate(tiny_trace, row["target"], **{"cluster.cores": int(row["cluster.cores"])})
        assert r.area_mm2 is not None and r.power_w is not None
        assert row["area_mm2"] == pytest.approx(r.area_mm2, rel=1e-12)
        assert row["power_w"] == pytest.approx(r.power_w, rel=1e-12)
        assert row["energy_j"] == pytest.approx(r.energy_j, rel=1e-12)
        assert row["feasible"]
    # the sweep-format rows carry them too (so sweeps and reports see energy and area)
    rows = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert rows["area_mm2"].notna().all() and (rows["tokens_per_j"] > 0).all()


def test_a_space_whose_points_a_config_rejects_says_why(tiny_trace, write_spec, tmp_path,
                                                        capsys):
    spec = write_spec(f"""\
name = "rejected"
[workloads]
trace = "{tiny_trace}"
[axes]
target = ["spacemit-x60-like"]
"vector.vlen" = [256]
"vector.dlen" = [512]
[explore]
trials = 3
population = 3
minimize = ["latency_s"]
""")
    assert main(["explore", str(spec), "-o", str(tmp_path / "run"), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "0 trials timed (0 now, 3 more rejected by their config)" in out
    assert "no trial finished: every proposed point was rejected by its config (e.g. DLEN" in out
