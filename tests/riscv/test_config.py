"""The core configuration, presets and target names."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from codesign import config as C
from codesign import targets
from codesign.errors import CodesignError
from codesign.riscv import PRESET_DIR, make, names, owns, preset
from codesign.riscv.config import RiscvConfig
from isa.instructions import EXTENSIONS
from isa.timing import TimingParams

PRESETS = ("x280-like", "spacemit-x60-like", "spacemit-k1", "spatz-like", "c950-like",
           "sg2042-like")


def test_every_field_has_help_and_source():
    for row in C.describe(RiscvConfig()):
        assert row["help"], row["path"]
        assert row["source"], row["path"]


def test_the_timing_section_is_timing_params_with_vlen_and_dlen_from_the_vector_section():
    """Each timing constant is declared once (isa.timing.TimingParams); VLEN, DLEN and
    the matrix array's width are declared only in the vector/matrix sections and follow
    them through presets and overrides; setting them under timing is refused."""
    cfg = RiscvConfig()
    assert cfg.timing_params() == TimingParams()
    assert isinstance(cfg.timing, TimingParams)
    derived = {f.name: C.derived_from(f) for f in dataclasses.fields(TimingParams)
               if C.derived_from(f)}
    assert derived == {"vlen": "vector.vlen", "dlen": "vector.dlen",
                       "mmacc_macs_per_cycle_at_dlen256": "matrix.macs_per_cycle_at_dlen256"}
    x60 = make("spacemit-x60-like", {"vector.dlen": 64, "timing.fp_latency": 3}).config
    assert (x60.timing.vlen, x60.timing.dlen, x60.timing.fp_latency) == (256, 64, 3)
    assert x60.timing.fp_dlen == 256  # the preset's [timing] value
    with pytest.raises(CodesignError, match=r"timing\.dlen"):
        make("x280-like", {"timing.dlen": 128})
    with pytest.raises(CodesignError, match=r"set by vector\.vlen"):
        C.from_dict(RiscvConfig, {"timing": {"vlen": 1024}})
    settable = {p for p, _, _ in C.paths(cfg)}
    assert not settable & {f"timing.{name}" for name in derived}
    assert "vector.vlen" in settable and "timing.fp_latency" in settable


def test_presets_are_files_with_sources():
    assert {p.stem for p in PRESET_DIR.glob("*.toml")} == set(PRESETS)
    for name in PRESETS:
        raw = tomllib.loads((PRESET_DIR / f"{name}.toml").read_text())
        assert raw["meta"]["description"] and raw["meta"]["sources"]
        cfg, _meta = preset(name)
        assert cfg.isa == "rvv"


def test_published_preset_numbers():
    x280 = preset("x280-like")[0]
    assert (x280.vector.vlen, x280.vector.dlen, x280.scalar.issue_width) == (512, 256, 2)
    k1 = preset("spacemit-x60-like")[0]
    assert (k1.cluster.cores, k1.scalar.freq_ghz, k1.vector.vlen, k1.vector.dlen) == \
        (8, 1.6, 256, 128)
    assert k1.dram.bandwidth_gbps == pytest.approx(10.66)
    # the K1 as it ships (Linux k1.dtsi): two clusters of 4 cores, 512 KiB L2 each
    real = preset("spacemit-k1")[0]
    assert (real.cluster.cores, real.cluster.clusters, real.l2.size_kib, real.l2.shared,
            real.l1d.size_kib, real.memory.line_bytes) == (8, 2, 512.0, True, 32.0, 64)
    assert (real.scalar.freq_ghz, real.dram.bandwidth_gbps, real.dram.capacity_gb) == \
        (1.6, 10.66, 16.0)
    assert real.timing == k1.timing and real.vector == k1.vector  # the X60 core
    assert make("spacemit-k1+ime").config.parsed_isa.has("smt.vmadot")
    spatz = preset("spatz-like")[0]
    assert (spatz.vector.vlen, spatz.vector.dlen, spatz.cluster.cores) == (512, 256, 2)
    c950 = preset("c950-like")[0]
    assert (c950.scalar.freq_ghz, c950.cluster.cores, c950.l1d.latency) == (3.2, 8, 4)


def test_c950_assumptions_are_marked():
    raw = tomllib.loads((PRESET_DIR / "c950-like.toml").read_text())
    assumed = " ".join(raw["meta"]["assumed"])
    for field in ("vector.vlen", "vector.dlen", "dram.bandwidth_gbps", "l2.size_kib"):
        assert field in assumed


def test_names_and_isa_variants():
    ns = names()
    for p in PRESETS:
        assert p in ns and f"{p}+xattn" in ns
    assert make("c950-like+xattn").config.isa == "rvv+xattn"
    for sub in EXTENSIONS["xattn"].subsets:
        t = make(f"c950-like+xattn:{sub}")
        assert owns(t.name)
        enabled = set(EXTENSIONS["xattn"].subsets[sub])
        from isa.instructions import parse_isa
        isa = parse_isa(t.config.isa)
        assert {m for m in EXTENSIONS["xattn"].mnemonics if isa.has(m)} == enabled
    assert make("x280-like+xattn:vfexp,segred").config.isa == "rvv+xattn:vfexp,segred"


def test_registry_resolves_riscv_targets():
    t = targets.resolve("spatz-like+xattn", {"vector.dlen": 128})
    assert t.family == "riscv" and t.config.vector.dlen == 128
    assert "c950-like" in targets.names()


@pytest.mark.parametrize(("name", "overrides", "needle"), [
    ("c951-like", {}, "unknown"),
    ("c950-like+xattn:vfbogus", {}, "vfbogus"),
    ("c950-like", {"vector.bogus": 1}, "vector.bogus"),
    ("c950-like", {"vector.dlen": "wide"}, "vector.dlen"),
    ("c950-like", {"vector.dlen": 1024}, "DLEN"),
    ("c950-like", {"dram.bandwidth_gbps": -1}, "dram.bandwidth_gbps"),
    ("c950-like", {"vector": 3}, "section"),
])
def test_bad_input_is_one_clear_error(name, overrides, needle):
    with pytest.raises(CodesignError) as err:
        targets.resolve(name, overrides)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg


def test_fingerprint_follows_config():
    a, b = make("c950-like"), make("c950-like")
    assert a.fingerprint == b.fingerprint
    assert make("c950-like", {"dram.bandwidth_gbps": 100}).fingerprint != a.fingerprint
    assert make("c950-like+xattn").fingerprint != a.fingerprint


def test_core_shape_passed_to_kernels():
    cfg = make("c950-like", {"kernel.gemm_mr": 4, "kernel.attn_bc": 16}).config
    core = cfg.core("fp32")
    assert (core.vlen, core.dlen, core.dtype, core.gemm_mr, core.attn_bc) == \
        (512, 256, "fp32", 4, 16)
