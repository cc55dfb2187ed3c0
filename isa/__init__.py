"""RVV 1.0, the Xattn attention extension and SpacemiT IME as data, the kernel library and a
functional executor.

Imports numpy only (torch is used lazily by ``isa.kernels.reference`` for checks).
"""

from isa import ime, rvv, xattn  # noqa: F401  (register the built-in extensions)
from isa.core import Core
from isa.errors import IsaError
from isa.executor import ExecResult, execute
from isa.instructions import (
    EXTENSIONS,
    UNITS,
    Extension,
    InstrDef,
    Isa,
    Unit,
    define,
    lookup,
    parse_isa,
    register_extension,
    register_unit,
    tile_geometry,
)
from isa.program import Affine, Builder, Counts, F, Instr, InstrTiming, Loop, Mem, Program, V, X
from isa.timing import TimingParams

__all__ = [
    "EXTENSIONS", "UNITS", "Affine", "Builder", "Core", "Counts", "ExecResult", "Extension",
    "F", "Instr", "InstrDef", "InstrTiming", "Isa", "IsaError", "Loop", "Mem", "Program",
    "TimingParams", "Unit", "V", "X", "define", "execute", "lookup", "parse_isa",
    "register_extension", "register_unit", "tile_geometry",
]
