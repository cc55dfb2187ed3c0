"""``codesign validate --suite riscv``: real RISC-V silicon (SpacemiT K1 running llama.cpp,
sbc-bench memory) and research vector cores (Spatz, Ara) from their papers."""

from __future__ import annotations

import json
import math

import pytest

from codesign import config as C
from codesign import targets, validate
from codesign.cli import main
from codesign.riscv.replay import peak_flops_per_cycle, time_op


@pytest.fixture(scope="module")
def cases():
    return {c.name: c for c in validate.load_cases(validate.suite_file("riscv"))[0]}


@pytest.fixture(scope="module")
def rows():
    return {r["case"]: r for r in validate.run("riscv")}


def test_the_suite_holds_the_issue_cases_each_with_a_source(cases):
    # #16's published cases: K1 llama.cpp (PR #15288, docs), BPI-F3 F16 prefill (PR #18199),
    # sbc-bench memory, Spatz and Ara utilisation
    for name in ("k1-qwen2.5-0.5b-q4_0-tg128", "k1-qwen2.5-1.5b-q4_0-tg128",
                 "k1-qwen2.5-3b-q4_0-tg128", "k1-qwen2.5-0.5b-q4_0-pp512",
                 "k1-qwen3-0.6b-q4_0-tg128", "k1-qwen3.5-2b-q4_1-pp128",
                 "bpi-f3-tinyllama-1.1b-f16-pp512", "bpi-f3-memcpy", "bpi-f3-memset",
                 "spatz-fmatmul-64", "ara-8lane-fmatmul-128", "ara-16lane-fmatmul-256",
                 "ara2-8x2lane-vs-1x16lane-fmatmul-32"):
        assert name in cases, name
    for c in cases.values():
        assert c.source and c.measured > 0
        assert targets.resolve(c.target, c.overrides).family == "riscv"


def test_every_case_predicts_a_finite_positive_number(rows, cases):
    assert set(rows) == set(cases)
    for name, r in rows.items():
        assert math.isfinite(r["predicted"]) and r["predicted"] > 0, name
        assert r["error"] == pytest.approx(r["predicted"] / r["measured"] - 1)
        assert r["fitted"] == cases[name].fitted


def test_the_k1_decode_cases_run_llamacpps_kernels_on_quantised_weights(cases):
    # each in the format its model was measured in: the case name says it (Q4_0; the
    # Qwen3.5-2B rows Q4_1)
    for name, c in cases.items():
        if name.startswith("k1-"):
            assert c.overrides["kernel.library"] == "llamacpp"
            assert c.scenario["weight_dtype"] in ("q4_0", "q4_1")
            assert f"-{c.scenario['weight_dtype']}-" in name


def test_the_docs_k1_cases_run_the_rewritten_spacemit_backend(cases):
    # docs/build-riscv64-spacemit.md's table (IME1 and IME2, the A100) was measured with
    # the backend PR #22863 rewrote; PR #15288's rows with the one it merged (the default)
    for name, c in cases.items():
        if name.startswith("k1-"):
            docs = c.source.startswith("ggml-org/llama.cpp docs/build-riscv64-spacemit.md")
            want = "pr22863" if docs else "pr15288"
            got = targets.resolve(c.target, c.overrides).config.kernel.llamacpp_spacemit
            assert got == want, name
            assert not docs or "PR #22863" in c.source


def test_utilization_is_flops_over_the_clusters_fma_peak(cases, rows):
    # independent of validate.predict: time the row, divide by cores x FMA FLOP/cycle x clock
    c = cases["spatz-fmatmul-64"]
    cfg = targets.resolve(c.target, c.overrides).config
    t = time_op(c.row, cfg, C.fingerprint(cfg))
    seconds = t["cycles"] / cfg.freq_hz
    peak = peak_flops_per_cycle(cfg, "fp32") * cfg.cluster.cores * cfg.freq_hz
    assert rows[c.name]["predicted"] == pytest.approx(c.row["flops"] / seconds / peak)
    assert 0 < rows[c.name]["predicted"] <= 1.0


def _error_lines(tmp_path, capsys, case: dict) -> list[str]:
    """``codesign validate`` on a file holding ``case`` (a 64^3 FP32 GEMM row): it must
    fail; its stderr lines."""
    row = {"kind": "gemm", "op": "matmul", "M": 64, "N": 64, "K": 64, "dtype": "fp32",
           "flops": 524288, "bytes_read": 32768, "bytes_written": 16384}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "codesign-validation-cases/1",
                                "cases": [{"name": "bad", "row": row, **case}]}))
    assert main(["validate", "--suite", "none", "--cases", str(path)]) != 0
    return capsys.readouterr().err.strip().splitlines()


