"""``codesign validate --suite gpu-e2e``: published end-to-end measurements, each row a
fit or a prediction; the fitted constants are pinned by their rows."""

from __future__ import annotations

import dataclasses
import json
import statistics

import pytest

from codesign import validate
from codesign.cli import main

# golden pins: the prediction of every row (a change to the model shows here, reviewed)
PREDICTED = {
    "qwen2.5-0.5b-vllm-a100": 283.85, "qwen2.5-1.5b-vllm-a100": 197.96,
    "qwen2.5-3b-vllm-a100": 137.42, "qwen2.5-14b-vllm-a100": 47.547,
    "qwen2.5-14b-vllm-a100-in30720": 36.007, "qwen2.5-32b-vllm-eager-a100": 23.178,
    "qwen2.5-0.5b-hf-a100": 47.39, "qwen2.5-14b-hf-a100": 24.572,
    "gpt-fast-llama2-7b-bf16-a100": 104.9, "gpt-fast-llama2-7b-int8-a100": 155.64,
    "gpt-fast-llama2-7b-int4-a100": 196.83, "gpt-fast-llama3.1-8b-bf16-a100": 94.854,
    "gpt-fast-mixtral-8x7b-int8-a100": 90.028, "trtllm-llama7b-b60-128-2048-a100": 1928.1,
    "trtllm-llama7b-ttft-128-a100": 0.016, "trtllm-llama7b-b384-128-128-a100": 5886.3,
    # ttft-2048: 0.12417 -> 0.12575 with FA2's two CTAs per A100 SM (issue #17)
    "trtllm-llama7b-ttft-2048-a100": 0.12575, "llamacpp-llama3-8b-f16-tg512-4090": 54.828,
    "llamacpp-llama3-8b-f16-pp512-4090": 8725.7, "mlc-llama2-7b-q4f16_1-4090": 175.65,
    "vllm-ci-llama3.1-8b-b8-a100": 1.646, "vllm-ci-llama3.1-8b-b8-h100": 1.1806,
}
# predictions outside their tolerance (reported as failures, never fitted away): none since
# the dequantising GEMV's instructions bound it (MLC q4f16_1 on the RTX 4090: -30% -> -14%)
FAILING: set[str] = set()


@pytest.fixture(scope="module")
def rows():
    return validate.run("gpu-e2e")


def test_every_row_carries_measured_predicted_error_and_fitted(rows):
    assert [r["case"] for r in rows] == list(PREDICTED)
    for r in rows:
        assert {"measured", "predicted", "error", "fitted", "source"} <= set(r)
        assert isinstance(r["fitted"], bool) and r["source"]
        assert r["error"] == pytest.approx(r["predicted"] / r["measured"] - 1)
        assert r["predicted"] == pytest.approx(PREDICTED[r["case"]], rel=2e-3)
    fitted = {r["case"] for r in rows if r["fitted"]}
    assert fitted == {c for _, names in validate.E2E_FITS for c in names}


def test_fit_rows_hold_and_predictions_meet_the_goal_but_one(rows):
    assert all(r["ok"] for r in rows if r["fitted"])
    pred = [abs(r["error"]) for r in rows if not r["fitted"]]
    assert statistics.median(pred) <= 0.10
    assert {r["case"] for r in rows if not r["ok"]} == FAILING


def test_the_cli_marks_fit_and_predict_and_exits_nonzero_on_a_failed_prediction(capsys):
    status = 1 if FAILING else 0
    assert main(["validate", "--suite", "gpu-e2e", "--format", "json"]) == status
    out = json.loads(capsys.readouterr().out)
    assert {r["case"]: r["fitted"] for r in out}["qwen2.5-14b-vllm-a100-in30720"] is False
    assert main(["validate", "--suite", "gpu-e2e"]) == status
    text = capsys.readouterr().out
    assert "qwen2.5-0.5b-vllm-a100" in text and " fit " in text and " predict " in text
    assert "predicted rows: 11, median |error|" in text


def _varied(case: validate.Case, path: str, factor: float) -> float | None:
    from codesign import targets
    from codesign.gpu import DEFAULT_ENGINE

    t = targets.resolve(case.target, {"engine": case.engine or DEFAULT_ENGINE})
    value = t.config
    for part in path.split("."):
        value = getattr(value, part)
    # an efficiency cannot pass 1: doubling it means "as fast as the hardware allows";
    # one already within 5% of 1 cannot be raised enough to test (None)
    new = min(1.0, value * factor) if "efficiency" in path else value * factor
    if factor > 1 and new < value * 1.05:
        return None
    if new == 0.0:  # a constant fitted to zero (vLLM's step): vary it by a step of 2 ms
        new = 2000.0 * factor
    varied = dataclasses.replace(case, overrides={**case.overrides, path: new})
    return validate.predict(varied) / case.measured - 1


@pytest.mark.parametrize("path,rows_", [(p, r) for ps, r in validate.E2E_FITS for p in ps])
def test_the_suite_notices_each_fitted_constant(path, rows_):
    cases = {c.name: c for c in validate.load_cases(validate.suite_file("gpu-e2e"))[0]}
    tested = 0
    for factor in (0.5, 2.0):
        errors = [_varied(cases[n], path, factor) for n in rows_]
        if None in errors:
            continue
        tested += 1
        # some row of its fitting set leaves its tolerance: the validation can fail
        assert any(abs(e) > cases[n].tolerance for e, n in zip(errors, rows_, strict=True)), \
            (path, factor, errors)
    assert tested >= 1
