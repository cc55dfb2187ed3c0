"""Shared pieces of the kernel library: row access, strip-mining, BF16<->FP32 streaming,
and the exponential (RVV polynomial libm sequence or Xattn vfexp/vfexpsub).

Register convention for FP32 streaming kernels at LMUL=2 (``Kc``): v0 is the mask
register, v2 (m1) is the BF16 staging register of loads/stores, vector groups v4..v30 are
free for the kernel except those :meth:`Kc.exp_setup` takes for polynomial constants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from isa.core import Core
from isa.errors import IsaError
from isa.instructions import Isa, parse_isa
from isa.program import Affine, Builder, F, Program, Reg, V, X

# ---- trace rows ------------------------------------------------------------------------


def field(row: Mapping[str, Any], name: str, default: int | None = None) -> int:
    v = row.get(name, default)
    if v is None:
        raise IsaError(f"{row.get('kind', '?')} op needs shape field {name}")
    try:
        iv = int(v)
    except (TypeError, ValueError):
        raise IsaError(f"shape field {name}={v!r} is not an integer") from None
    if iv < 0:
        raise IsaError(f"shape field {name}={iv} must be >= 0")
    return iv


def positive(row: Mapping[str, Any], *names: str) -> tuple[int, ...]:
    out = []
    for n in names:
        v = field(row, n)
        if v <= 0:
            raise IsaError(f"{row.get('kind', '?')} op needs {n} > 0, got {v}")
        out.append(v)
    return tuple(out)


def op_of(row: Mapping[str, Any], kind: str, supported: tuple[str, ...]) -> str:
    op = str(row.get("op") or supported[0])
    if op not in supported:
        raise IsaError(f"{kind} op {op!r} has no kernel; supported: {', '.join(supported)}")
    return op


@dataclass(frozen=True)
class Target:
    isa: Isa
    core: Core


def target(isa: Isa | str, core: Core | None) -> Target:
    return Target(parse_isa(isa), core or Core())


# ---- Cephes expf (riscv.md 4.3, Ara apps/exp/kernel/exp.h) -------------------------------
EXP_HI = 88.3  # clamp so that n = round(x*log2e) stays a normal exponent
EXP_LO = -87.3
EXP_CODY1 = 0.693359375  # ln2 split for Cody-Waite range reduction (Cephes)
EXP_CODY2 = -2.12194440e-4
EXP_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
            1.6666665459e-1, 5.0000001201e-1)  # Cephes expf, degree 5
LOG2E = 1.44269504088896341


class Kc:
    """Kernel context: builder + target + FP32 streaming helpers at LMUL ``lmul``."""

    def __init__(self, name: str, isa: Isa | str, core: Core | None, lmul: int = 2) -> None:
        t = target(isa, core)
        self.isa, self.core = t.isa, t.core
        self.b = Builder(name, self.isa, self.core.vlen)
        self.lmul = lmul
        self.bf16 = self.core.dtype == "bf16"
        self.esize = self.core.esize
        self.stage = V(2) if lmul == 2 else V(lmul // 2)
        self._fconst: dict[float, Reg] = {}
        self._next_f = 10
        self._f_top = 32  # f registers from here up are scalar temporaries (ftemps)
        self._f_end = 32  # f registers from here up are reserved (reserve_f)
        self.poly: tuple[Reg, ...] = ()
        self.poly_inline = False
        self.vexpf_regs: tuple[Reg, ...] = ()  # the snitch library's expf (isa.kernels.snitch)

    # -- scalar constants held in f registers (loaded once, outside loops)
    def ftemps_available(self) -> int:
        """How many f registers :meth:`ftemps` can hand out now: f1..f9 and every register
        above the constants (temporaries handed out before are free again: they live in one
        loop body)."""
        return 9 + max(0, self._f_end - self._next_f)

    def ftemps(self, n: int) -> list[Reg]:
        """``n`` f registers for scalar operands of one loop body: f1..f9 (below the
        constants), then from the top (f31, or below :meth:`reserve_f`'s) down; constants
        allocated later stop below those."""
        low = [F(i) for i in range(1, min(n, 9) + 1)]
        high = [F(self._f_end - 1 - i) for i in range(n - len(low))]
        if high and self._f_end - len(high) < self._next_f:
            raise IsaError(f"out of FP registers: {n} scalar temporaries with "
                           f"{self._next_f - 10} constants")
        if high:
            self._f_top = min(self._f_top, high[-1].n)
        return low + high

    def reserve_f(self, n: int) -> list[Reg]:
        """The top ``n`` f registers below any reserved before, for a routine of the kernel
        library for the whole program (constants and :meth:`ftemps` stay below them)."""
        end = self._f_end - n
        if end < max(self._next_f, 10):
            raise IsaError(f"out of FP registers: {n} reserved with "
                           f"{self._next_f - 10} constants")
        self._f_end = end
        self._f_top = min(self._f_top, end)
        return [F(end + i) for i in range(n)]

    def fconst(self, value: float) -> Reg:
        value = float(np.float32(value))
        if value not in self._fconst:
            if self._next_f >= self._f_top:
                raise IsaError("out of FP registers for constants")
            r = F(self._next_f)
            self._next_f += 1
            self.b.emit("flw", r, self.b.const(value), comment=f"= {value:g}")
            self._fconst[value] = r
        return self._fconst[value]

    @property
    def vlmax(self) -> int:
        return self.core.vlmax(32, self.lmul)

    def set32(self, vl: int) -> int:
        return self.b.vsetvli(vl, 32, self.lmul)

    # -- streaming between memory (dtype) and FP32 registers
    def load(self, dst: Reg, buf: str, off: Affine | int, stride: int = 1) -> None:
        """Load ``vl`` elements of ``buf`` into FP32 group ``dst`` (current vtype e32)."""
        b = self.b
        pat = "strided" if stride != 1 else "unit"
        if b.buffers[buf].dtype != "bf16":
            b.emit(f"vl{'s' if stride != 1 else ''}e32.v", dst, b.mem(buf, off, 32, pat, stride))
            return
        vl = b.current_vl
        b.vsetvli(vl, 16, self.lmul // 2)
        b.emit(f"vl{'s' if stride != 1 else ''}e16.v", self.stage, b.mem(buf, off, 16, pat, stride))
        b.emit("vfwcvtbf16.f.f.v", dst, self.stage)
        b.vsetvli(vl, 32, self.lmul)

    def store(self, src: Reg, buf: str, off: Affine | int, stride: int = 1) -> None:
        b = self.b
        pat = "strided" if stride != 1 else "unit"
        if b.buffers[buf].dtype != "bf16":
            b.emit(f"vs{'s' if stride != 1 else ''}e32.v", src, b.mem(buf, off, 32, pat, stride))
            return
        vl = b.current_vl
        b.vsetvli(vl, 16, self.lmul // 2)
        b.emit("vfncvtbf16.f.f.w", self.stage, src)
        b.emit(f"vs{'s' if stride != 1 else ''}e16.v", self.stage, b.mem(buf, off, 16, pat, stride))
        b.vsetvli(vl, 32, self.lmul)

    def sload(self, fd: Reg, buf: str, off: Affine | int) -> None:
        """Scalar load of one element into an f register (BF16 via flh)."""
        b = self.b
        if b.buffers[buf].dtype == "bf16":
            b.emit("flh", fd, b.mem(buf, off, 16))
        else:
            b.emit("flw", fd, b.mem(buf, off, 32))

    def sstore(self, fs: Reg, buf: str, off: Affine | int) -> None:
        b = self.b
        if b.buffers[buf].dtype == "bf16":
            b.emit("fsh", fs, b.mem(buf, off, 16))
        else:
            b.emit("fsw", fs, b.mem(buf, off, 32))

    # -- loops
    @contextmanager
    def rep(self, var: str, count: int, ptrs: int = 1) -> Iterator[Affine]:
        """A loop of ``count`` trips; a single trip is emitted straight-line (var = 0)."""
        if count == 1:
            yield Affine(0)
        elif count > 1:
            with self.b.loop(var, count, ptrs) as v:
                yield v
        else:
            raise IsaError("rep() with zero trips")

    def pipelined(self, var: str, count: int, regs: tuple[Reg, Reg],
                  load: Callable[[Affine, Reg], None],
                  step: Callable[[Affine, Reg, Callable[[], None]], None], ptrs: int = 2
                  ) -> None:
        """A software-pipelined loop over steps 0..count-1 whose step i reads a vector
        operand that ``load(i, reg)`` fills: the operand is loaded one step ahead into the
        other of two registers, and the loop is unrolled by two so they alternate.
        ``step(i, reg, prefetch)`` emits step i reading ``reg`` and calls ``prefetch()``
        where the next step's load should go (after its scalar loads, before its vector
        work: the in-order vector unit then dispatches the load ahead of this step's
        arithmetic, which never waits for it)."""
        r0, r1 = regs
        load(Affine(0), r0)
        pairs, odd = divmod(count - 1, 2)  # steps that load the next step's operand
        if pairs:
            with self.rep(var, pairs, ptrs) as k:
                i0 = k * 2
                step(i0, r0, lambda: load(i0 + 1, r1))
                step(i0 + 1, r1, lambda: load(i0 + 2, r0))
        if odd:
            step(Affine(count - 2), r0, lambda: load(Affine(count - 1), r1))
        step(Affine(count - 1), regs[odd], lambda: None)

    def strips(self, n: int, var: str, body: Callable[[Affine, int], None], ptrs: int = 2,
               vlmax: int | None = None) -> None:
        """Strip-mine ``n`` FP32 elements: main loop at VLMAX, then a tail with its own VL.
        ``body(offset, vl)`` emits one strip (vtype e32/LMUL already set)."""
        vm = vlmax or self.vlmax
        main, tail = divmod(n, vm)
        if main:
            self.set32(vm)
            with self.rep(var, main, ptrs) as j:
                body(j * vm, vm)
        if tail:
            self.set32(tail)
            body(Affine(main * vm), tail)

    # -- exponential ------------------------------------------------------------------
    def exp_needs_poly(self, sub: bool) -> bool:
        return not (self.isa.has("vfexp.v") or (sub and self.isa.has("vfexpsub.vf"))
                    or self.core.library == "snitch")

    def exp_setup(self, sub: bool = False,
                  regs: tuple[int, ...] | None = (20, 22, 24, 26, 28)) -> None:
        """Hoisted constants of the exp sequence (call after a vsetvli at the largest VL).
        The RVV polynomial keeps 5 coefficients splatted in vector groups ``regs``; with
        ``regs=None`` (a register-starved kernel) each Horner step is vfmul.vv + vfadd.vf
        with the coefficient in an f register."""
        if self.core.library == "snitch" and not self.isa.has("vfexp.v"):
            from isa.kernels import snitch  # the library's scalar expf
            snitch.vector_expf_setup(self)
            return
        if not self.exp_needs_poly(sub):
            return
        for c in (EXP_HI, EXP_LO, 0.5, LOG2E, 1.0, EXP_CODY1, EXP_CODY2, EXP_POLY[0]):
            self.fconst(c)
        if regs is None:
            for c in EXP_POLY[1:]:
                self.fconst(c)
        self.b.emit("addi", X(20), X(0), 127, comment="exponent bias")
        if regs is None:
            self.poly_inline = True
            return
        self.poly = tuple(V(r * self.lmul // 2) for r in regs)
        for r, c in zip(self.poly, EXP_POLY[1:], strict=True):
            # the coefficient passes through a transient f register (f9): only the
            # splat keeps it, so exp holds 8 f registers, leaving room for other libm
            fr = self._fconst.get(float(np.float32(c)))
            if fr is None:
                fr = F(9)
                self.b.emit("flw", fr, self.b.const(c), comment=f"= {float(np.float32(c)):g}")
            self.b.emit("vfmv.v.f", r, fr, comment="exp coefficient")

    def exp(self, dst: Reg, src: Reg, sub: Reg | None = None,
            tmps: tuple[int, ...] = (10, 12, 14, 16, 18)) -> None:
        """dst = exp(src - f[sub]) (``sub`` optional). Clobbers src and ``tmps`` groups."""
        b = self.b
        if sub is not None and self.isa.has("vfexpsub.vf"):
            b.emit("vfexpsub.vf", dst, src, sub)
            return
        if sub is not None:
            b.emit("vfsub.vf", src, src, sub)
        if self.isa.has("vfexp.v"):
            b.emit("vfexp.v", dst, src)
            return
        if self.core.library == "snitch":
            from isa.kernels import snitch
            snitch.vector_expf(self, dst, src)
            return
        if not self.poly and not self.poly_inline:
            raise IsaError("exp_setup() must run before exp() on plain RVV")
        t, n, f, z, y = (V(r * self.lmul // 2) for r in tmps)
        c = self.fconst
        xr = src
        b.emit("vfmin.vf", xr, xr, c(EXP_HI), comment="exp: clamp")
        b.emit("vfmax.vf", xr, xr, c(EXP_LO))
        b.emit("vfmv.v.f", t, c(0.5))
        b.emit("vfmacc.vf", t, c(LOG2E), xr, comment="fx = x*log2e + 0.5")
        b.emit("vfcvt.x.f.v", n, t)
        b.emit("vfcvt.f.x.v", f, n)
        b.emit("vmflt.vv", V(0), t, f, comment="rounded up: floor fix-up")
        b.emit("vfsub.vf", f, f, c(1.0), masked=True)
        b.emit("vfnmsac.vf", xr, c(EXP_CODY1), f, comment="Cody-Waite: x -= n*ln2")
        b.emit("vfnmsac.vf", xr, c(EXP_CODY2), f)
        b.emit("vfmul.vv", z, xr, xr)
        b.emit("vfmv.v.f", y, c(EXP_POLY[0]))
        if self.poly:
            for p in self.poly:
                b.emit("vfmadd.vv", y, xr, p)
        else:
            for cf in EXP_POLY[1:]:
                b.emit("vfmul.vv", y, y, xr)
                b.emit("vfadd.vf", y, y, c(cf))
        b.emit("vfmadd.vv", y, z, xr, comment="y = y*x^2 + x")
        b.emit("vfadd.vf", y, y, c(1.0))
        b.emit("vfcvt.x.f.v", n, f)
        b.emit("vadd.vx", n, n, X(20))
        b.emit("vsll.vi", n, n, 23, comment="2^n in the exponent field")
        b.emit("vfmul.vv", dst, y, n)

    # -- reciprocal of a vector (Xattn vfrec or vfrdiv)
    def recip(self, dst: Reg, src: Reg) -> None:
        if self.isa.has("vfrec.v"):
            self.b.emit("vfrec.v", dst, src)
        else:
            self.b.emit("vfrdiv.vf", dst, src, self.fconst(1.0))

    # -- running (inclusive) sum of a strip, carried across strips in a scalar register
    def running_sum(self, acc: Reg, tmp: Reg, carry: Reg, vl: int, note: str = "carry") -> None:
        """``acc`` becomes ``carry + cumsum(acc)`` (a log2(vl)-step slide-and-add scan);
        ``carry`` becomes its last element."""
        b = self.b
        s = 1
        while s < vl:
            b.emit("vmv.v.i", tmp, 0)
            b.emit("addi", X(23), X(0), s)
            b.emit("vslideup.vx", tmp, acc, X(23))
            b.emit("vfadd.vv", acc, acc, tmp, comment=f"scan step {s}")
            s *= 2
        b.emit("vfadd.vf", acc, acc, carry)
        b.emit("addi", X(23), X(0), vl - 1)
        b.emit("vslidedown.vx", tmp, acc, X(23))
        b.emit("vfmv.f.s", carry, tmp, comment=note)

    def program(self, **meta: Any) -> Program:
        self.b.meta.update(meta)
        return self.b.program()


def is_pow2(n: int) -> bool:
    return n > 0 and not n & (n - 1)
