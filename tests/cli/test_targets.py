"""``codesign targets``: the listing, the family filter, one target's config fields."""

from __future__ import annotations

import json

from codesign.cli import main
from codesign.riscv import describe

GPUS = {"a100-80gb", "h100-sxm", "h200", "l4", "rtx-4090", "jetson-agx-orin", "b200"}


def test_list_every_target_with_family_and_description(capsys):
    assert main(["targets", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    gpus = {r["name"]: r for r in rows if r["family"] == "gpu"}
    assert set(gpus) == GPUS
    assert "989 TFLOP/s" in gpus["h100-sxm"]["description"]
    assert all(r["description"] for r in gpus.values())


def test_plain_and_xattn_targets_of_one_preset_say_which_isa(capsys):
    assert main(["targets", "--family", "riscv", "--format", "json"]) == 0
    rows = {r["name"]: r["description"] for r in json.loads(capsys.readouterr().out)}
    plain, xattn = rows["c950-like"], rows["c950-like+xattn"]
    assert plain != xattn and plain.endswith("plain RVV 1.0")
    assert all(m in xattn for m in ("vfexp.v", "vfwmmacc.vv", "vfsegredsum.vv"))
    assert "vfwmmacc" not in describe("c950-like+xattn:vfexp")


def test_family_filter_and_table(capsys):
    assert main(["targets", "--family", "gpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["name", "family", "description"]
    table = out[2:out.index("")]
    assert {line.split()[0] for line in table} == GPUS
    assert out[-1].startswith("GPU targets run a serving engine: --engine NAME (default vllm")


def test_unknown_family_is_a_user_error(capsys):
    assert main(["targets", "--family", "tpu"]) == 2
    err = capsys.readouterr().err
    assert "unknown family 'tpu'; valid: " in err and "gpu" in err


def test_fields_show_paths_values_units_help_and_sources(capsys):
    assert main(["targets", "--fields", "h100-sxm", "--format", "json"]) == 0
    rows = {r["path"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["sm.count"]["value"] == 132 and "gpu.md" in rows["sm.count"]["source"]
    assert rows["memory.dram_gbps"]["unit"] == "GB/s"
    assert rows["attention.implementation"]["value"] == "fa3"
    assert rows["launch.mode"]["value"] == "engine"  # the engine's mode for each phase
    assert rows["engine.name"]["value"] == "vllm"  # the default engine
    assert rows["engine.decode_launch"]["value"] == "graph"
    assert all(r["help"] for r in rows.values())


def test_fields_table_names_the_fingerprint(capsys):
    assert main(["targets", "--fields", "l4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("l4 (gpu), fingerprint ")
    assert "sm.count" in out and "58" in out


def test_fields_of_an_unknown_target_lists_valid_names(capsys):
    assert main(["targets", "--fields", "v100"]) == 2
    err = capsys.readouterr().err
    assert "unknown target 'v100'; valid: " in err and "a100-80gb" in err


def test_fields_cite_the_presets_source_for_what_the_preset_sets(capsys):
    """Before: every row cited the dataclass default's source, so c950-like's 3.2 GHz
    clock read "assumed: normalised 1 GHz clock"."""
    assert main(["targets", "--fields", "c950-like+xattn", "--format", "json"]) == 0
    rows = {r["path"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["scalar.freq_ghz"]["value"] == 3.2
    assert rows["scalar.freq_ghz"]["source"] == "c950-like.toml: riscv.md §3.1"
    # an assumption cites its [meta] assumed reason
    assert rows["vector.vlen"]["source"].startswith(
        "c950-like.toml: assumed: C950 vector width not published")
    # a comment continued on the next line is cited whole
    assert rows["timing.scalar_load_latency"]["source"].endswith(
        "the other instruction timing is the SiFive7 model (llvm-mca 22, sifive-x280)")
    assert rows["isa"]["source"] == "the target name 'c950-like+xattn'"
    # a field the preset leaves alone keeps the default's source
    assert rows["timing.fp_latency"]["source"] == "riscv.md §4.1: vfadd/vfsub/vfmul: 8"


def test_fields_mark_a_presets_unverified_values(capsys):
    assert main(["targets", "--fields", "h100-sxm", "--format", "json"]) == 0
    rows = {r["path"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["sm.count"]["source"] == "h100-sxm.toml: gpu.md §1"
    assert rows["memory.latency_ns"]["source"].startswith("h100-sxm.toml: [M]")
