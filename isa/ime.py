"""SpacemiT IME: the K1's integrated matrix extension (int8 tiles in vector registers), as data.

The K1's AI cores (A60, the ``spacemit-x60-like`` preset's core) implement the IME1
subset of the SpacemiT AI Matrix Extension, ``Xsmti8i32mm`` and ``Xsmti8i32mm_slide``
(spacemit-com/docs-ai, en/architecture/ime_extension.md, v0.6, §1.7). LLVM 22 assembles
them as ``smt.vmadot*`` with ``-mattr=+xsmtvdot``; their encodings are its own.

=======================  ==================================================  =========
instruction              semantics (int8 in, int32 accumulate)               subset
=======================  ==================================================  =========
smt.vmadot   vd vs1 vs2  C[M,N] += A[M,K] @ B^T, A, B signed                 vmadot
smt.vmadotu              A, B unsigned                                       vmadot
smt.vmadotsu             A signed, B unsigned                                vmadot
smt.vmadotus             A unsigned, B signed                                vmadot
smt.vmadot{1,2,3}        as smt.vmadot, A's rows taken s = 1/2/3 rows down   slide
                         the register pair vs1, vs1+1 (sliding-window
                         convolution; the u/su/us variants likewise)
=======================  ==================================================  =========

Operands (spec §1.5, §2.3, §5.1.3): ``vs1`` holds A row-major (M x K int8), ``vs2`` holds
B^T row-major (N x K: "B column-major"), ``vd`` (an even register at VLEN 256, MUL_C = 2)
holds C row-major (M x N int32); vd must not overlap vs1 or vs2, LMUL must be 1 and SEW 8
(the instruction reads whole registers: ggml's kernels run it at ``e8, m1``). The tile
shape is :func:`isa.instructions.ime_geometry`: 4x4x8 at VLEN 256.

Timing: one functional unit with a sequencer of its own (``ime``, beside the vector
arithmetic, as on the A60 where vmadot and vfmacc reach their peaks separately); occupancy
= tile MACs / ``TimingParams.ime_macs_per_cycle`` (128: one 4x4x8 tile per cycle, from the
K1's measured 511.5 GOPS per core), latency ``ime_latency_base`` + occupancy (assumed:
LLVM has no scheduling class for it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from isa.instructions import Extension, define, ime_geometry, register_extension

if TYPE_CHECKING:
    from isa.program import Instr
    from isa.timing import TimingParams

E = "ime"
# signedness of A (vs1) and B (vs2) per mnemonic suffix (spec §4.2)
SIGNEDNESS = {"": ("i", "i"), "u": ("u", "u"), "su": ("i", "u"), "us": ("u", "i")}


def vmadot_timing(ins: Instr, p: TimingParams) -> tuple[int, int]:
    """(latency, occupancy) of one tile multiply: its MACs at ``ime_macs_per_cycle``."""
    g = ime_geometry(p.vlen)
    occ = max(1, math.ceil(g.m * g.n * g.k / p.ime_macs_per_cycle))
    return p.ime_latency_base + occ, occ


vmadot_timing.identity = ("ime.vmadot", "ime_macs_per_cycle", "ime_latency_base")  # type: ignore[attr-defined]


def tile_product(c: np.ndarray, a: np.ndarray, bt: np.ndarray) -> np.ndarray:
    """C + A @ B^T in int64, wrapped to int32 as the destination holds it (spec §5.1.5:
    accumulation within the destination bit width)."""
    out = c.astype(np.int64) + a.astype(np.int64) @ bt.astype(np.int64).T
    return ((out + 2**31) % 2**32) - 2**31


def _defs() -> tuple:
    out = []
    for slide in (0, 1, 2, 3):
        for suffix, (ta, tb) in SIGNEDNESS.items():
            name = f"smt.vmadot{slide or ''}{suffix}"
            out.append(define(
                name, "vd vs1 vs2", "ime", "imma", vmadot_timing, tile_product, extension=E,
                reads_vd=True, types={"vd": "i", "vs1": ta, "vs2": tb},
                attrs={"slide": slide, "geometry": ime_geometry},
                doc=f"int8 tile multiply-accumulate, A {'un' if ta == 'u' else ''}signed, "
                    f"B {'un' if tb == 'u' else ''}signed" +
                    (f", A slid {slide} rows down vs1:vs1+1" if slide else "")))
    return tuple(out)


IME_DEFS = _defs()
IME = register_extension(Extension(
    E, IME_DEFS,
    {
        "vmadot": tuple(f"smt.vmadot{s}" for s in SIGNEDNESS),
        "slide": tuple(d.mnemonic for d in IME_DEFS if d.attrs["slide"]),
    },
    "SpacemiT IME1 (K1 A60): Xsmti8i32mm + Xsmti8i32mm_slide, int8 tiles in V registers",
))
