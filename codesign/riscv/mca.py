"""Cross-check of instruction timing against LLVM's own scheduling models (llvm-mca 22).

A vendor's LLVM scheduling model is the public statement of how its core times each
instruction: SiFive's ``RISCVSchedSiFive7.td`` (X280) and SpacemiT's
``RISCVSchedSpacemitX60.td`` (X60/K1). ``llvm-mca-22`` reports, per instruction form, its
latency (when a dependent may start) and reciprocal throughput (for these in-order vector
units: the cycles the form holds its sequencer), which are this model's ``latency`` and
``occupancy`` (:meth:`isa.program.Instr.timing`).

- :func:`instruction_forms` lists every RVV vector form at SEW 16/32 and LMUL 1-8 (the
  forms the kernel library can emit);
- :func:`compare` times each form with a preset's :class:`isa.timing.TimingParams` and
  with llvm-mca, one row per form;
- :func:`loop_cycles` runs a loop body (a :class:`isa.program.Loop`) through llvm-mca for
  its cycles per iteration. At loop level llvm-mca is a pessimistic in-order reference
  (in-order write-back, an extra cycle per vector instruction, ``vsetvli`` 3 cycles):
  report the ratio, do not expect equality.

``llvm-mca-22`` is Debian's ``llvm-22`` package (``.ci/run`` installs it). Xattn
instructions are not in LLVM and are not checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from codesign.errors import CodesignError
from isa.instructions import InstrDef, all_instructions
from isa.program import Affine, Instr, Loop, Mem, Reg, VType
from isa.timing import TimingParams

MCA = "llvm-mca-22"
# The LLVM CPU whose scheduling model each preset's instruction timing follows.
CPU = {"x280-like": "sifive-x280", "c950-like": "sifive-x280",
       "spacemit-x60-like": "spacemit-x60"}
MATTR = "+v,+zfh,+zvfh,+zfbfmin,+zvfbfmin,+zvfbfwma"
SEWS = (16, 32)
LMULS = (1, 2, 4, 8)
# Fixed operand registers of a single-form probe: aligned for any LMUL up to 8, a widening
# destination (EMUL 2*LMUL <= 8 at v8) does not overlap its sources (v16, v24).
_PROBE = {"vd": "v8", "vs3": "v8", "vs2": "v16", "vs1": "v24", "fs1": "fa1", "fd": "fa0",
          "rs1": "a1", "rd": "a0", "imm": "3"}


@dataclass(frozen=True)
class Form:
    """One instruction form: a mnemonic at one SEW and LMUL (VL = VLMAX)."""

    mnemonic: str
    sew: int
    lmul: int

    def __str__(self) -> str:
        return f"{self.mnemonic} e{self.sew} m{self.lmul}"


@dataclass(frozen=True)
class FormTiming:
    form: Form
    latency: int
    occupancy: int
    mca_latency: int
    mca_occupancy: float

    @property
    def exact(self) -> bool:
        return self.latency == self.mca_latency and self.occupancy == self.mca_occupancy


def available() -> bool:
    return shutil.which(MCA) is not None


def _mem_pattern(d: InstrDef) -> str:
    if re.match(r"vs?[ls]se\d+\.v$", d.mnemonic):
        return "strided"
    return "indexed" if "xei" in d.mnemonic else "unit"


def _data_eew(d: InstrDef) -> int | None:
    """The EEW a memory instruction names (``vle16.v`` -> 16); None for others."""
    m = re.match(r"v[ls]s?e(\d+)\.v$", d.mnemonic)
    return int(m.group(1)) if m else None


def _sews(d: InstrDef) -> tuple[int, ...]:
    """The SEWs a form is checked at: memory forms at their own EEW; widening/narrowing
    FP forms at 16 (BF16/FP16 -> FP32), the int -> FP widening convert also at 8 (packed
    int8/int4 weights); sign/zero extension from SEW/2 at 16 and 32; other integer forms
    at 8 too (the unpacking of packed weights runs at e8)."""
    eew = _data_eew(d)
    if eew is not None:
        return (eew,) if eew in (8, *SEWS) else ()
    if "xei" in d.mnemonic:
        return (int(re.findall(r"\d+", d.mnemonic)[0]),)
    if d.width_of("vd") == 2 or d.width_of("vs2") == 2:
        return (8, 16) if d.type_of("vs2") == "i" else (16,)
    if d.width_of("vs2") == 0.5:
        return SEWS
    if all(d.type_of(r) in ("i", "u") for r in d.operands if r.startswith("v")):
        return (8, *SEWS)
    return SEWS


def instruction_forms(mnemonics: Iterable[str] | None = None) -> list[Form]:
    """Every RVV vector form at SEW 16/32 (and 8 where :func:`_sews` says) and LMUL 1-8
    that RVV 1.0 allows: widening/narrowing forms at LMUL <= 4."""
    defs = all_instructions()
    names = sorted(mnemonics) if mnemonics is not None else sorted(defs)
    out = []
    for name in names:
        d = defs[name]
        if d.extension != "rvv" or not d.vector or d.exec_kind == "vset":
            continue
        wide = d.width_of("vd") == 2 or d.width_of("vs2") == 2
        for sew in _sews(d):
            for lmul in LMULS:
                if wide and lmul == 8:
                    continue
                out.append(Form(name, sew, lmul))
    return out


def _probe_asm(d: InstrDef) -> str:
    ops = []
    for role in d.operands:
        if role == "mem":
            ops.append({"unit": "(a1)", "strided": "(a1), a2",
                        "indexed": "(a1), v24"}[_mem_pattern(d)])
        else:
            ops.append(_PROBE[role])
    if d.exec_kind == "vmerge":
        ops.append("v0")
    return f"{d.mnemonic} {', '.join(ops)}"


def _probe_instr(d: InstrDef, form: Form, vlen: int) -> Instr:
    args: list[object] = []
    for role in d.operands:
        if role == "mem":
            pat = _mem_pattern(d)
            args.append(Mem("probe", Affine(0), form.sew, pat, 2,
                            Reg("v", 24) if pat == "indexed" else None))
        elif role.startswith("v"):
            args.append(Reg("v", int(_PROBE[role][1:])))
        elif role in ("fs1", "fd"):
            args.append(Reg("f", 1))
        elif role in ("rs1", "rd"):
            args.append(Reg("x", 11))
        else:
            args.append(3)
    vt = VType(form.sew, form.lmul)
    return Instr(form.mnemonic, tuple(args), vt.vlmax(vlen), vt)


def _instrument(sew: int, lmul: int) -> list[str]:
    return [f"# LLVM-MCA-RISCV-LMUL M{lmul}", f"# LLVM-MCA-RISCV-SEW E{sew}"]


def run_mca(lines: Sequence[str], cpu: str, iterations: int = 1) -> str:
    """llvm-mca's report for the assembly ``lines`` on ``cpu``."""
    if not available():
        raise CodesignError(f"{MCA} not found: install Debian's llvm-22 package")
    cmd = [MCA, "-mtriple=riscv64", f"-mcpu={cpu}", f"-mattr={MATTR}", "-instruction-info",
           f"-iterations={iterations}", "-resource-pressure=false", "-timeline=false"]
    res = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True,
                         check=False)
    if res.returncode:
        raise CodesignError(f"{MCA} -mcpu={cpu} failed: {res.stderr.strip().splitlines()[0]}")
    return res.stdout


