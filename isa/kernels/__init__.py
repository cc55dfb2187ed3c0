"""The kernel library: ``lower(op_row, isa, core) -> Program`` for each trace kind.

``op_row`` is a row (any Mapping) of the trace schema (``workloads/schema.py``); ``isa``
an :class:`isa.Isa` or ISA string (``rvv``, ``rvv+xattn:vfexp``); ``core`` an
:class:`isa.Core`. :func:`check` runs a program on random data against the torch
reference of :mod:`isa.kernels.reference` (torch is imported only there, lazily).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from isa.core import Core
from isa.errors import IsaError
from isa.executor import decode_buffer, encode_buffer, execute
from isa.instructions import Isa
from isa.kernels import attention, conv1d, gemm, linear_attention, quant, rowwise, select, softmax
from isa.program import Program

Lowering = Callable[[Mapping[str, Any], Any, Any], Program]

KERNELS: dict[str, Lowering] = {
    "gemm": gemm.lower,
    "attention": attention.lower,
    "softmax": softmax.lower,
    "norm": rowwise.lower_norm,
    "activation": rowwise.lower_activation,
    "elementwise": rowwise.lower_elementwise,
    "rope": rowwise.lower_rope,
    "reduction": rowwise.lower_reduction,
    "copy": rowwise.lower_copy,
    "linear_attention": linear_attention.lower,
    "conv1d": conv1d.lower,
    "router": select.lower_router,
    "embedding": rowwise.lower_embedding,
}

# Inputs that must stay in a function's domain (positive for sqrt, non-zero divisors).
_POSITIVE = {("elementwise", "sqrt"), ("elementwise", "rsqrt"), ("elementwise", "div"),
             ("elementwise", "log"), ("elementwise", "pow"),
             ("elementwise", "reciprocal")}


def kernel_for(kind: str) -> Lowering:
    """The lowering registered for a trace kind."""
    try:
        return KERNELS[kind]
    except KeyError:
        raise IsaError(f"unknown op kind {kind!r}; valid: {', '.join(KERNELS)}") from None


def register_kernel(kind: str, lowering: Lowering) -> Lowering | None:
    """Make ``lowering(op_row, isa, core) -> Program`` the kernel of a trace kind (for
    instance one that uses a new instruction and falls back to the library's kernel
    otherwise, or the first kernel of a kind new to the trace's vocabulary); returns the
    lowering it replaces, if any. Timing caches key on the program's text, so results of
    the new kernel never mix with the old one's."""
    previous = KERNELS.get(kind)
    KERNELS[kind] = lowering
    return previous


def lower(op_row: Mapping[str, Any], isa: Isa | str = "rvv", core: Core | None = None) -> Program:
    """The program of one traced op: the lowering registered for its kind (:func:`kernel_for`)."""
    return kernel_for(str(op_row.get("kind", "")))(op_row, isa, core)


def random_inputs(program: Program, op_row: Mapping[str, Any],
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    kind, op = str(op_row.get("kind")), str(op_row.get("op") or "")
    out = {}
    fmt = quant.FORMATS.get(str(program.meta.get("weight_format")))
    for name, b in program.buffers.items():
        if b.role not in ("in", "inout"):
            continue
        if fmt is not None and name in ("Bq", "Bs", "Bqt", "Bst", "Bqi"):  # packed codes
            gen = quant.random_codes if name.startswith("Bq") else quant.random_scales
            out[name] = gen(fmt, b.shape, rng)
            continue
        if fmt is not None and name in ("Bm", "Bmt"):  # group mins (q4_1)
            out[name] = quant.random_mins(b.shape, rng)
            continue
        if program.meta.get("weight_format") == "q6_k" and name.startswith("B"):
            out[name] = _q6_k_field(name, b.shape, rng)
            continue
        if fmt is not None and name == "Bz":  # zero points (the IME's q4_1)
            out[name] = rng.integers(0, 16, b.shape).astype(np.int8)
            continue
        x: np.ndarray = rng.standard_normal(b.shape)
        if (kind, op) in _POSITIVE and (name == "b" or op != "div"):
            x = np.abs(x) + 0.5
        if kind == "linear_attention":
            x = _delta_rule_input(name, x)
        if b.dtype == "int8":  # boolean condition of where
            x = rng.integers(0, 2, b.shape)
        elif b.dtype == "int64" or (b.dtype == "int32" and kind == "elementwise"):
            x = rng.integers(-1000, 1000, b.shape)  # integer element-wise (position ids)
        elif b.dtype == "int32":  # row indices of gather / embedding / scatter
            rows = int(op_row.get("K") or op_row.get("M") or 0)
            x = (rng.permutation(rows)[:b.size] if op == "scatter"
                 else rng.integers(0, rows, b.shape))
        out[name] = x
    return out


def _q6_k_field(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random block_q6_K fields (isa.kernels.kquant): any bytes of ``ql`` / ``qh``, int8
    sub-block scales (llama.cpp's quantiser writes them in -128..127) and super-block
    scales d of the size that keeps the weights near unit scale (1 / (32 x 64))."""
    if name in ("Bql", "Bqh"):
        return rng.integers(-128, 128, shape).astype(np.int8)
    if name == "Bsc":
        return rng.integers(-128, 128, shape).astype(np.int8)
    return rng.uniform(0.5, 1.5, shape) / (32 * 64)


def _delta_rule_input(name: str, x: np.ndarray) -> np.ndarray:
    """Inputs in the gated delta rule's domain: q, k l2-normalised (the trace's l2norm
    rows precede the kernel), g = log decay <= 0 (-A * softplus(.), qwen.md 4.2),
    beta = sigmoid(.) in (0, 1), state of magnitude ~0.1."""
    if name in ("q", "k"):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)
    if name == "g":
        return -0.3 * np.abs(x)
    if name == "beta":
        return 1.0 / (1.0 + np.exp(-x))
    if name in ("state", "state_t"):
        return 0.1 * x
    return x


@dataclass
class CheckResult:
    worst_abs: float
    worst_rel: float  # worst |err| / max |reference| of the output buffer
    tolerance: float
    ok: bool
    counts_match: bool


def tolerance(core: Core, program: Program | None = None) -> float:
    """Error bound relative to the output's magnitude. BF16 storage rounds each output to
    8 significant bits (<= 2^-8 = 0.4% relative) and each input the same way before the
    reference sees it, so outputs differ by output rounding plus FP32-vs-float64
    accumulation order, plus the vfexp bound (1e-4) where exp is approximate: 1e-2 covers
    it with margin. FP32: only accumulation order and approximate exp/reciprocal (vfrec
    2^-12) remain: 2e-3. A kernel that quantises its activations to int8 blocks
    (``meta["activations"] == "q8_0"``: the IME and ggml kernels) adds their rounding: each
    A element moves by at most amax/254 of its block, which over a dot product of random
    signs is ~0.2% of the output's range, a few times that at the worst of many outputs:
    +1e-2 (``tests/isa/test_kernels_ime.py`` checks those kernels to BF16 rounding against
    a reference that quantises A the same way)."""
    base = 1e-2 if core.dtype == "bf16" else 2e-3
    if program is not None and program.meta.get("activations") in ("q8_0", "q8_1", "q8_K"):
        base += 1e-2
    return base


def _selected(ic: Any, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(expected values, values the kernel's indices select); inf where an index is out of
    range or repeated within a row."""
    src = np.asarray(ic.source, dtype=np.float64).reshape(-1, np.shape(ic.source)[-1])
    idx2 = idx.reshape(src.shape[0], -1)
    ok = (idx2 >= 0) & (idx2 < src.shape[1])
    got = np.take_along_axis(src, np.where(ok, idx2, 0), axis=1)
    dup = np.array([len(set(r)) != len(r) for r in idx2.tolist()])
    got = np.where(ok & ~dup[:, None], got, np.inf)
    return np.asarray(ic.values, dtype=np.float64).reshape(got.shape), got


def as_stored(prog: Program, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``inputs`` as ``prog``'s buffers hold them (rounded to each buffer's dtype, e.g.
    BF16): what a reference must compute from to match the kernel."""
    return {k: decode_buffer(prog.buffers[k].dtype,
                             encode_buffer(prog.buffers[k].dtype, x)).reshape(np.shape(x))
            for k, x in inputs.items()}


def check(op_row: Mapping[str, Any], isa: Isa | str = "rvv", core: Core | None = None,
          seed: int = 0) -> CheckResult:
    """Execute the kernel on random inputs and compare with the torch reference."""
    from isa.kernels.reference import REFERENCES, IndexCheck
    core = core or Core()
    prog = lower(op_row, isa, core)
    inputs = random_inputs(prog, op_row, np.random.default_rng(seed))
    res = execute(prog, inputs)
    seen = as_stored(prog, inputs)  # taken before the run for in-place (inout) buffers
    # a kernel that rounds an intermediate its reference would not (B dequantised to
    # BF16 before the FMAs: meta b_rounded) says so, and the reference rounds it the same
    row = {**op_row, "b_rounded": prog.meta["b_rounded"]} if "b_rounded" in prog.meta \
        else op_row
    ref = REFERENCES[str(op_row["kind"])](row, seen)
    worst_abs, worst_rel = 0.0, 0.0
    for name, expected in ref.items():
        if isinstance(expected, IndexCheck):
            idx = np.asarray(res.buffers[name]).astype(np.int64)
            sel_want, got = _selected(expected, idx)
            want = np.asarray(sel_want, dtype=np.float64)
            err = float(np.max(np.abs(got - want))) if got.size else 0.0
            scale = float(np.max(np.abs(want))) or 1.0
            worst_abs, worst_rel = max(worst_abs, err), max(worst_rel, err / scale)
            continue
        got = np.asarray(res.buffers[name], dtype=np.float64)
        want = np.asarray(expected, dtype=np.float64).reshape(got.shape)
        err = float(np.nanmax(np.abs(got - want))) if got.size else 0.0
        if np.isnan(got).any():
            err = float("inf")
        scale = float(np.max(np.abs(want))) or 1.0
        worst_abs = max(worst_abs, err)
        worst_rel = max(worst_rel, err / scale)
    tol = tolerance(core, prog)
    return CheckResult(worst_abs, worst_rel, tol, worst_rel <= tol, res.counts == prog.counts())
