"""How good is the plain-RVV baseline every Xattn speed-up divides by?

For the kernels the Xattn versions are compared with (GEMM, FlashAttention prefill,
softmax, RMSNorm, SwiGLU), on x280-like and c950-like: cycles, FMA utilisation and what
bounds them; the GEMM as a fraction of the BF16 widening-FMA peak. Then, per main loop,
the model's steady-state cycles per iteration next to llvm-mca 22's for the vendor model
(a pessimistic in-order reference: report the ratio, do not expect 1).

Run: python benchmarks/rvv_baseline.py [--no-mca]
"""

from __future__ import annotations

import argparse

from codesign import config as C
from codesign.riscv import make
from codesign.riscv.core import CoreSim
from codesign.riscv.replay import lower, peak_flops_per_cycle, split, time_op
from isa.program import Loop

KERNELS = {
    "gemm 256^3": {"kind": "gemm", "op": "matmul", "M": 256, "N": 256, "K": 256},
    "gemm 9B gate_proj prefill 2048": {"kind": "gemm", "op": "matmul", "M": 2048,
                                       "N": 12288, "K": 4096},
    "attention prefill 9B 2048 (16/4, D=256)": {
        "kind": "attention", "op": "sdpa", "B": 1, "Hq": 16, "Hkv": 4, "Sq": 2048,
        "Skv": 2048, "D": 256, "causal": True},
    "softmax 16 x 4096": {"kind": "softmax", "op": "softmax", "M": 16, "N": 4096},
    "rmsnorm 2048 x 4096": {"kind": "norm", "op": "rmsnorm", "M": 2048, "N": 4096},
    "swiglu 2048 x 12288": {"kind": "activation", "op": "swiglu", "M": 2048, "N": 12288},
}
TARGETS = ("x280-like", "c950-like")
MCA_LOOPS = ("gemm 256^3", "attention prefill 9B 2048 (16/4, D=256)", "softmax 16 x 4096")


def _row(spec: dict) -> dict:
    return {"G": 1, "dtype": "bf16", "causal": False, "flops": 0, "bytes_read": 0,
            "bytes_written": 0, **spec}


def kernel_table() -> None:
    print(f"{'kernel':<42}{'target':<12}{'cycles':>16}{'util_fma':>10}{'bound':>9}"
          f"{'% BF16 peak':>13}")
    for title, spec in KERNELS.items():
        for name in TARGETS:
            cfg = make(name).config
            t = time_op(_row(spec), cfg, C.fingerprint(cfg))
            peak = ""
            if spec["kind"] == "gemm":
                flop = 2 * spec["M"] * spec["N"] * spec["K"]
                frac = flop / t["cycles"] / t["cores"] / peak_flops_per_cycle(cfg, "bf16")
                peak = f"{100 * frac:.1f}%"
            print(f"{title:<42}{name:<12}{t['cycles']:>16,.0f}{t['util_fma']:>10.3f}"
                  f"{t['bound']:>9}{peak:>13}")


def _inner_loops(nodes):
    for n in nodes:
        if isinstance(n, Loop):
            if any(isinstance(x, Loop) for x in n.body):
                yield from _inner_loops(n.body)
            else:
                yield n


def mca_table() -> None:
    from codesign.riscv import mca
    if not mca.available():
        print("\n(llvm-mca-22 not installed: loop-level reference skipped)")
        return
    print(f"\n{'loop (innermost, most executed)':<58}{'target':<12}{'model':>8}"
          f"{'llvm-mca':>10}{'mca/model':>11}")
    for title in MCA_LOOPS:
        for name in TARGETS:
            cfg = make(name).config
            shard, cores = split(_row(KERNELS[title]), cfg.cluster.cores, cfg.vector.vlen)
            prog = lower(shard, cfg)
            sim = CoreSim(prog, cfg, cores)
            sim.run()
            counts = {id(i): c for i, c in prog.walk()}
            loop = max(_inner_loops(prog.body), key=lambda lp: counts.get(id(lp.body[0]), 0))
            ours = sim.cpi_memo.get(sim._loop_key(loop))
            if ours is None:
                continue
            theirs = mca.loop_cycles(loop, mca.CPU[name])
            label = f"{title}: loop {loop.var} ({len(loop.body)} instr)"
            print(f"{label:<58}{name:<12}{ours:>8.1f}{theirs:>10.1f}{theirs / ours:>11.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-mca", action="store_true", help="skip the llvm-mca loop table")
    args = ap.parse_args()
    kernel_table()
    if not args.no_mca:
        mca_table()


if __name__ == "__main__":
    main()