def _instruction_info(report: str) -> list[tuple[int, float]]:
    """(latency, reciprocal throughput) per instruction of llvm-mca's Instruction Info."""
    table = report.split("Instruction Info:")[1].split("Instructions:", 1)[1]
    rows = []
    for line in table.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 3 or not cols[0].isdigit():
            break
        rows.append((int(cols[1]), float(cols[2])))
    return rows


def compare(tp: TimingParams, cpu: str, forms: Sequence[Form] | None = None
            ) -> list[FormTiming]:
    """Each form's (latency, occupancy) under ``tp`` next to llvm-mca's on ``cpu``."""
    defs = all_instructions()
    forms = list(forms) if forms is not None else instruction_forms()
    lines: list[str] = []
    for f in forms:
        lines += [*_instrument(f.sew, f.lmul), _probe_asm(defs[f.mnemonic])]
    info = _instruction_info(run_mca(lines, cpu))
    if len(info) != len(forms):
        raise CodesignError(f"{MCA} reported {len(info)} instructions for {len(forms)} forms")
    out = []
    for f, (lat, thr) in zip(forms, info, strict=True):
        t = _probe_instr(defs[f.mnemonic], f, tp.vlen).timing(tp)
        out.append(FormTiming(f, t.latency, t.occupancy, lat, thr))
    return out


# ---- loop level -------------------------------------------------------------------------
def _asm_operand(a: object, role: str, ins: Instr) -> str:
    if isinstance(a, Mem):
        base = "(a1)"
        if a.pattern == "strided":
            return f"{base}, a2"
        if a.pattern == "indexed" and a.index is not None:
            return f"{base}, {a.index}"
        return f"{base}" if ins.defn.vector else f"0{base}"
    if role == "vtype":
        return f"{a}, ta, ma"
    if role == "rs1" and ins.op == "vsetvli":
        return "a0"  # the AVL register (its value does not change the timing)
    if role == "label":
        return "loop"
    return str(a)


def body_asm(body: Sequence[object]) -> list[str]:
    """llvm-mca assembly of one loop body (inner loops inlined once, as a straight line)."""
    lines = ["loop:"]
    for node in body:
        if isinstance(node, Loop):
            lines += body_asm(node.body)[1:]
            continue
        assert isinstance(node, Instr)
        ops = [_asm_operand(a, role, node) for role, a in zip(node.defn.operands, node.args,
                                                               strict=True)]
        if node.defn.exec_kind == "vmerge":
            ops.append("v0")
        if node.masked:
            ops.append("v0.t")
        if node.vtype is not None and node.op != "vsetvli":
            lines += _instrument(node.vtype.sew, node.vtype.lmul)
        lines.append(f"{node.op} {', '.join(ops)}".strip())
    return lines


def loop_cycles(loop: Loop, cpu: str, iterations: int = 200) -> float:
    """llvm-mca's cycles per iteration of ``loop``'s body on ``cpu``."""
    report = run_mca(body_asm(loop.body), cpu, iterations)
    m = re.search(r"Total Cycles:\s+(\d+)", report)
    if m is None:
        raise CodesignError(f"{MCA}: no 'Total Cycles' in its report")
    return int(m.group(1)) / iterations
