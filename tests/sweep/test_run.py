"""Running sweeps locally: the rows, derived metrics, parallel workers and resuming."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

import codesign as cd
from codesign.cli import main
from codesign.sweep import run_with_info, store, worker

from .conftest import TINY_CONFIG, gpu_spec


def by_row(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("row_id").reset_index(drop=True)


def test_rows_hold_axes_metrics_and_match_direct_simulation(write_spec, tiny_trace, tmp_path):
    spec = write_spec(gpu_spec(tiny_trace, extra='[derived.vs_l4]\nspeedup_over = "l4"\n'))
    df = cd.sweep(spec, jobs=1, out=tmp_path / "out", progress=False)
    assert len(df) == 2 * 2 * 2 + 1  # targets x dram x efficiency, plus the l4 preset
    for col in ("target", "memory.dram_gbps", "efficiency.dram_stream", "latency_s",
                "tokens_per_s", "tpot_s", "seconds_gemm", "seconds_attention", "fingerprint",
                "speedup_vs_a100", "vs_l4"):
        assert col in df.columns
    row = df[(df.target == "h100-sxm") & (df["memory.dram_gbps"] == 2000.0)
             & (df["efficiency.dram_stream"] == 0.8)].iloc[0]
    direct = cd.simulate(tiny_trace, "h100-sxm", **{"memory.dram_gbps": 2000.0,
                                                   "efficiency.dram_stream": 0.8}).summary()
    assert row.latency_s == direct["latency_s"] and row.fingerprint == direct["fingerprint"]
    assert row.seconds_gemm == direct["seconds_by_kind"]["gemm"]
    # the memory footprint travels with every row, as in `codesign run`'s table
    assert row.memory_gb == direct["memory_gb"] > 0
    assert row.capacity_gb == 80.0 and row.fits_memory == direct["fits_memory"] is True
    a100 = df[(df.target == "a100-80gb") & (df["memory.dram_gbps"] == 2000.0)
              & (df["efficiency.dram_stream"] == 0.8)].iloc[0]
    assert row.speedup_vs_a100 == pytest.approx(a100.latency_s / row.latency_s)
    assert a100.speedup_vs_a100 == 1.0
    l4 = cd.simulate(tiny_trace, "l4").latency_s
    assert row.vs_l4 == pytest.approx(l4 / row.latency_s)
    assert pd.isna(df[df.reference].iloc[0]["memory.dram_gbps"])
    # results.parquet and the parts dataset hold the same rows
    saved = pd.read_parquet(tmp_path / "out" / "results.parquet")
    pd.testing.assert_frame_equal(by_row(saved), by_row(df))
    dataset = pd.read_parquet(tmp_path / "out" / "parts")
    assert sorted(dataset.row_id) == sorted(df.row_id)


def test_parallel_workers_match_serial_and_never_import_torch(write_spec, tiny_trace, tmp_path):
    spec = write_spec(gpu_spec(tiny_trace))
    serial = cd.sweep(spec, jobs=1, out=tmp_path / "a", progress=False)
    parallel, info = run_with_info(spec, jobs=2, out=tmp_path / "b", chunk=2, progress=False)
    pd.testing.assert_frame_equal(by_row(serial), by_row(parallel))
    assert info.parts == 4 and info.computed == 8
    assert info.workers and not any(w["torch"] for w in info.workers)
    # each worker froze what its imports allocated (issue #12: no collection traverses it)
    import gc

    from codesign.sweep import pool

    executor = pool.workers(2, 2)  # the pool the sweep used, still started
    assert executor.submit(gc.get_freeze_count).result() > 10_000
    # long-lived workers: 4 batches, at most 2 processes (their memo carries over)
    assert len({w["pid"] for w in info.workers}) <= 2


def test_riscv_sweep_uses_the_shared_kernel_memo(write_spec, tiny_trace, tmp_path,
                                                 monkeypatch):
    monkeypatch.setenv("CODESIGN_CACHE_DIR", str(tmp_path / "cache"))  # workers inherit it
    spec = write_spec(f"""\
