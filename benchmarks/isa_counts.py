"""Dynamic instruction counts of RVV vs RVV+Xattn (and each Xattn subset alone).

Run: python benchmarks/isa_counts.py [--vlen 512]
Counts come from the loop nest (Program.counts), not from execution.
"""

from __future__ import annotations

import argparse
import time

from isa import UNITS, Core
from isa.kernels import lower

OPS = {
    "gemm prefill M=2048 N=1536 K=4096 (9b gate_proj, one core's shard)": {
        "kind": "gemm", "M": 2048, "N": 1536, "K": 4096},
    "gemm decode M=1 N=1536 K=4096": {"kind": "gemm", "M": 1, "N": 1536, "K": 4096},
    "softmax M=1 N=4096": {"kind": "softmax", "op": "softmax", "M": 1, "N": 4096},
    "attention prefill Sq=Skv=2048 D=256 16/4 causal": {
        "kind": "attention", "B": 1, "Hq": 16, "Hkv": 4, "Sq": 2048, "Skv": 2048, "D": 256,
        "causal": True},
    "attention decode ctx=4096 D=256 16/4": {
        "kind": "attention", "B": 1, "Hq": 16, "Hkv": 4, "Sq": 1, "Skv": 4097, "D": 256,
        "causal": True},
    "linear_attention prefill chunked Sq=2048 Dk=Dv=128 H=32 chunk=64": {
        "kind": "linear_attention", "op": "chunk_gated_delta_rule", "B": 1, "Hq": 32,
        "Sq": 2048, "D": 128, "Dv": 128, "chunk": 64},
    "linear_attention decode recurrent Dk=Dv=128 H=32": {
        "kind": "linear_attention", "op": "recurrent_gated_delta_rule", "B": 1, "Hq": 32,
        "Sq": 1, "D": 128, "Dv": 128, "chunk": 0},
}
ISAS = ("rvv", "rvv+xattn", "rvv+xattn:vfexp", "rvv+xattn:vfexpsub", "rvv+xattn:segred",
        "rvv+xattn:mmacc", "rvv+xattn:vfrec")
SHOWN = ("fma", "matrix", "exp", "reduction", "fdiv", "permute", "load", "store", "scalar", "int")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vlen", type=int, default=512)
    args = ap.parse_args()
    core = Core(vlen=args.vlen)
    for title, row in OPS.items():
        print(f"== {title}  (VLEN={core.vlen}, DLEN={core.dlen}, bf16)")
        head = f"{'isa':<22}{'total':>15}{'vs rvv':>8}" + "".join(f"{u:>15}" for u in SHOWN)
        print(head)
        base = None
        for isa in ISAS:
            t = time.perf_counter()
            c = lower(row, isa, core).counts()
            base = base or c.total
            assert set(c.by_unit) <= set(UNITS)
            print(f"{isa:<22}{c.total:>15,}{base / c.total:>7.2f}x"
                  + "".join(f"{c.by_unit.get(u, 0):>15,}" for u in SHOWN)
                  + f"   ({time.perf_counter() - t:.1f}s)")
        print()


if __name__ == "__main__":
    main()
