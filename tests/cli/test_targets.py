"""``codesign targets``: the listing, the family filter, one target's config fields."""

from __future__ import annotations

import json

from codesign.cli import main

GPUS = {"a100-80gb", "h100-sxm", "h200", "l4", "rtx-4090", "jetson-agx-orin", "b200"}


def test_list_every_target_with_family_and_description(capsys):
    assert main(["targets", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    gpus = {r["name"]: r for r in rows if r["family"] == "gpu"}
    assert set(gpus) == GPUS
    assert "989 TFLOP/s" in gpus["h100-sxm"]["description"]
    assert all(r["description"] for r in gpus.values())


def test_family_filter_and_table(capsys):
    assert main(["targets", "--family", "gpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["name", "family", "description"]
    assert {line.split()[0] for line in out[2:]} == GPUS


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
    assert rows["launch.mode"]["value"] == "graph"
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
