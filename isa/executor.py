"""Functional executor: runs a :class:`isa.program.Program` on numpy data.

It models the architectural state: 32 vector registers of VLEN bits (one byte array, so
register groups of LMUL registers are contiguous), 32 integer and 32 FP scalar registers,
``vl`` and ``vtype`` set by ``vsetvli``, and named memory buffers holding raw element
encodings (BF16 as 16-bit patterns). Arithmetic decodes operands by element type and
width, computes in float64/int64 and rounds the result to the destination format (BF16,
FP32, FP64), so fused multiply-adds round once. Elements at or beyond VL and
masked-off elements (``v0.t``) are left undisturbed (a legal choice for ``ta, ma``).

Before running, every instruction is checked (:func:`isa.instructions.check_instr`):
unknown or disabled instructions, VL beyond VLMAX and misaligned register groups are
refused with :class:`isa.errors.IsaError`; while running, an instruction whose stamped
VL/vtype disagrees with the state the ``vsetvli`` sequence produced is refused too.
Uninitialised output and scratch buffers start as NaN, so an element a kernel forgets to
write shows up in any comparison.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from isa.errors import IsaError
from isa.instructions import InstrDef, check_instr, lookup, tile_geometry
from isa.numerics import bf16_bits_to_f32, f32_to_bf16_bits, round_to
from isa.program import Counts, Instr, Loop, Mem, Node, Program, Reg

_UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}
_SINT: dict[int, type[np.signedinteger]] = {8: np.int8, 16: np.int16, 32: np.int32,
                                             64: np.int64}
_STORE = {"bf16": np.uint16, "fp16": np.uint16, "fp32": np.float32, "fp64": np.float64,
          "int32": np.int32, "int64": np.int64, "int16": np.int16, "int8": np.int8}


@dataclass
class ExecResult:
    """Decoded buffers after the run (FP as float32/float64, ints as ints) and counts."""

    buffers: dict[str, np.ndarray]
    counts: Counts


def encode_buffer(dtype: str, values: np.ndarray) -> np.ndarray:
    v = np.asarray(values)
    if dtype in ("bf16", "fp16"):
        return f32_to_bf16_bits(v.astype(np.float32).ravel())
    return v.astype(_STORE[dtype]).ravel().copy()


def decode_buffer(dtype: str, raw: np.ndarray) -> np.ndarray:
    if dtype in ("bf16", "fp16"):
        return bf16_bits_to_f32(raw)
    return raw.copy()


class Machine:
    """Architectural state plus the interpreter loop."""

    def __init__(self, vlen: int, memory: dict[str, np.ndarray], dtypes: dict[str, str]) -> None:
        if vlen < 64 or vlen & (vlen - 1):
            raise IsaError(f"VLEN must be a power of two >= 64, got {vlen}")
        self.vlen = vlen
        self.vlenb = vlen // 8
        self.vrf = np.zeros(32 * self.vlenb, dtype=np.uint8)
        self.x = [0] * 32
        self.f = [0.0] * 32
        self.vl = 0
        self.vtype = None
        self.mem = memory
        self.dtypes = dtypes
        self.count: Counter[str] = Counter()

    # ---- vector register access -----------------------------------------------------
    def _view(self, eew: int, signed: bool = False) -> np.ndarray:
        return self.vrf.view((_SINT if signed else _UINT)[eew])

    def read(self, reg: Reg, eew: int, typ: str, n: int) -> np.ndarray:
        if typ == "m":
            return self.read_mask(reg, n)
        base = reg.n * self.vlenb * 8 // eew
        if base + n > 32 * self.vlenb * 8 // eew:
            raise IsaError(f"register group {reg} with {n} elements of {eew} bits runs past v31")
        if typ == "f":
            raw = self._view(eew)[base:base + n]
            # Bits written by integer ops (or never written) may be signalling NaNs; widening
            # quiets them, as an FPU does, so numpy's "invalid value" flag is not a fault here.
            with np.errstate(invalid="ignore"):
                if eew == 16:
                    return bf16_bits_to_f32(raw).astype(np.float64)
                return raw.view(np.float32 if eew == 32 else np.float64).astype(np.float64)
        raw = self._view(eew, signed=(typ == "i"))[base:base + n]
        return raw.astype(np.int64)

    def write(self, reg: Reg, values: np.ndarray, eew: int, typ: str, active: np.ndarray) -> None:
        n = len(active)
        base = reg.n * self.vlenb * 8 // eew
        vals = np.broadcast_to(np.asarray(values), (n,))
        if typ == "f":
            if eew == 16:
                raw = f32_to_bf16_bits(round_to(vals, 32).astype(np.float32))
            elif eew == 32:
                raw = round_to(vals, 32).astype(np.float32).view(np.uint32)
            else:
                raw = vals.astype(np.float64).view(np.uint64)
        else:
            v = np.asarray(vals)
            if v.dtype.kind == "f":  # float -> int conversion saturates (vfcvt)
                info = np.iinfo(_SINT[eew])
                v = np.nan_to_num(v, nan=info.max, posinf=info.max, neginf=info.min)
                v = np.clip(v, info.min, info.max)
            raw = v.astype(np.int64).astype(_SINT[eew]).view(_UINT[eew])
        view = self._view(eew)
        idx = np.nonzero(active)[0]
        view[base + idx] = raw[idx]

    def read_mask(self, reg: Reg, n: int) -> np.ndarray:
        bits = np.unpackbits(self.vrf[reg.n * self.vlenb:(reg.n + 1) * self.vlenb],
                             bitorder="little")
        return bits[:n].astype(bool)

    def write_mask(self, reg: Reg, bits: np.ndarray, active: np.ndarray) -> None:
        old = self.read_mask(reg, self.vlen)
        old[:len(active)] = np.where(active, bits, old[:len(active)])
        self.vrf[reg.n * self.vlenb:(reg.n + 1) * self.vlenb] = np.packbits(old, bitorder="little")

    # ---- memory -----------------------------------------------------------------------
    def _buf(self, mem: Mem) -> np.ndarray:
        buf = self.mem.get(mem.buf)
        if buf is None:
            raise IsaError(f"unknown buffer {mem.buf!r}")
        if buf.dtype.itemsize * 8 != mem.eew:
            raise IsaError(f"access of {mem.eew}-bit elements to {self.dtypes[mem.buf]} buffer "
                           f"{mem.buf!r}")
        return buf

    def _check_range(self, mem: Mem, idx: np.ndarray, buf: np.ndarray) -> None:
        if idx.size and (idx.min() < 0 or idx.max() >= buf.size):
            raise IsaError(f"access to {mem.buf}[{int(idx.min())}..{int(idx.max())}] outside the "
                           f"buffer of {buf.size} elements")

    def start(self, mem: Mem, env: dict[str, int]) -> int:
        """Element index of the access's first element: the affine offset plus, with a
        base register, that register's byte offset (which must be element-aligned)."""
        off = mem.offset.eval(env)
        if mem.base is not None:
            byte = self.x[mem.base.n]
            if byte % (mem.eew // 8):
                raise IsaError(f"base register {mem.base} holds {byte}: not aligned to "
                               f"{mem.eew}-bit elements")
            off += byte // (mem.eew // 8)
        return off

    def offsets(self, ins: Instr, mem: Mem, env: dict[str, int], n: int) -> np.ndarray:
        base = self.start(mem, env)
        if mem.pattern == "unit":
            return base + np.arange(n)
        if mem.pattern == "strided":
            return base + np.arange(n) * mem.stride
        ieew = ins.defn.attrs.get("index_eew", 32)
        if mem.index is None:
            raise IsaError(f"{ins.asm()}: indexed access without an index register")
        byte = self.read(mem.index, ieew, "u", n)
        if np.any(byte % (mem.eew // 8)):
            raise IsaError(f"{ins.asm()}: misaligned index byte offsets")
        return base + byte // (mem.eew // 8)

    # ---- interpreter ------------------------------------------------------------------
    def run(self, nodes: tuple[Node, ...], env: dict[str, int]) -> None:
        for node in nodes:
            if isinstance(node, Loop):
                for it in range(node.trip):
                    env[node.var] = it
                    self.run(node.body, env)
                env.pop(node.var, None)
            else:
                self.step(node, env)

    def _active(self, ins: Instr) -> np.ndarray:
        if ins.masked:
            return self.read_mask(Reg("v", 0), self.vl)
        return np.ones(self.vl, dtype=bool)

    def step(self, ins: Instr, env: dict[str, int]) -> None:
        d = lookup(ins.op)
        self.count[ins.op] += 1
        k = d.exec_kind
        if k == "vset":
            rd, avl, vt = ins.args
            avl_v = self.x[avl.n] if isinstance(avl, Reg) else int(avl)
            vl = min(avl_v, vt.vlmax(self.vlen))
            if ins.vl is not None and vl != ins.vl:
                raise IsaError(f"{ins.asm()}: gives VL={vl} at VLEN={self.vlen}, but the program "
                               f"was built for VL={ins.vl}")
            self.vl, self.vtype = vl, vt
            self._setx(rd, vl)
            return
        if d.vector:
            if self.vtype is None:
                raise IsaError(f"{ins.asm()}: vector instruction before any vsetvli")
            if ins.vl != self.vl or ins.vtype != self.vtype:
                raise IsaError(f"{ins.asm()}: stamped VL={ins.vl} vtype=({ins.vtype}) but the "
                               f"vsetvli state is VL={self.vl} vtype=({self.vtype})")
        getattr(self, "_" + k)(d, ins, env)

    def _setx(self, r: Reg, v: int) -> None:
        if r.n:
            self.x[r.n] = int(v)

    # -- vector arithmetic
    def _op1(self, d: InstrDef, ins: Instr, sew: int, n: int):
        for role in ("vs1", "fs1", "rs1", "imm"):
            if role in d.operands:
                a = ins.operand(role)
                w = d.width_of(role)
                eew = int(sew * (1 if w in ("s", "m") else w))
                if role == "vs1":
                    return self.read(a, eew, d.type_of(role), n)
                if role == "fs1":
                    return float(round_to(np.array([self.f[a.n]]), eew)[0])
                if role == "rs1":
                    return self.x[a.n]
                return a
        return None

    def _valu(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        sew, n = ins.vector_type.sew, self.vl
        op1 = self._op1(d, ins, sew, n)
        op2 = None
        if "vs2" in d.operands:
            op2 = self.read(ins.operand("vs2"), d.eew(ins, "vs2"), d.type_of("vs2"), n)
        vd = ins.operand("vd")
        old = self.read(vd, d.eew(ins, "vd"), d.type_of("vd"), n)
        fn = d.fn if d.fn is not None else _by_sew(d, sew)
        with np.errstate(all="ignore"):
            res = fn(old, op1, op2)
        self.write(vd, res, d.eew(ins, "vd"), d.type_of("vd"), self._active(ins))

    def _vcmp(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        sew, n = ins.vector_type.sew, self.vl
        op1 = self._op1(d, ins, sew, n)
        op2 = self.read(ins.operand("vs2"), sew, d.type_of("vs2"), n)
        with np.errstate(all="ignore"):
            bits = np.asarray(d.semantics(None, op1, op2), dtype=np.bool_)
        self.write_mask(ins.operand("vd"), bits, self._active(ins))

    def _vmerge(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        sew, n = ins.vector_type.sew, self.vl
        typ = d.type_of("vs2")
        op1 = self._op1(d, ins, sew, n)
        op2 = self.read(ins.operand("vs2"), sew, typ, n)
        sel = self.read_mask(Reg("v", 0), n)
        self.write(ins.operand("vd"), np.where(sel, op1, op2), sew, typ, np.ones(n, bool))

    def _vred(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        sew, n = ins.vector_type.sew, self.vl
        if n == 0:
            return
        op = d.attrs["op"]
        if op == "minu":  # integer (unsigned) minimum
            ivals = self.read(ins.operand("vs2"), sew, "u", n)[self._active(ins)]
            iacc = self.read(ins.operand("vs1"), sew, "u", 1)[0]
            r_int = min(int(iacc), int(ivals.min())) if ivals.size else int(iacc)
            self.write(ins.operand("vd"), np.array([r_int]), sew, "u", np.ones(1, bool))
            return
        if op == "sum":  # signed integer sum at SEW
            svals = self.read(ins.operand("vs2"), sew, "i", n)[self._active(ins)]
            sacc = self.read(ins.operand("vs1"), sew, "i", 1)[0]
            self.write(ins.operand("vd"), np.array([int(sacc) + int(svals.sum())]), sew, "i",
                       np.ones(1, bool))
            return
        if op == "wsum":  # widening signed integer sum: vd, vs1 at 2*SEW
            wvals = self.read(ins.operand("vs2"), sew, "i", n)[self._active(ins)]
            wacc = self.read(ins.operand("vs1"), 2 * sew, "i", 1)[0]
            self.write(ins.operand("vd"), np.array([int(wacc) + int(wvals.sum())]), 2 * sew,
                       "i", np.ones(1, bool))
            return
        vals = self.read(ins.operand("vs2"), sew, "f", n)[self._active(ins)]
        acc = self.read(ins.operand("vs1"), sew, "f", 1)[0]
        if op == "usum":
            r = acc + _tree_sum(vals)
        elif op == "osum":
            r = acc
            for v in vals:  # ordered: rounds at every step
                r = float(round_to(np.array([r + v]), sew)[0])
        elif op == "max":
            r = np.fmax(acc, np.max(vals)) if vals.size else acc
        else:
            r = np.fmin(acc, np.min(vals)) if vals.size else acc
        self.write(ins.operand("vd"), np.array([r]), sew, "f", np.ones(1, bool))

    def _vload(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        mem = ins.memory
        self._eew_is_sew(ins, mem)
        buf = self._buf(mem)
        idx = self.offsets(ins, mem, env, self.vl)
        act = self._active(ins)
        self._check_range(mem, idx[act], buf)
        raw = np.zeros(self.vl, dtype=_UINT[mem.eew])
        raw[act] = buf.view(_UINT[mem.eew])[idx[act]]
        self._write_raw(ins.operand("vd"), raw, mem.eew, act)

    def _vstore(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        mem = ins.memory
        self._eew_is_sew(ins, mem)
        buf = self._buf(mem)
        idx = self.offsets(ins, mem, env, self.vl)
        act = self._active(ins)
        self._check_range(mem, idx[act], buf)
        raw = self._read_raw(ins.operand("vs3"), mem.eew, self.vl)
        buf.view(_UINT[mem.eew])[idx[act]] = raw[act]

    def _eew_is_sew(self, ins: Instr, mem: Mem) -> None:
        if mem.eew != ins.vector_type.sew:
            raise IsaError(f"{ins.asm()}: element width {mem.eew} differs from SEW "
                           f"{ins.vector_type.sew} (only EEW = SEW accesses are modelled)")

    def _read_raw(self, reg: Reg, eew: int, n: int) -> np.ndarray:
        base = reg.n * self.vlenb * 8 // eew
        return self._view(eew)[base:base + n].copy()

    def _write_raw(self, reg: Reg, raw: np.ndarray, eew: int, act: np.ndarray) -> None:
        base = reg.n * self.vlenb * 8 // eew
        idx = np.nonzero(act)[0]
        self._view(eew)[base + idx] = raw[idx]

    def _vslide(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        sew, n = ins.vector_type.sew, self.vl
        a = ins.args[2]
        off = self.x[a.n] if isinstance(a, Reg) else int(a)
        vlmax = ins.vector_type.vlmax(self.vlen)
        src = self._read_raw(ins.operand("vs2"), sew, vlmax)
        out = np.zeros(n, dtype=src.dtype)
        i = np.arange(n)
        act = self._active(ins)
        if d.attrs["dir"] == "down":
            ok = i + off < vlmax
            out[ok] = src[(i + off)[ok]]
        else:
            act = act & (i >= off)
            out[i >= off] = src[(i - off)[i >= off]]
        self._write_raw(ins.operand("vd"), out, sew, act)

    def _vgather(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        sew, n = ins.vector_type.sew, self.vl
        vlmax = ins.vector_type.vlmax(self.vlen)
        src = self._read_raw(ins.operand("vs2"), sew, vlmax)
        if "vs1" in d.operands:
            idx = self.read(ins.operand("vs1"), sew, "u", n)
        else:
            idx = np.full(n, self.x[ins.operand("rs1").n])
        out = np.zeros(n, dtype=src.dtype)
        ok = (idx >= 0) & (idx < vlmax)
        out[ok] = src[idx[ok]]
        self._write_raw(ins.operand("vd"), out, sew, self._active(ins))

    def _vid(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        sew = ins.vector_type.sew
        self.write(ins.operand("vd"), np.arange(self.vl), sew, "u", self._active(ins))

    def _vtos(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        sew = ins.vector_type.sew
        src = ins.operand("vs2")
        if ins.op == "vfirst.m":
            bits = self.read_mask(src, self.vl) & self._active(ins)
            nz = np.nonzero(bits)[0]
            self._setx(ins.operand("rd"), int(nz[0]) if nz.size else -1)
        elif ins.op == "vfmv.f.s":
            self.f[ins.operand("fd").n] = float(self.read(src, sew, "f", 1)[0])
        else:
            self._setx(ins.operand("rd"), int(self.read(src, sew, "i", 1)[0]))

    def _stov(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        if self.vl == 0:
            return
        sew = ins.vector_type.sew
        if ins.op == "vfmv.s.f":
            self.write(ins.operand("vd"), np.array([self.f[ins.operand("fs1").n]]), sew, "f",
                       np.ones(1, bool))
        else:
            self.write(ins.operand("vd"), np.array([self.x[ins.operand("rs1").n]]), sew, "i",
                       np.ones(1, bool))

    # -- Xattn
    def _segred(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        sew, n = ins.vector_type.sew, self.vl
        g = int(ins.operand("imm"))
        if g < 1 or g & (g - 1):
            raise IsaError(f"{ins.asm()}: segment size G={g} must be a power of two")
        if n % g:
            raise IsaError(f"{ins.asm()}: VL={n} is not a multiple of the segment size G={g}")
        if ins.masked:
            raise IsaError(f"{ins.asm()}: segmented reductions are unmasked")
        vals = self.read(ins.operand("vs2"), sew, "f", n).reshape(n // g, g)
        res = vals.max(axis=1) if d.attrs["op"] == "max" else _tree_sum(vals, axis=1)
        self.write(ins.operand("vd"), res, sew, "f", np.ones(n // g, bool))

    def _mmacc(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        vt = ins.vector_type
        if vt.sew != 16:
            raise IsaError(f"{ins.asm()}: vfwmmacc needs SEW=16 (BF16 inputs), got {vt.sew}")
        if self.vl != vt.vlmax(self.vlen):
            raise IsaError(f"{ins.asm()}: vfwmmacc needs VL = VLMAX (full tiles), got {self.vl}")
        g = tile_geometry(self.vlen, vt.lmul)
        a = self.read(ins.operand("vs1"), 16, "f", g.m * g.k).reshape(g.m, g.k)
        bt = self.read(ins.operand("vs2"), 16, "f", g.n * g.k).reshape(g.n, g.k)
        c = self.read(ins.operand("vd"), 32, "f", g.m * g.n).reshape(g.m, g.n)
        c = c + a @ bt.T
        self.write(ins.operand("vd"), c.ravel(), 32, "f", np.ones(g.m * g.n, bool))

    def _imma(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        """An integer tile multiply-accumulate in vector registers (SpacemiT IME): the
        tile geometry is the definition's ``attrs["geometry"](VLEN)``, A's rows start
        ``attrs["slide"]`` rows into vs1 (a two-register group when sliding), and the
        definition's semantics give C from (C, A, B^T)."""
        vt = ins.vector_type
        if vt.sew != 8 or vt.lmul != 1:
            raise IsaError(f"{ins.asm()}: {d.mnemonic} needs SEW=8, LMUL=1 (whole int8 "
                           f"tiles), got SEW={vt.sew}, LMUL={vt.lmul}")
        g = d.attrs["geometry"](self.vlen)
        s = int(d.attrs.get("slide", 0))
        a = self.read(ins.operand("vs1"), 8, d.type_of("vs1"), (g.m + s) * g.k)
        a = a[s * g.k:].reshape(g.m, g.k)
        bt = self.read(ins.operand("vs2"), 8, d.type_of("vs2"), g.n * g.k).reshape(g.n, g.k)
        c = self.read(ins.operand("vd"), 32, "i", g.m * g.n).reshape(g.m, g.n)
        self.write(ins.operand("vd"), np.asarray(d.semantics(c, a, bt)).ravel(), 32, "i",
                   np.ones(g.m * g.n, bool))

    def _tile(self, ins: Instr, env: dict[str, int]) -> tuple[np.ndarray, np.ndarray, Mem]:
        rows, cols = (int(v) for v in ins.operand("imm"))
        if rows * cols > ins.vector_type.vlmax(self.vlen):
            raise IsaError(f"{ins.asm()}: tile {rows}x{cols} exceeds VLMAX")
        mem = ins.memory
        self._eew_is_sew(ins, mem)
        buf = self._buf(mem)
        base = self.start(mem, env)
        idx = (base + np.arange(rows)[:, None] * mem.stride + np.arange(cols)[None, :]).ravel()
        self._check_range(mem, idx, buf)
        return idx, buf, mem

    def _tload(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        idx, buf, mem = self._tile(ins, env)
        raw = buf.view(_UINT[mem.eew])[idx]
        self._write_raw(ins.operand("vd"), raw, mem.eew, np.ones(raw.size, bool))

    def _tstore(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        idx, buf, mem = self._tile(ins, env)
        buf.view(_UINT[mem.eew])[idx] = self._read_raw(ins.operand("vs3"), mem.eew, idx.size)

    # -- scalar
    def _salu(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        vals = []
        for _role, a in zip(d.operands[1:], ins.args[1:], strict=True):
            if isinstance(a, Reg):
                vals.append(self.x[a.n] if a.file == "x" else self.f[a.n])
            else:
                vals.append(a)
        with np.errstate(all="ignore"):
            r = d.semantics(*vals)
        dst = ins.args[0]
        if dst.file == "f":
            self.f[dst.n] = float(np.float32(r))
        else:
            self._setx(dst, int(r))

    def _sload(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        mem = ins.memory
        buf = self._buf(mem)
        i = np.array([self.start(mem, env)])
        self._check_range(mem, i, buf)
        dst = ins.args[0]
        if ins.op in ("lw", "lb"):  # lb: the buffer's signed bytes
            self._setx(dst, int(buf[i[0]]))
        elif ins.op == "flh":
            self.f[dst.n] = float(bf16_bits_to_f32(buf.view(np.uint16)[i])[0])
        else:
            self.f[dst.n] = float(buf.view(np.float32)[i[0]])

    def _sstore(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        mem = ins.memory
        buf = self._buf(mem)
        i = np.array([self.start(mem, env)])
        self._check_range(mem, i, buf)
        src = ins.args[0]
        if ins.op == "sw" and buf.dtype.itemsize == 4:  # sw stores rs2's low 32 bits
            buf.view(np.uint32)[i[0]] = self.x[src.n] & 0xFFFFFFFF
        elif ins.op == "sw":
            buf[i[0]] = self.x[src.n]
        elif ins.op == "fsh":
            buf.view(np.uint16)[i] = f32_to_bf16_bits(np.array([self.f[src.n]], np.float32))
        else:
            buf.view(np.float32)[i[0]] = np.float32(self.f[src.n])

    def _branch(self, d: InstrDef, ins: Instr, env: dict[str, int]) -> None:
        return  # control flow is the loop nest; the branch is counted and timed


def _by_sew(d: InstrDef, sew: int):
    """Semantics that depend on SEW (the approximate exp's precision): the definition's
    ``attrs["semantics_by_sew"](sew)``."""
    by_sew = d.attrs.get("semantics_by_sew")
    if by_sew is None:
        raise IsaError(f"{d.mnemonic}: no numpy semantics defined")
    return by_sew(sew)


def _tree_sum(vals: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sum in float64 (an adder tree's result, rounded once by the caller's write)."""
    return np.asarray(np.sum(vals, axis=axis, dtype=np.float64))


def execute(program: Program, inputs: Mapping[str, np.ndarray], vlen: int | None = None,
            check: bool = True) -> ExecResult:
    """Run ``program`` on ``inputs`` (buffer name -> array of values). Returns every buffer
    decoded, and the dynamic instruction counts observed while running."""
    vlen = int(vlen or program.vlen)
    if check:
        for ins, _ in program.walk():
            check_instr(ins, vlen, program.isa)
    memory: dict[str, np.ndarray] = {}
    dtypes = {}
    for name, b in program.buffers.items():
        dtypes[name] = b.dtype
        if b.role == "const":
            memory[name] = encode_buffer(b.dtype, program.consts[name])
        elif b.role in ("in", "inout"):
            if name not in inputs:
                raise IsaError(f"program {program.name!r} needs input buffer {name!r}")
            arr = np.asarray(inputs[name])
            if arr.size != b.size:
                raise IsaError(f"input {name!r} has {arr.size} elements, buffer holds {b.size}")
            memory[name] = encode_buffer(b.dtype, arr)
        else:
            fill = np.nan if b.dtype.startswith(("fp", "bf")) else 0
            memory[name] = encode_buffer(b.dtype, np.full(b.size, fill))
    m = Machine(vlen, memory, dtypes)
    m.run(program.body, {})
    by_unit: Counter[str] = Counter()
    for op, k in m.count.items():
        by_unit[lookup(op).unit] += k
    counts = Counts(sum(m.count.values()), dict(by_unit), dict(m.count))
    out = {n: decode_buffer(dtypes[n], memory[n]).reshape(program.buffers[n].shape)
           for n in memory}
    return ExecResult(out, counts)
