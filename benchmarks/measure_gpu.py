"""Time Qwen3.5-9B's kernels on a real CUDA GPU and write them as validation cases.

    python benchmarks/measure_gpu.py --out measured.json        # on a machine with a GPU
    codesign validate --cases measured.json                     # then check the model

Shapes are qwen3.5-9b's (/work/shared/reference/qwen.md §1.2, §4): hidden 4096, 32 layers
(8 full attention, 24 Gated DeltaNet), 16 query / 4 KV heads of dim 256, intermediate
12288, GDN 16 key heads and 32 value heads of dim 128. Kernels: the layer GEMMs at prefill
(2048 tokens) and decode (1 token), attention prefill and decode (PyTorch SDPA, flash
backend = FlashAttention-2), RMSNorm, and the delta rule (flash-linear-attention's kernels
when ``fla`` is installed; otherwise PyTorch's reference recurrent step, marked
informational because the model times fla's fused kernel).

Each kernel is timed with CUDA events: warm-up calls, then the median of ``--repeats``
timed calls. Every case records ``launch.mode = eager`` (one host launch per call). Without
CUDA the script says so and exits with status 0.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORMAT = "codesign-validation-cases/1"
HIDDEN, INTER, VOCAB = 4096, 12288, 248320
NQ, NKV, HEAD = 16, 4, 256
GDN_K, GDN_V, GDN_D = 16, 32, 128

# device name fragment -> codesign GPU preset
PRESETS = (("H200", "h200"), ("H100", "h100-sxm"), ("A100", "a100-80gb"), ("B200", "b200"),
           ("L4", "l4"), ("4090", "rtx-4090"), ("Orin", "jetson-agx-orin"))

GEMMS = {  # name: (N, K) of the layer's Linear (x @ W^T: [M, K] -> [M, N])
    "q_proj": (2 * NQ * HEAD, HIDDEN), "k_proj": (NKV * HEAD, HIDDEN),
    "o_proj": (HIDDEN, NQ * HEAD), "in_proj_qkv": (2 * GDN_K * GDN_D + GDN_V * GDN_D, HIDDEN),
    "in_proj_z": (GDN_V * GDN_D, HIDDEN), "out_proj": (HIDDEN, GDN_V * GDN_D),
    "gate_proj": (INTER, HIDDEN), "down_proj": (HIDDEN, INTER), "lm_head": (VOCAB, HIDDEN),
}


def time_cuda(torch: Any, fn: Callable[[], Any], warmup: int, repeats: int) -> float:
    """Median seconds of ``fn`` by CUDA events, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def gemm_row(M: int, N: int, K: int) -> dict[str, Any]:
    return {"kind": "gemm", "op": "matmul", "dtype": "bf16", "weight_dtype": "bf16",
            "M": M, "N": N, "K": K, "G": 1, "flops": 2 * M * N * K,
            "bytes_read": 2 * (M * K + K * N), "bytes_written": 2 * M * N}


def attention_row(B: int, Sq: int, Skv: int, causal: bool) -> dict[str, Any]:
    pairs = Sq * Skv if not causal else Sq * (Skv - Sq) + Sq * (Sq + 1) // 2
    return {"kind": "attention", "op": "sdpa", "dtype": "bf16", "B": B, "Hq": NQ, "Hkv": NKV,
            "Sq": Sq, "Skv": Skv, "D": HEAD, "causal": causal,
            "flops": 4 * B * NQ * pairs * HEAD,
            "bytes_read": 2 * B * HEAD * (NQ * Sq + 2 * NKV * Skv),
            "bytes_written": 2 * B * NQ * Sq * HEAD}


Measured = list[tuple[str, dict[str, Any], dict[str, Any], float, bool]]


def measure(torch: Any, warmup: int, repeats: int) -> Measured:
    """(name, row, overrides, seconds, informational) for every kernel."""
    import torch.nn.functional as F

    dev, bf16 = "cuda", torch.bfloat16
    out = []

    def add(name: str, row: dict[str, Any], fn: Callable[[], Any],
            overrides: dict[str, Any] | None = None, informational: bool = False) -> None:
        sec = time_cuda(torch, fn, warmup, repeats)
        out.append((name, row, {"launch.mode": "eager", **(overrides or {})}, sec, informational))
        print(f"  {name:40s} {sec * 1e6:10.1f} us", flush=True)

    for M in (1, 2048):
        for name, (N, K) in GEMMS.items():
            x = torch.randn(M, K, device=dev, dtype=bf16)
            w = torch.randn(N, K, device=dev, dtype=bf16)
            add(f"gemm-{name}-m{M}", gemm_row(M, N, K), lambda x=x, w=w: F.linear(x, w))
            del x, w

    from torch.nn.attention import SDPBackend, sdpa_kernel

    for B, Sq, Skv, causal in ((1, 2048, 2048, True), (1, 8192, 8192, True),
                               (1, 1, 4096, False), (8, 1, 32768, False)):
        q = torch.randn(B, NQ, Sq, HEAD, device=dev, dtype=bf16)
        k = torch.randn(B, NKV, Skv, HEAD, device=dev, dtype=bf16)
        v = torch.randn(B, NKV, Skv, HEAD, device=dev, dtype=bf16)

        def attn(q=q, k=k, v=v, causal=causal) -> Any:
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                                      enable_gqa=True)

        phase = "prefill" if Sq > 1 else "decode"
        add(f"attention-{phase}-b{B}-sq{Sq}-skv{Skv}", attention_row(B, Sq, Skv, causal), attn,
            {"attention.implementation": "fa2"})
        del q, k, v

    for M in (1, 2048):
        x = torch.randn(M, HIDDEN, device=dev, dtype=bf16)
        w = torch.ones(HIDDEN, device=dev, dtype=bf16)
        row = {"kind": "norm", "op": "rmsnorm", "dtype": "bf16", "M": M, "N": HIDDEN,
               "flops": 4 * M * HIDDEN, "bytes_read": 2 * M * HIDDEN + 2 * HIDDEN,
               "bytes_written": 2 * M * HIDDEN}
        add(f"rmsnorm-m{M}", row, lambda x=x, w=w: F.rms_norm(x, (HIDDEN,), w, 1e-6))

    _delta_rule(torch, add)
    return out


