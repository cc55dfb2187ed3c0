"""codesign: how much faster do Qwen models run with attention instructions on RISC-V?

>>> import codesign as cd
>>> tr = cd.trace("qwen3.5-9b", phase="decode", batch=1, context=4096)
>>> cd.compare(tr, ["c950-like", "c950-like+xattn", "h100-sxm"])
"""

from codesign.api import compare, simulate, trace
from codesign.errors import CodesignError
from codesign.result import Result
from codesign.sweep import sweep
from workloads.schema import Trace

__all__ = ["CodesignError", "Result", "Trace", "compare", "simulate", "sweep", "trace"]
