"""Shared fixtures for the CLI tests: saved synthetic traces (no extraction, no torch)."""

from __future__ import annotations

import pytest

from workloads.schema import trace_from_rows


def _decode_rows() -> list[dict]:
    # a decode step's skeleton: one bf16 GEMV, a norm, split-KV attention, a recurrent
    # delta rule; FLOPs and bytes as the shapes imply
    return [
        {"kind": "norm", "op": "rmsnorm", "M": 1, "N": 4096, "flops": 16384,
         "bytes_read": 8192, "bytes_written": 8192, "repeat": 32, "layer": 0,
         "layers": ",".join(map(str, range(32))), "layer_type": "linear_attention"},
        {"kind": "gemm", "op": "matmul", "M": 1, "N": 12288, "K": 4096, "G": 1,
         "weight_dtype": "bf16", "flops": 2 * 12288 * 4096,
         "bytes_read": 2 * (4096 + 12288 * 4096), "bytes_written": 2 * 12288, "repeat": 96},
        {"kind": "attention", "op": "sdpa", "B": 1, "Hq": 16, "Hkv": 4, "Sq": 1,
         "Skv": 4097, "D": 256, "flops": 4 * 16 * 4097 * 256,
         "bytes_read": 2 * 2 * 4 * 4097 * 256, "bytes_written": 2 * 16 * 256, "repeat": 8},
        {"kind": "linear_attention", "op": "recurrent_gated_delta_rule", "B": 1, "Hq": 32,
         "Sq": 1, "Skv": 4096, "D": 128, "Dv": 128, "dtype": "fp32",
         "flops": 6 * 32 * 128 * 128, "bytes_read": 32 * 128 * 128 * 4,
         "bytes_written": 32 * 128 * 128 * 4, "repeat": 24},
    ]


@pytest.fixture
def decode_parquet(tmp_path):
    meta = {"model": "synthetic-9b-like",
            "scenario": {"phase": "decode", "batch": 1, "seq": 0, "context": 4096}}
    return trace_from_rows(_decode_rows(), meta).save(tmp_path / "decode.parquet")


@pytest.fixture
def prefill_parquet(tmp_path):
    meta = {"model": "synthetic-prefill",
            "scenario": {"phase": "prefill", "batch": 1, "seq": 2048, "context": 0}}
    rows = [{"kind": "gemm", "op": "matmul", "M": 2048, "N": 12288, "K": 4096, "G": 1,
             "weight_dtype": "bf16", "flops": 2 * 2048 * 12288 * 4096,
             "bytes_read": 2 * (2048 * 4096 + 12288 * 4096), "bytes_written": 2 * 2048 * 12288,
             "repeat": 96}]
    return trace_from_rows(rows, meta).save(tmp_path / "prefill.parquet")