def test_utilization_on_a_gpu_target_is_one_clear_error(tmp_path, capsys):
    err = _error_lines(tmp_path, capsys, {"target": "h100-sxm", "metric": "utilization",
                                          "measured": 0.5})
    assert len(err) == 1 and "'utilization' is defined for RISC-V targets" in err[0]


def test_speedup_is_the_baselines_time_over_the_cases(cases):
    # independent of validate.predict: time the row on both configurations
    c = cases["ara2-8x2lane-vs-1x16lane-fmatmul-32"]
    assert c.metric == "speedup" and c.fitted
    secs = []
    for target, sets in ((c.baseline["target"], c.baseline["set"]), (c.target, c.overrides)):
        cfg = targets.resolve(target, sets).config
        secs.append(time_op(c.row, cfg, C.fingerprint(cfg))["cycles"] / cfg.freq_hz)
    assert validate.predict(c) == pytest.approx(secs[0] / secs[1])
    # the Ara-like rows share the fitted vector-issue interval of this case, and the CVA6
    # host's handshake (counted from the RTL, not fitted)
    for key in ("vector.issue_interval", "vector.mem_ack_cycles", "vector.dispatch_at_commit",
                "scalar.dcache_kib", "scalar.dcache_line_bytes"):
        for name in ("ara-8lane-fmatmul-128", "ara-16lane-fmatmul-256"):
            assert cases[name].overrides[key] == c.overrides[key] == c.baseline["set"][key]
    assert c.overrides["vector.mem_ack_cycles"] == 4
    assert c.overrides["vector.dispatch_at_commit"] is True


def test_a_speedup_case_without_a_baseline_is_one_clear_error(tmp_path, capsys):
    err = _error_lines(tmp_path, capsys, {"target": "spatz-like", "metric": "speedup",
                                          "measured": 3.0})
    assert len(err) == 1 and "'speedup' needs a 'baseline'" in err[0]


def test_the_ara_cases_run_aras_fmatmul_under_the_issue_bound(cases, rows):
    """Every Ara case (and the Ara2 baseline) runs Ara's own kernel (kernel.library = ara);
    the 8-lane 128^3 case is fmatmul_8x8 at LMUL 2, whose k step issues 8 vfmacc.vf and
    one vle at least vector.issue_interval cycles apart, vector.mem_ack_cycles more after
    the vle, while the FPU works 8 x (32 elements / 8 per cycle): its utilisation cannot
    beat 32 / (9 x interval + mem_ack_cycles). CVA6's D-cache (scalar.dcache_*, at the
    rows' half widths: 4 KiB of 16-byte lines for CVA6's 8 KiB of 32-byte ones) cannot hold
    A (64 KiB here), so each row's A walk misses once per line, on one element in four: 8 /
    4 = 2 misses per k step, each holding the next vector instruction (sent at commit)
    until the flw, issued a cycle after its row's vfmacc, completes: 1 + load latency +
    miss cycles instead of the interval."""
    c = cases["ara-8lane-fmatmul-128"]
    for name in ("ara-8lane-fmatmul-128", "ara-16lane-fmatmul-256",
                 "ara2-8x2lane-vs-1x16lane-fmatmul-32"):
        assert cases[name].overrides["kernel.library"] == "ara"
    assert cases["ara2-8x2lane-vs-1x16lane-fmatmul-32"].baseline["set"]["kernel.library"] \
        == "ara"
    cfg = targets.resolve(c.target, c.overrides).config
    elems = 2 * cfg.vector.vlen // 32  # LMUL 2, FP32
    fpu = 8 * elems / (cfg.vector.dlen // 32)
    sc = cfg.scalar
    assert (sc.dcache_kib, sc.dcache_line_bytes) == (4, 16)
    per_miss = 1 + cfg.timing_params().scalar_load_latency + sc.dcache_miss_cycles \
        - cfg.vector.issue_interval
    misses = 8 / (sc.dcache_line_bytes // 4)  # per k step: 8 rows, one miss per line each
    bound = fpu / (9 * cfg.vector.issue_interval + cfg.vector.mem_ack_cycles
                   + misses * per_miss)
    assert elems == 32 and fpu == 32 and misses == 2
    assert 0.9 * bound < rows[c.name]["predicted"] <= bound
