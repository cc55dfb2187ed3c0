"""Timing probe (issue #16): llama.cpp's IME1 M4 kernel, instruction for instruction, on the
spacemit-k1+ime core model, against the IME kernel the library lowers (isa.kernels.ime).

The probe emits the loop body of ggml's ``SQ4BitGemmM4Kernel_CompInt8_ScaleFp16_Impl``
(HasZeroPoint = false, the Q4_0 path) as PR #22863 ships it (ggml/src/ggml-cpu/spacemit/
ime1_kernels.cpp; the same body as PR #15288's ime_kernels.cpp): per 32-block, ``vxor.vv``
of the int32 tiles at e32 m8, ``flw`` of the four rows' dA, two inner steps of four
``vle8.v`` of packed B, ``vand.vi`` / ``vsrl.vi`` / ``vadd.vi -8`` unpacking, two ``vle8.v``
of A and eight ``smt.vmadot``; then ``LOAD_SCALE_4x16_FP16`` (plain and v0-masked
``vle16.v`` of the 16 dB, ``vfwcvt``, ``vmv.v.v``, eight plain and eight masked
``vfmul.vf``), ``vfcvt.f.x.v`` and ``vfmacc.vv`` at e32 m8; ``SAVE_RESULT_4x16`` per call.
Fractional LMUL is written as LMUL 1 with the same VL (the timing rules count element
groups of VL; isa.program does not model fractional LMUL); the scales are BF16 and
widened with ``vfwcvtbf16`` (the model's 16-bit type). Loop order as ime.cpp's fallback
path: per 16-column group, every 4-row block (one M4 call) over all of K.

It is a timing probe only: its addresses are the kernel's access pattern, its program is
not checked against torch (the library's kernel is). It prints cycles per 4 x 16 x 32
block for both programs and their unit utilisations.

    python benchmarks/ime1_m4_probe.py [M N K] [--set key=value ...]

Default shape 16 x 256 x 1024 (one PR #22863 task of 16 rows); ``--set`` takes the
target's dotted overrides (e.g. ``timing.int_min_occupancy=4``) as JSON values.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

os.environ.setdefault("CODESIGN_CACHE_DIR", tempfile.mkdtemp(prefix="codesign-ime1-"))

from codesign import targets  # after the cache directory is chosen
from codesign.riscv import replay
from isa.kernels import lower
from isa.program import Builder, F, Program, V, X

BASE = {"cluster.cores": 4, "cluster.clusters": 1, "kernel.library": "llamacpp",
        "kernel.llamacpp_spacemit": "pr22863"}
QK = 32  # weights per block (block_q4_0)
ROWS, COLS = 4, 16  # one M4 call: 4 rows x NB_COLS = 16 columns


def ggml_m4(isa: object, m: int, n: int, kk: int) -> Program:
    """ggml's M4 kernel over an m x n x kk Q4_0 GEMM (module docstring)."""
    kb = kk // QK
    b = Builder("ggml ime1 M4", isa, 256)  # type: ignore[arg-type]
    b.buffer("Aq", "int8", m * kk, "in")
    b.buffer("Ad", "fp32", m * kb, "in")
    b.buffer("Bqi", "int8", n * kk // 2, "in")
    b.buffer("Bs", "bf16", n * kb, "in")
    b.buffer("C", "fp32", m * n, "out")
    with b.loop("g", n // COLS, 2) as g, b.loop("r", m // ROWS, 3) as r:
        b.vsetvli(64, 32, 8)
        b.emit("vxor.vv", V(24), V(24), V(24))
        with b.loop("k", kb, 1) as k:
            blk = r * kb + k
            for _ in range(5):
                b.emit("addi", X(18), X(18), 1)
            b.vsetvli(64, 32, 8)
            b.emit("vxor.vv", V(16), V(16), V(16))
            for i in range(4):
                b.emit("flw", F(1 + i), b.mem("Ad", blk * 4 + i, 32))
            b.emit("addi", X(11), X(11), 16)
            b.emit("addi", X(7), X(0), 2)
            with b.loop("ii", 2, 1) as ii:
                b.vsetvli(32, 8, 1)
                boff = ((g * kb + k) * 2 + ii) * 128
                for j in range(4):
                    b.emit("vle8.v", V(6 + j), b.mem("Bqi", boff + 32 * j, 8))
                    b.emit("addi", X(19 + j), X(19 + j), 128)
                for j in range(4):
                    b.emit("vand.vi", V(2 + j), V(6 + j), 15)
                for j in range(4):
                    b.emit("vsrl.vi", V(6 + j), V(6 + j), 4)
                aoff = (blk * 2 + ii) * 64
                for h in range(2):
                    b.emit("vle8.v", V(10 + h), b.mem("Aq", aoff + 32 * h, 8))
                    b.emit("addi", X(11), X(11), 32)
                for j in range(8):
                    b.emit("vadd.vi", V(2 + j), V(2 + j), -8)
                for a, first in ((10, 2), (11, 6)):
                    for t in range(4):
                        b.emit("smt.vmadot", V(16 + 2 * t), V(a), V(first + t))
            _load_scale(b, (g * kb + k) * COLS)
            b.vsetvli(64, 32, 8)
            b.emit("vfcvt.f.x.v", V(16), V(16))
            b.emit("vfmacc.vv", V(24), V(16), V(8))
        _save(b, r * ROWS * n + g * COLS)
    return b.program()


def _load_scale(b: Builder, soff: object) -> None:
    """LOAD_SCALE_4x16_FP16: the 4 x 16 dA x dB tile in v8..v15."""
    for _ in range(4):
        b.emit("addi", X(18), X(18), 8)
    b.emit("addi", X(6), X(0), 0xF0)
    b.emit("vmv.s.x", V(0), X(6))
    b.vsetvli(4, 16, 1)  # e16 mf4
    for j in range(4):
        b.emit("vle16.v", V(9 + 2 * j), b.mem("Bs", soff + 4 * j, 16))  # type: ignore[operator]
    b.vsetvli(8, 16, 1)  # e16 mf2
    for j in range(4):
        b.emit("vle16.v", V(9 + 2 * j), b.mem("Bs", soff + 4 * j, 16),  # type: ignore[operator]
               masked=True)
    for j in range(4):
        b.emit("vfwcvtbf16.f.f.v", V(8 + 2 * j), V(9 + 2 * j))
    b.vsetvli(8, 32, 1)
    for j in range(4):
        b.emit("vmv.v.v", V(9 + 2 * j), V(8 + 2 * j))
    b.emit("addi", X(6), X(0), 0xF0)
    b.emit("vmv.s.x", V(0), X(6))
    b.vsetvli(4, 32, 1)  # e32 mf2
    for f, base in ((1, 8), (3, 9)):
        for j in range(4):
            b.emit("vfmul.vf", V(base + 2 * j), V(base + 2 * j), F(f))
    b.vsetvli(8, 32, 1)
    for f, base in ((2, 8), (4, 9)):
        for j in range(4):
            b.emit("vfmul.vf", V(base + 2 * j), V(base + 2 * j), F(f), masked=True)


def _save(b: Builder, coff: object) -> None:
    """SAVE_RESULT_4x16: eight plain and eight masked vse32 of the FP32 tiles."""
    for _ in range(7):
        b.emit("addi", X(12), X(12), 16)
    b.emit("vmv.s.x", V(0), X(6))
    for vl, masked in ((4, False), (8, True)):
        b.vsetvli(vl, 32, 1)
        for j in range(8):
            b.emit("vse32.v", V(24 + j), b.mem("C", coff + 4 * j, 32),  # type: ignore[operator]
                   masked=masked)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shape", nargs="*", type=int, metavar="M N K",
                    help=f"GEMM shape (default 16 256 1024): M a multiple of {ROWS}, N of "
                         f"{COLS}, K of {QK}")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="a dotted override of the spacemit-k1+ime target")
    args = ap.parse_args(argv)
    m, n, kk = args.shape or (16, 256, 1024)
    if len(args.shape) not in (0, 3) or m % ROWS or n % COLS or kk % QK or min(m, n, kk) < 1:
        print(f"ime1_m4_probe: shape {args.shape} is not M N K with M a multiple of {ROWS}, "
              f"N of {COLS} and K of {QK}", file=sys.stderr)
        return 2
    over = dict(BASE)
    for item in args.set:
        key, _, val = item.partition("=")
        try:
            over[key] = json.loads(val)
        except json.JSONDecodeError:
            print(f"ime1_m4_probe: --set {item!r} is not KEY=JSON", file=sys.stderr)
            return 2
    cfg = targets.resolve("spacemit-k1+ime", over).config  # type: ignore[attr-defined]
    fp = replay.timing_fingerprint(cfg)
    row = {"kind": "gemm", "M": m, "N": n, "K": kk, "G": 1, "weight_dtype": "q4_0",
           "dtype": "bf16"}
    blocks = (m // ROWS) * (n // COLS) * (kk // QK)
    for name, prog in (("ggml ime1 M4", ggml_m4(cfg.parsed_isa, m, n, kk)),
                       ("library ime", lower(row, cfg.parsed_isa, cfg.core("bf16")))):
        t = replay.time_program(prog, cfg, 4, "steady", fp)
        utils = {k[5:]: round(v, 3) for k, v in t.items() if k.startswith("util_") and v}
        print(f"{name:14s} cycles/4x16x32 block {t['cycles'] / blocks:7.1f}  "
              f"MAC/cycle {m * n * kk / t['cycles']:5.2f}  instructions {t['instructions']}  "
              f"{utils}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
