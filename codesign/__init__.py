"""codesign: how much faster do Qwen models run with attention instructions on RISC-V?

>>> import codesign as cd
>>> tr = cd.trace("qwen3.5-9b", phase="decode", batch=1, context=4096)
>>> cd.compare(tr, ["c950-like", "c950-like+xattn", "h100-sxm"])
>>> cd.generate("qwen3.5-9b", "h100-sxm", prompt=2048, output=512)  # TTFT, TPOT, tok/s
>>> cd.explore("experiments/explore_edge.toml", out="runs/edge").pareto  # design search
"""

from codesign.api import compare, generate, simulate, trace
from codesign.errors import CodesignError
from codesign.result import Result
from codesign.sweep import sweep
from codesign.sweep.explore import explore
from workloads.schema import Trace

__all__ = ["CodesignError", "Result", "Trace", "compare", "explore", "generate", "simulate",
           "sweep", "trace"]
