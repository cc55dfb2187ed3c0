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
# issue #13: the families beside Qwen, each from its own transformers classes
OTHER_NAMES = ["llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b",
               "mistral-7b", "mixtral-8x7b", "gpt-oss-20b", "gpt-oss-120b"]
ALL_NAMES = ISSUE_NAMES + OTHER_NAMES

# Published sizes (total, active), billions: the Hugging Face model pages' parameter counts
# (Llama 2 6.74B / 13.0B / 69.0B, Llama 3.1 8.03B / 70.6B, Mistral 7B 7.24B) and the
# Mixtral paper's 46.7B total / 12.9B active (arXiv 2401.04088, section 2.1).
PUBLISHED_OTHER = {
    "llama-2-7b": (6.74, None), "llama-2-13b": (13.0, None), "llama-2-70b": (69.0, None),
    "llama-3.1-8b": (8.03, None), "llama-3.1-70b": (70.6, None), "mistral-7b": (7.24, None),
    "mixtral-8x7b": (46.7, 12.9),
}

# shared/reference/qwen.md §1.4: text-tower parameter counts (total, active), billions.
REFERENCE_QWEN35 = {
    "qwen3.5-0.8b": (0.75, None), "qwen3.5-2b": (1.88, None), "qwen3.5-4b": (4.21, None),
    "qwen3.5-9b": (8.95, None), "qwen3.5-27b": (26.90, None),
    "qwen3.5-35b-a3b": (34.66, 3.45), "qwen3.5-122b-a10b": (122.11, 9.77),
    "qwen3.5-397b-a17b": (396.35, 17.35),
}


def test_registry_has_every_model_the_issues_name() -> None:
    assert sorted(model_names()) == sorted(ALL_NAMES)
    assert list(model_names())[-9:] == OTHER_NAMES  # Qwen first, then the others by family


@pytest.mark.parametrize("name", sorted(REFERENCE_QWEN35) + sorted(PUBLISHED_OTHER))
def test_parameter_counts_match_reference_within_1_percent(name: str) -> None:
    total, active = {**REFERENCE_QWEN35, **PUBLISHED_OTHER}[name]
    pc = param_counts(load_config(name))
    assert pc.total / 1e9 == pytest.approx(total, rel=0.01)
    assert pc.active / 1e9 == pytest.approx(active if active else total, rel=0.01)


def test_397b_count_is_exactly_what_transformers_builds() -> None:
    # qwen.md §1.4 [run]: the full 60-layer text model has exactly 396,346,350,336 params.
    assert param_counts(load_config("qwen3.5-397b-a17b")).total == 396_346_350_336


def test_other_family_counts_from_the_dimensions_by_hand() -> None:
    """Independent of registry.param_counts: the per-layer sums written out."""
    # Llama-2-7B: q/k/v/o 4·4096², SwiGLU 3·4096·11008, 2 norms; embed + lm_head + norm
    layer = 4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096
    assert param_counts(load_config("llama-2-7b")).total == \
        32 * layer + 2 * 32000 * 4096 + 4096 == 6_738_415_616
    # Llama-3.1-8B: GQA (8 KV heads of 128), vocab 128256
    layer = 2 * 4096**2 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096
    assert param_counts(load_config("llama-3.1-8b")).total == \
        32 * layer + 2 * 128256 * 4096 + 4096 == 8_030_261_248
    # Mixtral-8x7B: 8 experts of 3·4096·14336, router 8·4096; one token uses 2 experts
    attn, expert = 2 * 4096**2 + 2 * 4096 * 1024, 3 * 4096 * 14336
    rest = 2 * 32000 * 4096 + 4096
    pc = param_counts(load_config("mixtral-8x7b"))
    assert pc.total == 32 * (attn + 8 * expert + 8 * 4096 + 2 * 4096) + rest == 46_702_792_704
    assert pc.active == 32 * (attn + 2 * expert + 8 * 4096 + 2 * 4096) + rest == 12_879_925_248