def _delta_rule(torch: Any, add: Callable[..., None]) -> None:
    """Gated delta rule, decode (recurrent) and prefill (chunked, 2048 tokens)."""
    dev, H, D = "cuda", GDN_V, GDN_D
    state_bytes = H * D * D * 4
    try:
        from fla.ops.gated_delta_rule import (  # type: ignore[import-not-found]
            chunk_gated_delta_rule,
            fused_recurrent_gated_delta_rule,
        )
    except ImportError:
        chunk_gated_delta_rule = fused_recurrent_gated_delta_rule = None
    for T in (1, 2048):
        q = torch.randn(1, T, H, D, device=dev, dtype=torch.bfloat16)
        k = torch.nn.functional.normalize(torch.randn_like(q), dim=-1)
        v = torch.randn_like(q)
        g = -torch.rand(1, T, H, device=dev, dtype=torch.float32)
        beta = torch.rand(1, T, H, device=dev, dtype=torch.bfloat16)
        s0 = torch.zeros(1, H, D, D, device=dev, dtype=torch.float32)
        row = {"kind": "linear_attention", "dtype": "bf16", "B": 1, "Hq": H, "Sq": T,
               "Skv": 4096, "D": D, "Dv": D,
               "flops": 6 * H * T * D * D, "bytes_read": state_bytes + 3 * H * T * D * 2,
               "bytes_written": state_bytes + H * T * D * 2}
        if T == 1:
            row["op"], row["chunk"] = "recurrent_gated_delta_rule", 0
            if fused_recurrent_gated_delta_rule is not None:
                add("delta-rule-recurrent-fla", row, functools.partial(
                    fused_recurrent_gated_delta_rule, q, k, v, g, beta, initial_state=s0,
                    output_final_state=True))
            else:
                def step(q=q, k=k, v=v, g=g, beta=beta, s0=s0) -> Any:
                    s = s0 * g[0, 0].exp()[:, None, None]
                    kv = (s * k[0, 0].float()[:, :, None]).sum(-2)
                    delta = (v[0, 0].float() - kv) * beta[0, 0].float()[:, None]
                    s = s + k[0, 0].float()[:, :, None] * delta[:, None, :]
                    return (s * q[0, 0].float()[:, :, None]).sum(-2), s
                add("delta-rule-recurrent-torch", row, step, informational=True)
        elif chunk_gated_delta_rule is not None:
            row["op"], row["chunk"] = "chunk_gated_delta_rule", 64
            add("delta-rule-chunk-fla", row, functools.partial(
                chunk_gated_delta_rule, q, k, v, g, beta, initial_state=s0,
                output_final_state=True))


def write_cases(path: Path, target: str, device: str, meta: str,
                measured: Measured) -> None:
    doc = {
        "format": FORMAT,
        "description": f"Kernels of qwen3.5-9b measured on {device} by benchmarks/measure_gpu.py",
        "cases": [{
            "name": f"measured-{target}-{name}", "target": target, "set": overrides,
            "row": row, "metric": "seconds", "measured": sec, "tolerance": 0.15,
            "informational": info, "source": f"benchmarks/measure_gpu.py on {device}; {meta}",
        } for name, row, overrides, sec, info in measured],
        "rankings": [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)  # atomic: an earlier file is never half-overwritten


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="measured_gpu_cases.json", help="case file to write")
    ap.add_argument("--target", help="codesign GPU preset to compare with (default: from "
                                     "the device name)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("measure_gpu: torch is not installed; nothing measured")
        return 0
    if not torch.cuda.is_available():
        print("measure_gpu: no CUDA device (torch.cuda.is_available() is False); "
              "nothing measured")
        return 0
    device = torch.cuda.get_device_name(0)
    target = args.target or next((p for frag, p in PRESETS if frag in device), None)
    if target is None:
        print(f"measure_gpu: no preset matches {device!r}; pass --target", file=sys.stderr)
        return 2
    meta = (f"torch {torch.__version__}, CUDA {torch.version.cuda}, median of {args.repeats} "
            f"after {args.warmup} warm-up calls, {datetime.date.today().isoformat()}")
    print(f"measure_gpu: {device} -> preset {target}")
    measured = measure(torch, args.warmup, args.repeats)
    write_cases(Path(args.out), target, device, meta, measured)
    print(f"measure_gpu: wrote {len(measured)} cases to {args.out}; check them with "
          f"`codesign validate --cases {args.out}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
