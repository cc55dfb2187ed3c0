"""The trace schema and its Parquet persistence."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workloads.errors import WorkloadError
from workloads.schema import COLUMNS, SCHEMA_VERSION, Trace, trace_from_rows

META = {"model": "synthetic", "scenario": {"phase": "decode", "batch": 1, "seq": 0,
                                           "context": 64}}


def _small() -> Trace:
    return trace_from_rows([
        dict(kind="gemm", op="matmul", name="q_proj", layer=0, layers="0,2", repeat=2,
             module="model.layers.0.self_attn.q_proj", M=1, N=64, K=32,
             flops=2 * 64 * 32, bytes_read=4096, bytes_written=128),
        dict(kind="attention", op="sdpa", name="attention", layer=0, layers="0,2", repeat=2,
             module="model.layers.0.self_attn", B=1, Hq=4, Hkv=2, Sq=1, Skv=65, D=16,
             causal=True, flops=4 * 4 * 16 * 65, bytes_read=10, bytes_written=10),
        dict(kind="gemm", op="matmul", name="lm_head", module="lm_head", M=1, N=100, K=32,
             flops=6400, bytes_read=6464, bytes_written=200),
    ], META)


def test_save_load_round_trip(tmp_path) -> None:
    tr = _small()
    path = tr.save(tmp_path / "t.parquet")
    back = Trace.load(path)
    assert back.ops.equals(tr.ops)
    assert back.meta["model"] == "synthetic"
    assert back.meta["schema_version"] == SCHEMA_VERSION
    assert list(back.ops.columns) == list(COLUMNS)


def test_expand_rewrites_layer_paths_and_keeps_totals() -> None:
    tr = _small()
    ex = tr.expand()
    assert ex.ops.module.tolist()[:4] == [
        "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn",
        "model.layers.2.self_attn.q_proj", "model.layers.2.self_attn"]
    assert ex.total_flops == tr.total_flops == 2 * (2 * 64 * 32 + 4 * 4 * 16 * 65) + 6400


def test_loading_a_trace_does_not_import_torch(tmp_path) -> None:
    path = _small().save(tmp_path / "t.parquet")
    code = (f"import sys; from workloads.schema import Trace; Trace.load({str(path)!r}); "
            "import codesign; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_corrupted_file_is_refused(tmp_path) -> None:
    path = _small().save(tmp_path / "t.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WorkloadError, match="not a readable Parquet trace"):
        Trace.load(path)


def test_foreign_parquet_is_refused(tmp_path) -> None:
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), path)
    with pytest.raises(WorkloadError, match="not a codesign trace"):
        Trace.load(path)


def test_schema_version_mismatch_is_refused(tmp_path) -> None:
    tr = _small()
    table = pa.Table.from_pandas(tr.ops, preserve_index=False)
    meta = {**tr.meta, "schema_version": SCHEMA_VERSION + 1}
    table = table.replace_schema_metadata({b"codesign.trace": json.dumps(meta).encode()})
    pq.write_table(table, tmp_path / "future.parquet")
    with pytest.raises(WorkloadError, match=f"schema version {SCHEMA_VERSION + 1}"):
        Trace.load(tmp_path / "future.parquet")


def test_missing_file_is_refused(tmp_path) -> None:
    with pytest.raises(WorkloadError, match="does not exist"):
        Trace.load(tmp_path / "nope.parquet")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(WorkloadError, match="unknown op kinds \\['conv2d'\\]"):
        trace_from_rows([dict(kind="conv2d", op="x")], META)
    ops = _small().ops.drop(columns=["flops"])
    with pytest.raises(WorkloadError, match="missing columns: flops"):
        Trace(pd.DataFrame(ops), META)


def test_a_version_1_trace_reads_with_no_window(tmp_path) -> None:
    """Version 2 added the attention ``window`` (issue #13); version 1 had no windowed
    attention, so its rows read back with window 0 and nothing else changed."""
    tr = _small()
    table = pa.Table.from_pandas(tr.ops.drop(columns=["window", "sinks"]),
                                 preserve_index=False)
    meta = {**tr.meta, "schema_version": 1}
    table = table.replace_schema_metadata({b"codesign.trace": json.dumps(meta).encode()})
    pq.write_table(table, tmp_path / "v1.parquet")
    back = Trace.load(tmp_path / "v1.parquet")
    assert back.meta["schema_version"] == SCHEMA_VERSION == 3
    assert back.ops.equals(tr.ops)
    assert (back.ops.window == 0).all()


def test_a_version_2_trace_reads_with_no_sinks(tmp_path) -> None:
    """Version 3 added the attention ``sinks`` flag (GPT-OSS, issue #13); no family before
    it had sinks, so a version-2 trace reads back with sinks false."""
    tr = _small()
    table = pa.Table.from_pandas(tr.ops.drop(columns="sinks"), preserve_index=False)
    meta = {**tr.meta, "schema_version": 2}
    table = table.replace_schema_metadata({b"codesign.trace": json.dumps(meta).encode()})
    pq.write_table(table, tmp_path / "v2.parquet")
    back = Trace.load(tmp_path / "v2.parquet")
    assert back.meta["schema_version"] == 3
    assert back.ops.equals(tr.ops) and not back.ops.sinks.any()


def _same(a: Trace, b: Trace) -> bool:
    return a.ops.equals(b.ops) and a.meta == b.meta


def test_no_damaged_byte_is_read_as_a_different_trace(tmp_path) -> None:
    """Every data page carries a CRC and the metadata a SHA-256: flipping a bit anywhere in
    the file either leaves the trace as it was or refuses it in one line. Before: about
    half of such flips were read as other numbers (or other exceptions escaped)."""
    path = _small().save(tmp_path / "t.parquet")
    whole = Trace.load(path)
    data = path.read_bytes()
    damaged = tmp_path / "damaged.parquet"
    refused = wrong_without_checks = 0
    for i in range(4, len(data) - 4, 29):  # about 500 places: pages, footer, metadata
        flipped = bytearray(data)
        flipped[i] ^= 0x04
        damaged.write_bytes(bytes(flipped))
        try:  # what Parquet alone reads: the flips this test must catch
            plain = pq.read_table(damaged).to_pandas()
            wrong_without_checks += not plain.equals(whole.ops)
        except Exception:  # any refusal by Parquet itself is fine here
            pass
        try:
            assert _same(Trace.load(damaged), whole), f"byte {i} read as another trace"
        except WorkloadError:
            refused += 1
    assert wrong_without_checks > 10 and refused > wrong_without_checks


def test_metadata_that_no_longer_matches_its_checksum_is_refused(tmp_path, capsys) -> None:
    from codesign.cli import main

    path = _small().save(tmp_path / "t.parquet")
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    meta[b"codesign.trace"] = meta[b"codesign.trace"].replace(b'"batch": 1', b'"batch": 9')
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(WorkloadError, match="is damaged: its metadata does not match"):
        Trace.load(path)
    assert main(["run", str(path), "-t", "l4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is damaged" in err


def test_a_trace_written_before_checksums_still_loads(tmp_path) -> None:
    tr = _small()
    table = pa.Table.from_pandas(tr.ops, preserve_index=False)
    meta = {**tr.meta, "schema_version": SCHEMA_VERSION}
    pq.write_table(table.replace_schema_metadata(
        {**table.schema.metadata, b"codesign.trace": json.dumps(meta).encode()}),
        tmp_path / "old.parquet")
    assert _same(Trace.load(tmp_path / "old.parquet"), Trace(tr.ops, meta))
