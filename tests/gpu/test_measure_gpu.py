"""benchmarks/measure_gpu.py without a GPU: its rows and case files are what
``codesign validate --cases`` reads, and the model's answers to them follow t0 + bytes /
(eta x BW) and the launch modes (checked against independent arithmetic here)."""

from __future__ import annotations

import pytest

from codesign import gpu, validate
from codesign.cli import main


@pytest.fixture(scope="module")
def mg(bench_script):
    return bench_script("measure_gpu")


def test_sweep_covers_64k_to_1g_and_shapes_hold_the_bytes(mg):
    assert mg.SWEEP_BYTES[0] == 64 * 1024 and mg.SWEEP_BYTES[-1] == 1 << 30
    for nbytes in mg.SWEEP_BYTES:
        N, K = mg.gemv_shape(nbytes)
        assert nbytes == 2 * N * K and N >= 64
        row = mg.copy_row(nbytes)
        assert row["bytes_read"] == row["bytes_written"] == nbytes
        assert 2 * row["M"] * row["N"] == nbytes


def test_elementwise_rows_hold_the_bytes_and_the_trace_s_flops(mg):
    from workloads import costs

    for kind, op, inputs in (("elementwise", "add", 2), ("activation", "silu", 1)):
        row = mg.elementwise_row(kind, op, 1 << 30, inputs)
        assert 2 * row["M"] * row["N"] == 1 << 30 == row["bytes_written"]
        assert row["bytes_read"] == inputs << 30
        assert row["flops"] == costs.op_flops(row) == row["M"] * row["N"]


def test_written_cases_are_read_by_validate_with_the_model_s_answers(mg, tmp_path, capsys):
    cfg = gpu.make("h100-sxm").config
    t0, gap = cfg.launch.t0_us * 1e-6, cfg.launch.gap_us * 1e-6
    big = 1 << 30
    copy_model = t0 + 2 * big / (cfg.dram_bps * cfg.efficiency.dram_stream) + gap
    # a tiny dependent kernel in a graph replay: one CTA, so its share of t0 (what one CTA
    # draws of the streaming rate) and its 4 KB at that CTA's rate, or its one DRAM round
    # trip when longer; then the gap
    sm_bw = cfg.memory.sm_max_gbps * 1e9
    ramp = t0 * sm_bw / (cfg.dram_bps * cfg.efficiency.dram_stream)
    chain_graph = max(ramp + 4096 / sm_bw, cfg.memory.latency_ns * 1e-9) + gap
    chain_eager = max(cfg.launch.host_launch_us * 1e-6, chain_graph)
    measured = [
        ("sweep-copy-1048576k", mg.copy_row(big), {"launch.mode": "eager"}, copy_model, False),
        ("launch-chain-graph", mg.chain_row(), {"launch.mode": "graph"}, chain_graph, False),
        ("launch-chain-eager", mg.chain_row(), {"launch.mode": "eager"}, chain_eager, False),
        ("sampler-b8-v248320", mg.sampler_row(8, mg.VOCAB), {"launch.mode": "eager"},
         50e-6, True),
    ]
    out = tmp_path / "m.json"
    mg.write_cases(out, "h100-sxm", "fake H100", "test", measured)
    rows = validate.run(None, [out])
    by = {r["case"]: r for r in rows}
    for name in ("sweep-copy-1048576k", "launch-chain-graph", "launch-chain-eager"):
        assert abs(by[f"measured-h100-sxm-{name}"]["error"]) < 0.01, name
    assert by["measured-h100-sxm-sampler-b8-v248320"]["informational"]
    assert main(["validate", "--suite", "none", "--cases", str(out)]) == 0
    capsys.readouterr()


def test_unknown_group_is_refused_before_any_device_work(mg, capsys):
    assert mg.main(["--groups", "sweep,bogus"]) == 2
    assert "unknown group 'bogus'; valid: kernels, sweep, launch, sampler, power" in \
        capsys.readouterr().err
