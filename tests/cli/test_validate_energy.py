"""``codesign validate --suite energy`` and the energy/area fields of ``codesign run``."""

from __future__ import annotations

import json

import pytest

from codesign import validate
from codesign.cli import main
from workloads.schema import trace_from_rows

RISCV = ("spatz-dp-gflops-per-w", "ara2-dp-gflops-per-w", "spatz-cluster-area",
         "c910-core-area", "vexp-exp-area-fraction", "vexp-softmax-energy-ratio")


@pytest.fixture(scope="module")
def cases():
    return {c.name: c for c in validate.load_cases(validate.suite_file("energy"))[0]}


def test_fitted_cases_hold_their_fits(cases):
    # the presets hold what benchmarks/fit_energy.py fits: each fitted case to 0.5%
    for name in ("spatz-dp-gflops-per-w", "spatz-fpu-power-share", "spatz-cluster-area",
                 "c910-core-area", "mlenergy-llama3.1-8b-h100-b16-power"):
        c = cases[name]
        assert c.fitted
        assert validate.predict(c) == pytest.approx(c.measured, rel=5e-3)


def test_energy_share_is_the_parts_over_the_cluster_energy(cases):
    """The share probe by hand: the FMA part over the cluster's parts (no L2, no DRAM)
    plus its leakage without the L2, the denominator dp_gflops_per_w divides by."""
    from codesign import energy_cases as E
    from codesign import targets
    from codesign.riscv.energy import static_power_w
    c = cases["spatz-fpu-power-share"]
    res = E._result(c.target, c.overrides, c.params["row"])
    cfg = targets.resolve(c.target, c.overrides).config
    inside = ("instructions", "int", "fma", "fdiv", "reduction", "permute", "exp", "load",
              "store", "matrix", "vrf", "l1", "clock")
    total = sum(res.energy_parts[p] for p in inside) + \
        static_power_w(cfg, with_l2=False) * res.latency_s
    assert validate.predict(c) == pytest.approx(res.energy_parts["fma"] / total, rel=1e-12)
    row = c.params["row"]
    eff = cases["spatz-dp-gflops-per-w"]
    flops = 2.0 * row["M"] * row["N"] * row["K"] * 32 / 64
    assert validate.predict(eff) == pytest.approx(flops / total / 1e9, rel=1e-9)


def test_each_vexp_energy_ratio_has_its_speed_ratio_on_the_same_work(cases):
    """Energy ratio = speed ratio x (target's average cluster power / base's): the speed
    row runs the energy row's op, set and base, and divides their latencies."""
    from codesign import energy_cases as E
    from codesign import targets
    for name in ("vexp-softmax", "vexp-fa2"):
        e, s = cases[f"{name}-energy-ratio"], cases[f"{name}-speed-ratio"]
        assert (s.target, s.overrides, s.params) == (e.target, e.overrides, e.params)
        assert not s.fitted and s.measured > e.measured
        runs = [(E._result(t, e.overrides, e.params["row"]),
                 targets.resolve(t, e.overrides).config) for t in (e.params["base"], e.target)]
        (base, _), (tgt, _) = runs
        speed = base.latency_s / tgt.latency_s
        assert speed > 1
        assert validate.predict(s) == pytest.approx(speed, rel=1e-12)
        watts = [E._cluster_energy(r, c) / r.latency_s for r, c in runs]
        assert validate.predict(e) == pytest.approx(speed * watts[0] / watts[1], rel=1e-9)


def test_ara2_efficiency_is_predicted_within_20_percent(cases):
    c = cases["ara2-dp-gflops-per-w"]
    assert not c.fitted
    assert abs(validate.predict(c) / c.measured - 1) <= 0.20


def test_mlenergy_cases_run_the_engine_version_they_measured(cases):
    # v3 ran vLLM 0.11.1 with async scheduling (vllm-0.11); v2 ran 0.5.4 (vllm: no overlap)
    gpu = [c for c in cases.values() if c.name.startswith("mlenergy-")]
    assert {c.params["engine"] for c in gpu if not c.name.endswith("-v2")} == {"vllm-0.11"}
    assert cases["mlenergy-llama3.1-8b-h100-b64-v2"].params["engine"] == "vllm"


