"""Quantised weight formats of a GEMM's B operand: their packed layout and the RVV 1.0
instruction sequences that unpack them to BF16.

A weight ``w[k, n]`` is stored as an 8- or 4-bit code ``q`` and a scale shared by a group
of ``group`` consecutive k of one output column n (``group`` = K: one scale per output
channel): ``w = value(q) * scale``. The kernel layout (packed once, offline, as the BF16
kernels' ``Bt`` is) keeps n contiguous so that one vector holds a row of B:

- ``Bq`` (bytes, ``[G, K/per_byte, N]``): 8-bit codes one per byte; 4-bit codes two per
  byte, byte j of a group holding k = j (low nibble) and k = j + group/2 (high nibble),
  llama.cpp's ``block_q4_0`` / ``block_mxfp4`` nibble order (ggml-common.h), interleaved
  over N as ggml's CPU repacking of those blocks does;
- ``Bs`` (``[G, K/group, N]``): the scales, 16-bit floats (fp16 in a GGUF / GPTQ file; 16-bit
  FP is BF16 in this model, :mod:`isa.numerics`) or E8M0 bytes (MX).

Bytes per weight: ``bits/8 + scale bits / (8 * group)``: int4 g128 0.515625, q4_0 18/32,
q4_1 20/32 (a 16-bit min per group beside the scale: ``Bm`` / ``Bmt``, the scales' shape),
q8_0 34/32, mxfp4 17/32 (OCP MX v1.0: 32 E2M1 values + one E8M0 exponent), int8 and fp8
per-channel 1 + 2/K.

Unpacking (``decode``), per vector of ``vl`` columns, codes to BF16 (all RVV 1.0 forms;
16-bit FP as BF16, Zvfbfa's altfmt convention):

- int8, q8_0: ``vfwcvt.f.x.v`` (signed bytes to BF16, exact);
- int4, q4_0: ``vsll.vi 4`` moves the low nibble to the top of its byte, ``vand.vi -16``
  keeps the high one there: signed bytes 16 q, ``vfwcvt.f.x.v`` each (1/16 multiplies the
  accumulators after the last k); q4_0's offset-8 codes first pass ``vxor.vx 0x88``
  (q - 8 is the two's-complement nibble of q ^ 8);
- fp8 E4M3: ``vsext.vf2``, ``vsll.vi 4``, ``vand.vx 0x87f0`` put sign, exponent and mantissa
  in BF16's fields: the BF16 read is w * 2^-120 (the exponent biases differ by 127 - 7),
  subnormals included; 2^120 is folded into the per-channel scale (the exponent-bias trick
  of Marlin's FP8 dequantisation, vLLM ``fp8_marlin``);
- mxfp4 E2M1: each nibble sign-extended in its byte (``vsll.vi 4`` + ``vsra.vi 4`` for the
  low one, ``vsra.vi 4`` for the high one), then ``vwmul.vx`` by 64 (a widening shift into
  16-bit lanes: the sign fills bits 15..9, e e m land in 8..6) and ``vand.vx 0x81c0``:
  BF16 of v * 2^-126 for the E2M1 value v. The group's scale 2^(e-127) is taken as
  2^(e-127+63) (``(e + 63) << 7`` as BF16 bits: ``vzext.vf2``, ``vsll.vi 7``, ``vadd.vx``,
  once per group), so the unpacked row is w * 2^-63 and 2^63 multiplies the accumulators
  after the last k: the row stays a normal BF16 for E8M0 exponents 58..191 (scales
  2^-69..2^64; real weight blocks are far inside; e = 255 is NaN in the format);
- a per-channel scale multiplies the FP32 accumulators once, after the last k. A group
  scale multiplies the unpacked row (``vfmul.vv``, BF16) when several rows of A share it
  (GEMM); a GEMV (one row) accumulates each group's products in FP32 partial sums that
  one ``vfmacc.vv`` by the group's scales adds to the accumulator, and software-pipelines
  the unpacking (:func:`stages`: each link of the chain works on another byte row, so the
  in-order vector unit never waits on a link's latency; mxfp4, whose stages need more
  registers than a GEMV has, unpacks one byte row ahead of the FMAs instead).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from isa.core import Core
from isa.errors import IsaError
from isa.program import Affine, Builder, Reg, X


@dataclass(frozen=True)
class WeightFormat:
    """``bits`` per code, ``group`` weights along K per scale (0: one per output channel),
    ``scale`` ``bf16`` or ``e8m0``, ``code`` the element encoding (``int``: two's
    complement; ``offset8``: unsigned nibble q standing for q - 8; ``min``: unsigned
    nibble q of ``d q + m``, each group carrying a 16-bit min m beside its scale d;
    ``e4m3``; ``e2m1``)."""

    name: str
    bits: int
    group: int
    scale: str
    code: str
    source: str

    @property
    def per_byte(self) -> int:
        return 8 // self.bits

    def group_of(self, k: int) -> int:
        """Weights per scale along a K of ``k``: one group per output channel when the
        format has no group or K is shorter than its group (GPTQ: group = min(g, K))."""
        return min(self.group, k) if self.group else k

    @property
    def per_channel(self) -> bool:
        return self.group == 0

    def scale_bits(self) -> int:
        return 8 if self.scale == "e8m0" else 16

    @property
    def has_min(self) -> bool:
        """Whether each group carries a min (an offset added to d q) beside its scale."""
        return self.code == "min"

    def nbytes(self, n: int, k: int) -> int:
        """Bytes of one packed K x N weight matrix: codes plus scales (and mins)."""
        side = self.scale_bits() + (16 if self.has_min else 0)
        return n * k * self.bits // 8 + n * (k // self.group_of(k)) * side // 8


FORMATS: dict[str, WeightFormat] = {f.name: f for f in (
    WeightFormat("int8", 8, 0, "bf16", "int",
                 "per-channel int8 weight-only (TensorRT-LLM W8A16, bitsandbytes row-wise)"),
    WeightFormat("int4", 4, 128, "bf16", "int",
                 "GPTQ / AWQ group-wise int4; the group is Core.weight_group (default 128, "
                 "the GPTQ and AWQ default)"),
    WeightFormat("q8_0", 8, 32, "bf16", "int", "llama.cpp block_q8_0: 32 int8 + fp16 d"),
    WeightFormat("q4_0", 4, 32, "bf16", "offset8",
                 "llama.cpp block_q4_0: 16 bytes of nibbles (q - 8) + fp16 d"),
    WeightFormat("q4_1", 4, 32, "bf16", "min",
                 "llama.cpp block_q4_1: fp16 d, fp16 m, 16 bytes of nibbles q; x = d q + m "
                 "(ggml-common.h); llama.cpp's kernels only (isa.kernels.ggml, ime)"),
    WeightFormat("fp8", 8, 0, "bf16", "e4m3",
                 "FP8 E4M3 (OCP OFP8) with per-channel scales (vLLM FP8 W8A16 'channel')"),
    WeightFormat("mxfp4", 4, 32, "e8m0", "e2m1",
                 "OCP MX v1.0 MXFP4: 32 E2M1 values + one E8M0 scale"),
)}
# The formats the ideal kernels unpack (a format with mins runs llama.cpp's kernels only).
IDEAL_FORMATS: tuple[str, ...] = tuple(n for n, f in FORMATS.items() if not f.has_min)
# the x registers holding the decode's bit masks (set once, before the loops)
_XMASK, _XOFF, _X64 = X(21), X(22), X(23)
_MASKS = {"offset8": 0x88, "e4m3": 0x87F0, "e2m1": 0x81C0}
FP8_BIAS_SHIFT = 2.0 ** 120  # BF16 bias 127 - E4M3 bias 7
MXFP4_SHIFT = 63  # of the 2^126 between E2M1 in BF16's low bits and its value: in the scale
MXFP4_SCALE_OFFSET = MXFP4_SHIFT << 7  # (e << 7) + this: the BF16 bits of 2^(e-127+63)


def end_factor(fmt: WeightFormat) -> float:
    """The constant the accumulators are multiplied by after the last k (1: none): the
    unpacked rows are the weights divided by it."""
    if fmt.code == "e4m3":
        return FP8_BIAS_SHIFT
    if fmt.code == "e2m1":
        return 2.0 ** (126 - MXFP4_SHIFT)
    if fmt.bits == 4:  # 4-bit codes unpacked in the top half of a byte: 16 q
        return 1.0 / 16
    return 1.0


def weight_format(name: str, core: Core) -> WeightFormat | None:
    """The packed format of a GEMM's B for a trace ``weight_dtype`` (None: BF16/FP16/none,
    streamed as the activation dtype)."""
    if name in ("", "bf16", "fp16"):
        return None
    fmt = FORMATS.get(name)
    if fmt is None:
        raise IsaError(f"weight dtype {name!r} has no RISC-V kernel; valid: bf16, fp16, "
                       f"{', '.join(FORMATS)}")
    return replace(fmt, group=core.weight_group) if name == "int4" else fmt


@dataclass(frozen=True)
class QuantRegs:
    """Registers of the unpacking: BF16 rows ``w`` (two m2 groups: the low and high codes
    of 4-bit bytes), the group scale ``s`` (m2), the packed codes ``p`` (m1, one per step
    in flight) and two 8-bit temporaries ``t8`` (m1)."""

    w: tuple[Reg, Reg]
    s: Reg
    p: tuple[Reg, Reg]
    t8: tuple[Reg, Reg]


def setup(b: Builder, fmt: WeightFormat) -> None:
    """Constants of the decode, in x registers, once before the loops."""
    if fmt.code in _MASKS:
        b.emit("addi", _XMASK, X(0), _MASKS[fmt.code], comment=f"li {_MASKS[fmt.code]:#x}")
    if fmt.scale == "e8m0":
        b.emit("addi", _XOFF, X(0), MXFP4_SCALE_OFFSET, comment="E8M0 -> BF16 2^(e-64)")
    if fmt.code == "e2m1":
        b.emit("addi", _X64, X(0), 64, comment="x 64: nibble to BF16 bits 8..6")


def declare(b: Builder, fmt: WeightFormat, g: int, n: int, k: int,
            transposed: bool = False) -> None:
    """``Bq`` / ``Bs`` (K-major rows of N), or with ``transposed`` the N-major ``Bqt`` /
    ``Bst`` (``[G, N, K/per_byte]``, ``[G, N, groups]``) the tile kernels unpack; a
    format with mins adds ``Bm`` / ``Bmt``, shaped as the scales."""
    groups = k // fmt.group_of(k)
    sdt = "int8" if fmt.scale == "e8m0" else "bf16"
    if transposed:
        b.buffer("Bqt", "int8", g * n * (k // fmt.per_byte), "in", (g, n, k // fmt.per_byte))
        b.buffer("Bst", sdt, g * n * groups, "in", (g, n, groups))
        if fmt.has_min:
            b.buffer("Bmt", "bf16", g * n * groups, "in", (g, n, groups))
        return
    b.buffer("Bq", "int8", g * (k // fmt.per_byte) * n, "in", (g, k // fmt.per_byte, n))
    b.buffer("Bs", sdt, g * groups * n, "in", (g, groups, n))
    if fmt.has_min:
        b.buffer("Bm", "bf16", g * groups * n, "in", (g, groups, n))


def load_scale(b: Builder, fmt: WeightFormat, off: Affine, vl: int, s: Reg, t8: Reg,
               buf: str = "Bs") -> None:
    """The BF16 scales of ``vl`` columns at ``buf[off]`` into ``s`` (e16 m2 after)."""
    if fmt.scale == "e8m0":
        b.vsetvli(vl, 8, 1)
        b.emit("vle8.v", t8, b.mem(buf, off, 8))
        b.vsetvli(vl, 16, 2)
        b.emit("vzext.vf2", s, t8)
        b.emit("vsll.vi", s, s, 7)
        b.emit("vadd.vx", s, s, _XOFF, comment="BF16 2^(e-64)")
        return
    b.vsetvli(vl, 16, 2)
    b.emit("vle16.v", s, b.mem(buf, off, 16))


def load_codes(b: Builder, off: Affine, vl: int, p: Reg, buf: str = "Bq") -> None:
    b.vsetvli(vl, 8, 1)
    b.emit("vle8.v", p, b.mem(buf, off, 8))


def decode(b: Builder, fmt: WeightFormat, p: Reg, vl: int, regs: QuantRegs,
           scaled: bool, between: Callable[[], None] = lambda: None) -> None:
    """Unpack the codes in ``p`` (one byte per column) to ``per_byte`` BF16 rows in
    ``regs.w`` (times ``end_factor``'s inverse), multiplied by the group scale in
    ``regs.s`` when ``scaled``; leaves vtype e16 m2. The two rows of 4-bit codes are two
    independent chains, interleaved; ``between()`` emits independent work (the previous
    row's FMAs) after the first link of the chain, so that it runs during its latency."""
    w, t8, x = regs.w, regs.t8, _XMASK
    if fmt.code in ("int", "offset8"):
        b.vsetvli(vl, 8, 1)
        if fmt.bits == 8:
            between()
            b.vsetvli(vl, 8, 1)
            b.emit("vfwcvt.f.x.v", w[0], p)
        else:
            if fmt.code == "offset8":
                b.emit("vxor.vx", p, p, x, comment="q - 8 as a signed nibble")
            b.emit("vsll.vi", t8[0], p, 4, comment="16 x low code")
            b.emit("vand.vi", t8[1], p, -16, comment="16 x high code")
            between()
            b.vsetvli(vl, 8, 1)
            b.emit("vfwcvt.f.x.v", w[0], t8[0])
            b.emit("vfwcvt.f.x.v", w[1], t8[1])
        b.vsetvli(vl, 16, 2)
    elif fmt.code == "e4m3":
        b.vsetvli(vl, 16, 2)
        b.emit("vsext.vf2", w[0], p)
        between()
        b.vsetvli(vl, 16, 2)
        b.emit("vsll.vi", w[0], w[0], 4)
        b.emit("vand.vx", w[0], w[0], x, comment="BF16 bits of w * 2^-120")
    else:  # e2m1: the signed nibble n = -8s + eem, 64 n = s..s eem 000000 in 16 bits
        b.vsetvli(vl, 8, 1)
        b.emit("vsll.vi", t8[0], p, 4)
        b.emit("vsra.vi", t8[1], p, 4, comment="high code, sign-extended")
        b.emit("vsra.vi", t8[0], t8[0], 4, comment="low code, sign-extended")
        b.emit("vwmul.vx", w[1], t8[1], _X64)
        b.emit("vwmul.vx", w[0], t8[0], _X64)
        between()
        b.vsetvli(vl, 16, 2)
        for half in (1, 0):
            b.emit("vand.vx", w[half], w[half], x, comment="BF16 bits of w * 2^-126")
    if scaled:
        for half in range(fmt.per_byte):
            b.emit("vfmul.vv", w[half], w[half], regs.s)


@dataclass(frozen=True)
class Stage:
    """One link of an unpacking chain as a pipeline stage: instructions at vtype
    (``sew``, m``lmul``) that read the previous stage's registers (the codes first) and
    write ``out`` register groups (their sizes); the last stage writes the BF16 rows."""

    sew: int
    lmul: int
    out: tuple[int, ...]
    emit: Callable[[Builder, list[Reg], list[Reg]], None]


def _emit_each(op: str, *extra: object) -> Callable[[Builder, list[Reg], list[Reg]], None]:
    """``op dst_i, src_i, *extra`` for each output group i (src: the one input if one)."""
    def emit(b: Builder, src: list[Reg], dst: list[Reg]) -> None:
        for i, d in enumerate(dst):
            b.emit(op, d, src[i if len(src) > 1 else 0], *extra)
    return emit


def _nibbles(b: Builder, src: list[Reg], dst: list[Reg]) -> None:
    b.emit("vsll.vi", dst[0], src[0], 4, comment="16 x low code")
    b.emit("vand.vi", dst[1], src[0], -16, comment="16 x high code")


def stages(fmt: WeightFormat) -> list[Stage] | None:
    """The unpacking of ``fmt`` as pipeline stages (a GEMV runs each on another byte row,
    so no link waits for the one before it), or None where :func:`decode` runs as one
    chain (int8 / q8_0: one link; mxfp4: its stages need more registers than a GEMV has)."""
    if fmt.code in ("int", "offset8") and fmt.bits == 4:
        out = [Stage(8, 1, (1, 1), _nibbles),
               Stage(8, 1, (2, 2), _emit_each("vfwcvt.f.x.v"))]
        if fmt.code == "offset8":
            out.insert(0, Stage(8, 1, (1,), _emit_each("vxor.vx", _XMASK)))
        return out
    if fmt.code == "e4m3":
        return [Stage(16, 2, (2,), _emit_each("vsext.vf2")),
                Stage(16, 2, (2,), _emit_each("vsll.vi", 4)),
                Stage(16, 2, (2,), _emit_each("vand.vx", _XMASK))]
    return None


# ---- test data ------------------------------------------------------------------------------
def random_codes(fmt: WeightFormat, shape: tuple[int, ...], rng: np.random.Generator
                 ) -> np.ndarray:
    """Random packed bytes (as int8) that are valid codes: every byte but E4M3's NaNs."""
    q = rng.integers(0, 256, shape)
    if fmt.code == "e4m3":
        q = np.where((q & 0x7F) == 0x7F, q ^ 1, q)
    return q.astype(np.uint8).view(np.int8)


def random_mins(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random group mins of a ``min`` format: about -8 scales (q4_1 quantises a block's
    [min, max] range, so m ~ -8 d for centred weights)."""
    return -rng.uniform(4.0, 12.0, shape) * 2.0 ** -6


def random_scales(fmt: WeightFormat, shape: tuple[int, ...], rng: np.random.Generator
                  ) -> np.ndarray:
    """Random scales: E8M0 exponents 2^-69..2^64 (the decodable range) as bytes, or
    16-bit scales ~ 2^-6."""
    if fmt.scale == "e8m0":
        return rng.integers(58, 192, shape).astype(np.uint8).view(np.int8)
    return rng.uniform(0.5, 2.0, shape) * 2.0 ** -6