[workloads]
trace = "{tiny_trace}"
[axes]
target = ["c950-like", "c950-like+xattn"]
"vector.vlen" = [256, 512]
[derived.xattn_speedup]
speedup_over = "c950-like"
""")
    df, info = run_with_info(spec, jobs=2, out=tmp_path / "a", chunk=1, progress=False)
    assert info.computed == 4 and not any(w["torch"] for w in info.workers)
    from codesign.riscv import cache as timing_cache
    (store,) = timing_cache.info()  # the workers filled the disk memo: programs and rows
    assert store.current and store.entries >= 4
    for row in df.to_dict("records"):
        vlen = row["vector.vlen"]
        direct = cd.simulate(tiny_trace, row["target"], **{"vector.vlen": vlen})
        assert row["latency_s"] == direct.latency_s and row["family"] == "riscv"
        base = df[(df.target == "c950-like") & (df["vector.vlen"] == vlen)].latency_s.iloc[0]
        assert row["xattn_speedup"] == pytest.approx(base / row["latency_s"])
    again = cd.sweep(spec, jobs=1, out=tmp_path / "b", progress=False)  # from the memo
    pd.testing.assert_frame_equal(by_row(df), by_row(again))


def test_rerun_skips_finished_rows_and_recomputes_only_lost_parts(write_spec, tiny_trace,
                                                                  tmp_path):
    spec = write_spec(gpu_spec(tiny_trace, dram="[1000.0, 2000.0, 3000.0]"))
    out = tmp_path / "out"
    first, info = run_with_info(spec, jobs=1, out=out, chunk=3, progress=False)
    assert (info.computed, info.resumed, info.parts) == (12, 0, 4)
    again, info2 = run_with_info(spec, jobs=1, out=out, progress=False)
    assert (info2.computed, info2.resumed, info2.parts) == (0, 12, 0)
    pd.testing.assert_frame_equal(first, again)
    # lose one part and leave a stray temporary file of an interrupted write
    lost = store.part_files(out)[0]
    n_lost = pq.read_metadata(lost).num_rows
    lost.unlink()
    (out / "parts" / ".part-dead.parquet.1234.tmp").write_bytes(b"PAR1 half a file")
    third, info3 = run_with_info(spec, jobs=1, out=out, progress=False)
    assert info3.computed == n_lost and info3.resumed == 12 - n_lost
    pd.testing.assert_frame_equal(first, third)


def test_growing_the_spec_times_only_the_new_points(write_spec, tiny_trace, tmp_path):
    out = tmp_path / "out"
    small = write_spec(gpu_spec(tiny_trace, dram="[1000.0]"), "small.toml")
    big = write_spec(gpu_spec(tiny_trace, dram="[1000.0, 2000.0]"), "big.toml")
    run_with_info(small, jobs=1, out=out, progress=False)
    df, info = run_with_info(big, jobs=1, out=out, progress=False, force=True)
    assert (info.resumed, info.computed) == (4, 4) and len(df) == 8
    # rows of a different spec in the same directory do not leak into this one's results
    df_small, _ = run_with_info(small, jobs=1, out=out, progress=False, force=True)
    assert len(df_small) == 4


def test_model_workloads_are_traced_once_and_cached(write_spec, tmp_path, capsys):
    text = f"""\
name = "tiny-model"
[workloads]
model = "{TINY_CONFIG}"
phase = ["prefill", "decode"]
seq = [8]
context = [32]

[axes]
target = ["h100-sxm", "l4"]
"sm.count" = [16, 32]
"""
    out = tmp_path / "out"
    assert main(["sweep", str(write_spec(text)), "-o", str(out), "--jobs", "1",
                 "--no-progress", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["rows"], report["computed"], report["workloads"]) == (8, 8, 2)
    traces = sorted(p.name for p in (out / "traces").glob("*.parquet"))
    assert len(traces) == 2
    df = pd.read_parquet(out / "results.parquet")
    assert set(df.phase) == {"prefill", "decode"}
    assert df[df.phase == "prefill"].ttft_s.notna().all()
    assert df[df.phase == "decode"].tpot_s.notna().all()
    assert (out / "spec.toml").read_text() == text
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "traces").iterdir()}
    # a new axis value: the cached traces are reused, not extracted again
    assert main(["sweep", str(write_spec(text.replace("[16, 32]", "[16, 32, 64]"))),
                 "-o", str(out), "--jobs", "1", "--no-progress", "--format", "json",
                 "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["computed"] == 4
    assert {p: p.stat().st_mtime_ns for p in (out / "traces").iterdir()} == mtimes
    # a cached trace damaged inside a data page (its metadata intact) is extracted again,
    # never handed to the workers
    damaged = sorted((out / "traces").iterdir())[0]
    data = bytearray(damaged.read_bytes())
    data[64] ^= 0x04
    damaged.write_bytes(bytes(data))
    written = damaged.stat().st_mtime_ns
    worker._TRACES.clear()  # as a new process would: nothing loaded yet
    assert main(["sweep", str(write_spec(text.replace("[16, 32]", "[16, 32, 8]"))),
                 "-o", str(out), "--jobs", "1", "--no-progress", "--format", "json",
                 "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["computed"] == 4  # the new axis value
    assert damaged.stat().st_mtime_ns != written


def test_cli_prints_the_table_and_progress(write_spec, tiny_trace, tmp_path, capsys):
    spec = write_spec(gpu_spec(tiny_trace))
    assert main(["sweep", str(spec), "-o", str(tmp_path / "o"), "--jobs", "1"]) == 0
    cap = capsys.readouterr()
    assert "sweep gpu-small: 8 rows (8 timed, 0 already done)" in cap.out
    assert "speedup_vs_a100" in cap.out and "memory.dram_gbps" in cap.out
    assert "8/8" in cap.err and "pt/s" in cap.err  # tqdm: count and rate on stderr


@pytest.fixture
def edited_gpu_presets(tmp_path, monkeypatch):
    """A copy of the GPU presets the test may edit, in place of the package's."""
    import shutil

    from codesign import gpu

    copy = tmp_path / "presets"
    shutil.copytree(gpu.PRESET_DIR, copy)
    monkeypatch.setattr(gpu.presets, "directory", copy)
    return copy