def test_small_batch_j_per_token_is_predicted_within_its_tolerance(cases):
    # b16 shares its step with the fitted b16 power case: its error is the step time's
    for name in ("mlenergy-llama3.1-8b-h100-b16", "mlenergy-llama3.1-8b-h100-b64"):
        c = cases[name]
        assert not c.fitted
        assert abs(validate.predict(c) / c.measured - 1) <= c.tolerance


def test_gpu_power_is_joules_over_seconds_and_j_per_token_joules_over_batch(cases):
    """The two GPU probes agree with each other and with the serving step simulated
    directly; the step (decode + the admitted prompts' prefill) costs more than the decode
    step alone."""
    from codesign import energy_cases as E
    from codesign import serving, targets
    from codesign.api import trace
    c = cases["mlenergy-llama3.1-8b-h100-b64-power"]
    p = c.params
    assert (p["prompt"], p["output"]) == (666, 717)
    tgt = targets.resolve(c.target, {"engine": p["engine"]})
    lam = p["batch"] / p["output"]  # one prompt admitted in this share of the steps
    # a server's steps run back to back: sustained work for the power limiter
    dec = tgt.simulate(serving.sustained(trace(p["model"], phase="decode", batch=p["batch"],
                                               context=p["context"])))
    one = tgt.simulate(serving.sustained(serving.step_trace(
        p["model"], p["batch"], p["context"], p["prompt"], 1)))
    joules = (1 - lam) * dec.energy_j + lam * one.energy_j
    seconds = (1 - lam) * dec.latency_s + lam * one.latency_s
    assert validate.predict(c) == pytest.approx(joules / seconds, rel=1e-9)
    jt = E.j_per_token(c.target, {}, **p)
    assert jt == pytest.approx(joules / p["batch"], rel=1e-9)
    assert E.power_w(c.target, {}, **p) <= 700.0  # under the H100's TDP cap
    assert one.latency_s > dec.latency_s and one.energy_j > dec.energy_j


def test_every_case_is_either_fitted_or_a_prediction_with_a_source(cases):
    assert {c.name for c in cases.values() if c.fitted} == {
        "spatz-dp-gflops-per-w", "spatz-fpu-power-share", "spatz-cluster-area",
        "c910-core-area", "mlenergy-llama3.1-8b-h100-b16-power"}
    for c in cases.values():
        assert c.probe and c.source
    assert set(RISCV) <= set(cases)


def test_a_case_naming_an_unknown_probe_is_one_clear_error(tmp_path, capsys):
    doc = {"format": "codesign-validation-cases/1", "cases": [{
        "name": "bad", "target": "spatz-like", "probe": "nope", "params": {},
        "metric": "area_mm2", "measured": 1.0}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    assert main(["validate", "--suite", "none", "--cases", str(path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown probe 'nope'; valid: dp_gflops_per_w" in err[0]


def test_run_json_and_table_carry_energy_and_area(tmp_path, capsys):
    rows = [{"kind": "gemm", "op": "matmul", "M": 1, "N": 1024, "K": 512, "G": 1,
             "dtype": "bf16", "flops": 2 * 1024 * 512, "bytes_read": 2 * 1024 * 512,
             "bytes_written": 2048}]
    path = tmp_path / "t.parquet"
    trace_from_rows(rows, {"model": "t", "scenario": {"phase": "decode", "context": 8}}).save(
        path)
    assert main(["run", str(path), "-t", "c950-like", "-t", "h100-sxm",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rv, gpu = out
    for key in ("energy_j", "power_w", "tokens_per_j", "j_per_token"):
        assert rv[key] > 0 and gpu[key] > 0
    assert rv["area_mm2"] == pytest.approx(sum(rv["area_parts"].values()))
    assert gpu["area_mm2"] is None
    assert rv["energy_j"] == pytest.approx(sum(rv["energy_parts"].values()))
    assert main(["run", str(path), "-t", "c950-like"]) == 0
    header = capsys.readouterr().out.splitlines()[1].split()
    assert {"mj_per_token", "power_w", "tokens_per_j", "area_mm2"} <= set(header)
