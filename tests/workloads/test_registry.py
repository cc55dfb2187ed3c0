"""The model registry: names, configs, parameter counts (analytic vs torch vs reference)."""

from __future__ import annotations

import json

import pytest

from workloads.errors import WorkloadError
from workloads.registry import load_config, model_names, param_counts

ISSUE_NAMES = [
    "qwen3.5-0.8b", "qwen3.5-2b", "qwen3.5-4b", "qwen3.5-9b", "qwen3.5-27b",
    "qwen3.5-35b-a3b", "qwen3.5-122b-a10b", "qwen3.5-397b-a17b",
    "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b",
    "qwen3-30b-a3b", "qwen3-235b-a22b", "qwen3-next-80b-a3b", "qwen2.5-7b", "qwen2.5-14b",
]

# shared/reference/qwen.md §1.4: text-tower parameter counts (total, active), billions.
REFERENCE_QWEN35 = {
    "qwen3.5-0.8b": (0.75, None), "qwen3.5-2b": (1.88, None), "qwen3.5-4b": (4.21, None),
    "qwen3.5-9b": (8.95, None), "qwen3.5-27b": (26.90, None),
    "qwen3.5-35b-a3b": (34.66, 3.45), "qwen3.5-122b-a10b": (122.11, 9.77),
    "qwen3.5-397b-a17b": (396.35, 17.35),
}


def test_registry_has_every_model_the_issue_names() -> None:
    assert sorted(model_names()) == sorted(ISSUE_NAMES)


@pytest.mark.parametrize("name", sorted(REFERENCE_QWEN35))
def test_qwen35_parameter_counts_match_reference_within_1_percent(name: str) -> None:
    total, active = REFERENCE_QWEN35[name]
    pc = param_counts(load_config(name))
    assert pc.total / 1e9 == pytest.approx(total, rel=0.01)
    assert pc.active / 1e9 == pytest.approx(active if active else total, rel=0.01)


def test_397b_count_is_exactly_what_transformers_builds() -> None:
    # qwen.md §1.4 [run]: the full 60-layer text model has exactly 396,346,350,336 params.
    assert param_counts(load_config("qwen3.5-397b-a17b")).total == 396_346_350_336


@pytest.mark.parametrize("name", ISSUE_NAMES)
def test_analytic_count_equals_the_instantiated_transformers_model(name: str) -> None:
    torch = pytest.importorskip("torch")
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = load_config(name)
    fields = cfg.hf_dict()
    hf = AutoConfig.for_model(fields.pop("model_type"), **fields)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf)
    counted = sum(p.numel() for p in model.parameters())  # tied weights are counted once
    assert param_counts(cfg).total == counted


def test_qwen25_dimensions_from_the_issue() -> None:
    c7, c14 = load_config("qwen2.5-7b"), load_config("qwen2.5-14b")
    assert (c7.hidden, c7.layers, c7.heads, c7.kv_heads, c7.vocab) == (3584, 28, 28, 4, 152064)
    assert c7.get("intermediate_size") == 18944
    assert (c14.hidden, c14.layers, c14.heads, c14.kv_heads) == (5120, 48, 40, 8)
    assert c14.get("intermediate_size") == 13824


def test_qwen35_layer_pattern_is_three_deltanet_to_one_attention() -> None:
    types = load_config("qwen3.5-9b").layer_types
    assert types[:4] == ["linear_attention"] * 3 + ["full_attention"]
    assert types.count("full_attention") == 8


def test_a_full_multimodal_config_json_uses_its_text_tower(tmp_path) -> None:
    text = dict(load_config("qwen3.5-9b").fields)
    path = tmp_path / "Qwen3.5-9B" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"model_type": "qwen3_5", "text_config": text,
                                "vision_config": {"depth": 27}}))
    cfg = load_config(path)
    assert cfg.name == "Qwen3.5-9B"
    assert param_counts(cfg).total == param_counts(load_config("qwen3.5-9b")).total
    assert load_config(path.parent).name == "Qwen3.5-9B"  # a model folder works too


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "malformed config.json"),
    ('{"model_type": "llama", "hidden_size": 8}', "unsupported model_type 'llama'"),
    ('{"model_type": "qwen3", "hidden_size": 8}', "lacks required fields"),
    ('[1, 2]', "must hold a JSON object"),
])
def test_bad_config_files_are_refused_with_one_clear_line(tmp_path, content, message) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(WorkloadError, match=message) as exc:
        load_config(path)
    assert "\n" not in str(exc.value)


def test_unknown_model_lists_the_valid_names() -> None:
    with pytest.raises(WorkloadError, match="unknown model 'qwen9'") as exc:
        load_config("qwen9")
    assert all(n in str(exc.value) for n in ISSUE_NAMES)


TINY = __import__("pathlib").Path(__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize(("base", "change", "message"), [
    ("tiny-qwen3.5.json", {"num_key_value_heads": 3},
     "num_key_value_heads = 3 does not divide num_attention_heads = 4; valid: a divisor of 4 "
     "(1, 2, 4)"),
    ("tiny-qwen3.5.json", {"linear_num_key_heads": 3},
     "linear_num_key_heads = 3 does not divide linear_num_value_heads = 4"),
    ("tiny-qwen3.5.json", {"num_key_value_heads": 0},
     "field 'num_key_value_heads' must be a positive integer, got 0"),
    ("tiny-qwen3.5-moe.json", {"num_experts_per_tok": 9},
     "num_experts_per_tok = 9 is not between 1 and num_experts = 8"),
])
def test_contradictory_head_and_expert_counts_are_one_line_exit_2(tmp_path, capsys, base,
                                                                  change, message) -> None:
    """Before: a RuntimeError traceback from deep inside transformers (tensor sizes 4 and 3,
    or 'k not in range for dimension')."""
    from codesign.cli import main

    cfg = {**json.loads((TINY / base).read_text()), **change}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(WorkloadError) as refused:
        load_config(path)
    assert message in str(refused.value)
    for argv in (["trace", str(path), "--seq", "8"], ["run", str(path), "-t", "l4"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