def test_families_windows_and_layer_types() -> None:
    fam = {n: load_config(n).family for n in ALL_NAMES}
    assert {fam["llama-2-7b"], fam["llama-3.1-70b"], fam["mistral-7b"], fam["mixtral-8x7b"],
            fam["qwen3.5-9b"], fam["qwen2.5-7b"]} == {
        "Llama", "Mistral", "Mixtral", "Qwen3.5", "Qwen2"}
    mistral, mixtral = load_config("mistral-7b"), load_config("mixtral-8x7b")
    assert mistral.sliding_window == 4096 and mistral.layer_types == ["sliding_attention"] * 32
    assert mixtral.sliding_window == 0 and mixtral.layer_types == ["full_attention"] * 32
    assert (mixtral.is_moe, mixtral.num_experts, mixtral.expert_intermediate) == (
        True, 8, 14336)
    assert load_config("llama-3.1-8b").get("rope_scaling")["rope_type"] == "llama3"
    assert load_config("llama-2-70b").kv_heads == 8 and load_config("llama-2-13b").kv_heads == 40


def test_a_windowed_mixtral_config_by_path_has_sliding_layers(tmp_path) -> None:
    fields = {**load_config("mixtral-8x7b").hf_dict(), "sliding_window": 4096}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(fields))
    cfg = load_config(path)
    assert (cfg.sliding_window, set(cfg.layer_types)) == (4096, {"sliding_attention"})
    assert param_counts(cfg).total == param_counts(load_config("mixtral-8x7b")).total


@pytest.mark.parametrize("name", OTHER_NAMES)
def test_every_other_config_names_its_published_source(name: str) -> None:
    cfg = load_config(name)
    assert cfg.source.endswith("config.json (Hugging Face Hub)")
    assert "/" in cfg.source  # the Hub repository, e.g. meta-llama/Llama-3.1-8B


@pytest.mark.parametrize("name", ALL_NAMES)
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
    ('{"model_type": "gpt2", "hidden_size": 8}',
     "unsupported model_type 'gpt2'; valid: .*llama, mistral, mixtral, gpt_oss"),
    ('{"model_type": "qwen3", "hidden_size": 8}', "lacks required fields"),
    ('{"model_type": "mixtral", "hidden_size": 8, "num_hidden_layers": 1, '
     '"num_attention_heads": 1, "vocab_size": 8, "intermediate_size": 8}',
     "lacks required fields: num_local_experts, num_experts_per_tok"),
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
    assert all(n in str(exc.value) for n in ALL_NAMES)


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


def test_gpt_oss_counts_are_the_model_cards() -> None:
    """arXiv 2508.10925 (gpt-oss model card), Table 1: 116.83B total / 5.13B active
    (120b) and 20.91B / 3.61B (20b); its active count leaves out the embedding table."""
    for name, total, active in (("gpt-oss-120b", 116.83, 5.13), ("gpt-oss-20b", 20.91, 3.61)):
        pc = param_counts(load_config(name))
        assert pc.total / 1e9 == pytest.approx(total, rel=0.002)
        assert (pc.active - pc.embedding) / 1e9 == pytest.approx(active, rel=0.005)


def test_gpt_oss_count_from_the_dimensions_by_hand() -> None:
    """Written out from modeling_gpt_oss.py: q/k/v/o with biases and a sink logit per head;
    a router with bias; 128 experts of gate_up (2880 -> 2 x 2880) and down, with biases."""
    h, nh, nkv, hd, im, e, k, v = 2880, 64, 8, 64, 2880, 128, 4, 201088
    attn = h * nh * hd + 2 * h * nkv * hd + nh * hd * h + (nh * hd + 2 * nkv * hd + h) + nh
    expert = 3 * h * im + 2 * im + h
    router = e * h + e
    rest = 2 * v * h + h  # embedding, lm_head (untied), final norm
    pc = param_counts(load_config("gpt-oss-120b"))
    assert pc.total == 36 * (attn + router + e * expert + 2 * h) + rest
    assert pc.active == 36 * (attn + router + k * expert + 2 * h) + rest
    cfg = load_config("gpt-oss-120b")
    assert cfg.family == "GPT-OSS" and cfg.sliding_window == 128
    assert cfg.layer_types[:4] == ["sliding_attention", "full_attention"] * 2