def test_a_preset_change_times_the_changed_rows_again_and_says_how_many(
        write_spec, tiny_trace, tmp_path, edited_gpu_presets, capsys):
    spec = write_spec(gpu_spec(tiny_trace))
    out = tmp_path / "out"
    first, info = run_with_info(spec, jobs=1, out=out, progress=False)
    assert (info.computed, info.stale) == (8, 0)
    # the A100 preset changes: its kernels launch with a longer gap (h100-sxm's rows stay)
    a100 = edited_gpu_presets / "a100-80gb.toml"
    assert "[launch]" not in a100.read_text()
    a100.write_text(a100.read_text() + "\n[launch]\ngap_us = 3.9\n")

    assert main(["sweep", str(spec), "-o", str(out), "--jobs", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "8 rows (4 timed, 4 already done)" in printed
    assert "4 finished rows were computed from another config or model" in printed
    again = pd.read_parquet(out / "results.parquet")
    fresh = cd.sweep(spec, jobs=1, out=tmp_path / "fresh", progress=False)
    cols = ["row_id", "latency_s", "speedup_vs_a100", "fingerprint"]
    pd.testing.assert_frame_equal(by_row(again)[cols], by_row(fresh)[cols])
    slower = by_row(again).latency_s > by_row(first).latency_s
    assert list(by_row(again)[slower].target.unique()) == ["a100-80gb"] and slower.sum() == 4


def test_a_changed_registered_model_config_re_extracts_its_trace_and_times_its_rows_again(
        write_spec, tmp_path, monkeypatch):
    # a registered model's workload id is its name, so only the trace's own record of the
    # config tells that the registry's config.json changed (a new version pulled, say)
    from workloads import registry

    configs = tmp_path / "configs"
    configs.mkdir()
    cfg = json.loads(TINY_CONFIG.read_text())
    (configs / "tiny-registered.json").write_text(json.dumps(cfg))
    monkeypatch.setattr(registry, "_config_dir", lambda: configs)
    registry.model_names.cache_clear()
    try:
        spec = write_spec('name = "m"\n[workloads]\nmodel = "tiny-registered"\n'
                          'phase = "decode"\ncontext = [32]\n'
                          '[axes]\ntarget = ["h100-sxm", "l4"]\n')
        out = tmp_path / "out"
        first, _ = run_with_info(spec, jobs=1, out=out, progress=False)
        cfg["intermediate_size"] *= 4
        (configs / "tiny-registered.json").write_text(json.dumps(cfg))
        again, info = run_with_info(spec, jobs=1, out=out, progress=False)
    finally:
        registry.model_names.cache_clear()
    assert (info.computed, info.resumed, info.stale) == (2, 0, 2)
    assert (again.gflop > first.gflop).all()  # the bigger MLP, not the cached old numbers


def test_a_different_spec_into_a_used_directory_is_refused_unless_forced(
        write_spec, tiny_trace, tmp_path, capsys):
    out = tmp_path / "out"
    one = write_spec(gpu_spec(tiny_trace, dram="[1000.0]"), "one.toml")
    other = write_spec(gpu_spec(tiny_trace, dram="[3000.0]"), "other.toml")
    assert main(["sweep", str(one), "-o", str(out), "--jobs", "1", "--no-progress"]) == 0
    results = (out / "results.parquet").read_bytes()
    capsys.readouterr()
    assert main(["sweep", str(other), "-o", str(out), "--jobs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds the results of a different spec" in err and "--force" in err
    assert err.count("\n") == 1
    assert (out / "results.parquet").read_bytes() == results  # untouched
    assert (out / "spec.toml").read_text() == one.read_text()
    assert main(["sweep", str(other), "-o", str(out), "--jobs", "1", "--no-progress",
                 "--force"]) == 0
    assert (out / "spec.toml").read_text() == other.read_text()


def test_parts_written_before_a_metric_column_existed_still_assemble(write_spec, tiny_trace,
                                                                    tmp_path):
    spec = write_spec(gpu_spec(tiny_trace))
    out = tmp_path / "out"
    full = cd.sweep(spec, jobs=1, out=out, progress=False)
    for part in store.part_files(out):      # rewrite each part as an older version wrote it
        table = pq.read_table(part)
        pq.write_table(table.drop_columns(["memory_gb", "fits_memory"]), part)
    again, info = run_with_info(spec, jobs=1, out=out, progress=False)
    assert info.computed == 0                # rows still count as done ...
    assert again.latency_s.tolist() == full.latency_s.tolist()
    assert again.memory_gb.isna().all()      # ... and the missing column reads as missing
