"""Helpers for the GPU model tests: trace rows of every kind with natural FLOP/byte counts."""

from __future__ import annotations

from typing import Any

from workloads.schema import DTYPE_BYTES, trace_from_rows


def natural_row(kind: str, **f: Any) -> dict[str, Any]:
    """A trace row of ``kind`` with the FLOPs and bytes its shape implies."""
    dtype = f.setdefault("dtype", "bf16")
    e = DTYPE_BYTES[dtype]
    row: dict[str, Any] = {"kind": kind, **f}
    if kind == "gemm":
        M, N, K, G = f["M"], f["N"], f["K"], f.get("G", 1)
        w = DTYPE_BYTES[f["weight_dtype"]] if f.get("weight_dtype") else e
        row.update(op="matmul", G=G, flops=2 * G * M * N * K,
                   bytes_read=int(G * (M * K * e + K * N * w)), bytes_written=int(G * M * N * e))
    elif kind == "attention":
        B, Hq, Hkv, Sq, Skv, D = (f[k] for k in ("B", "Hq", "Hkv", "Sq", "Skv", "D"))
        pairs = Sq * (Skv - Sq) + Sq * (Sq + 1) // 2 if f.get("causal") else Sq * Skv
        row.update(op="sdpa", flops=4 * B * Hq * pairs * D,
                   bytes_read=int(e * (B * Hq * Sq * D + 2 * B * Hkv * Skv * D)),
                   bytes_written=int(e * B * Hq * Sq * D))
    elif kind == "linear_attention":
        B, H, Sq, D, Dv = (f[k] for k in ("B", "Hq", "Sq", "D", "Dv"))
        op = "chunk_gated_delta_rule" if f.get("chunk", 0) else "recurrent_gated_delta_rule"
        row.update(op=op, flops=6 * B * H * Sq * D * Dv,
                   bytes_read=int(B * H * D * Dv * 4 + e * B * H * Sq * (2 * D + Dv)),
                   bytes_written=int(B * H * D * Dv * 4 + e * B * H * Sq * Dv))
    elif kind == "conv1d":
        B, N, Sq, W = (f[k] for k in ("B", "N", "Sq", "W"))
        row.update(op="causal_conv1d", flops=2 * W * B * N * Sq,
                   bytes_read=int(e * (B * N * Sq + N * W)), bytes_written=int(e * B * N * Sq))
    elif kind == "router":
        M, N, topk = f["M"], f["N"], f["topk"]
        row.update(op="softmax_topk", flops=5 * M * N, bytes_read=int(e * M * N),
                   bytes_written=8 * M * topk)
    else:
        M, N = f["M"], f["N"]
        row.setdefault("op", {"norm": "rmsnorm", "rope": "rope", "activation": "silu",
                              "elementwise": "add", "softmax": "softmax",
                              "reduction": "sum", "embedding": "gather",
                              "copy": "copy"}[kind])
        row.update(flops=2 * M * N, bytes_read=int(e * M * N), bytes_written=int(e * M * N))
    return row


def one_row_trace(row: dict[str, Any], phase: str = "decode"):  # -> Trace
    return trace_from_rows([row], {"model": "synthetic", "scenario": {"phase": phase}})


def every_kind_rows() -> list[dict[str, Any]]:
    """A small decode-step-like body with one row of every kind."""
    return [
        natural_row("embedding", M=1, N=4096, K=248320),
        natural_row("norm", M=1, N=4096),
        natural_row("gemm", M=1, N=8192, K=4096, weight_dtype="bf16"),
        natural_row("rope", M=16, N=256, K=64),
        natural_row("attention", B=1, Hq=16, Hkv=4, Sq=1, Skv=4097, D=256),
        natural_row("conv1d", B=1, N=8192, Sq=1, W=4),
        natural_row("linear_attention", B=1, Hq=32, Sq=1, Skv=4096, D=128, Dv=128),
        natural_row("gemm", M=8, N=512, K=4096, G=32, weight_dtype="bf16"),
        natural_row("router", M=1, N=256, topk=8),
        natural_row("activation", M=1, N=12288, op="swiglu"),
        natural_row("elementwise", M=1, N=4096),
        natural_row("softmax", M=16, N=4097),
        natural_row("reduction", M=1, N=4096),
        natural_row("copy", M=4, N=256),
    ]


def decode_trace():  # -> Trace
    return trace_from_rows(
        every_kind_rows(),
        {"model": "synthetic", "scenario": {"phase": "decode", "batch": 1, "context": 4096}})
