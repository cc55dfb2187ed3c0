"""Typed configs: TOML presets, dotted-path overrides, fingerprints."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from codesign import config
from codesign.config import param, section
from codesign.errors import CodesignError


@dataclass(frozen=True)
class Memory:
    dram_gbps: float = param(100.0, "DRAM bandwidth", "GB/s", "test")
    latency_ns: int = param(80, "DRAM latency", "ns", "test")


@dataclass(frozen=True)
class Unit:
    vlen: int = param(512, "vector register bits", "bit", "test")
    chaining: bool = param(True, "chaining on", "", "test")
    name: str = param("x", "a name")
    memory: Memory = section(Memory, "memory system")

    def check(self) -> None:
        if self.vlen & (self.vlen - 1):
            raise CodesignError(f"vector.vlen must be a power of two, got {self.vlen}")


def test_nested_overrides_parse_strings_to_field_types() -> None:
    cfg = config.override(Unit(), {"vlen": "1024", "memory.dram_gbps": "250.5",
                                   "memory.latency_ns": 90, "chaining": "off"})
    assert (cfg.vlen, cfg.memory.dram_gbps, cfg.memory.latency_ns, cfg.chaining) == (
        1024, 250.5, 90, False)
    assert Unit().memory.dram_gbps == 100.0  # the original is untouched


@pytest.mark.parametrize(("overrides", "message"), [
    ({"vlem": 1}, "unknown override path 'vlem'; valid: vlen, chaining, name, memory.dram_gbps"),
    ({"memory.bw": 1}, "unknown override path 'memory.bw'"),
    ({"vlen": "wide"}, "vlen: expected an integer, got 'wide'"),
    ({"memory.dram_gbps": "fast"}, "memory.dram_gbps: expected a number, got 'fast'"),
    ({"chaining": "maybe"}, "chaining: expected true or false"),
    ({"memory": 3}, "is a section"),
    ({"vlen.x": 3}, "is a field, not a section"),
    ({"vlen": 1000}, "must be a power of two"),
])
def test_bad_overrides_are_one_clear_error(overrides, message) -> None:
    with pytest.raises(CodesignError, match=message.replace("(", r"\(")):
        config.override(Unit(), overrides)


def test_from_dict_refuses_unknown_keys_and_bad_types(tmp_path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('vlen = 256\n[meta]\ndescription = "x"\n[memory]\ndram_gbps = 10.7\n')
    cfg, meta = config.load_toml(Unit, path)
    assert meta == {"description": "x"} and cfg.vlen == 256 and cfg.memory.dram_gbps == 10.7
    # TOML files a key written after [meta] under [meta]: refused, never silently ignored
    path.write_text('[meta]\ndescription = "x"\nvlen = 256\n')
    with pytest.raises(CodesignError, match=r"\[meta\] has no field 'vlen'.*valid \[meta\] "
                                            r"fields: description, sources"):
        config.load_toml(Unit, path)
    path.write_text("vlen = 256\n[memory]\nbandwidth = 3\n")
    with pytest.raises(CodesignError, match=r"unknown config field 'memory\.bandwidth'"):
        config.load_toml(Unit, path)
    path.write_text("vlen = [1\n")
    with pytest.raises(CodesignError, match="not valid TOML"):
        config.load_toml(Unit, path)


def test_fingerprint_is_stable_and_sensitive() -> None:
    a, b = Unit(), Unit()
    assert config.fingerprint(a) == config.fingerprint(b)
    assert config.fingerprint(config.override(a, {"memory.latency_ns": 81})) != \
        config.fingerprint(a)


def test_describe_lists_every_leaf_with_unit_and_source() -> None:
    rows = {r["path"]: r for r in config.describe(Unit())}
    assert set(rows) == {"vlen", "chaining", "name", "memory.dram_gbps", "memory.latency_ns"}
    assert rows["memory.dram_gbps"]["unit"] == "GB/s"


def test_field_type_and_type_name_by_dotted_path() -> None:
    cfg = Unit()
    assert config.field_type(cfg, "memory.dram_gbps") is float
    assert config.type_name(config.field_type(cfg, "memory.latency_ns")) == "int"
    assert config.type_name(config.field_type(cfg, "chaining")) == "bool"
    assert config.type_name(int | None) == "int" and config.type_name(str) == "str"
    for missing in ("memory", "memory.nope", "vlen.x", "nope"):  # a section is not a field
        assert config.field_type(cfg, missing) is None
    assert config.coerce("0x200", int, "vlen") == 512


def test_memoized_text_and_fingerprint_follow_the_config() -> None:
    """A frozen config keeps its text and fingerprint (issue #12): to_dict still hands out
    a fresh dict each call, and an overridden copy is fingerprinted anew."""
    import hashlib
    import json

    from codesign.riscv import make

    cfg = make("x280-like").config
    d = config.to_dict(cfg)
    d["vector"]["vlen"] = -1  # the caller's copy only
    assert config.to_dict(cfg)["vector"]["vlen"] == cfg.vector.vlen
    blob = json.dumps({"type": type(cfg).__qualname__, "fields": config.to_dict(cfg)},
                      sort_keys=True)
    assert config.fingerprint(cfg) == hashlib.sha256(blob.encode()).hexdigest()[:16]
    other = config.override(cfg, {"vector.vlen": 2 * cfg.vector.vlen})
    assert config.to_dict(other)["vector"]["vlen"] == 2 * cfg.vector.vlen
    assert config.fingerprint(other) != config.fingerprint(cfg)
    assert config.fingerprint(config.override(other, {"vector.vlen": cfg.vector.vlen})) \
        == config.fingerprint(cfg)
