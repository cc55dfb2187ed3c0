"""Published benchmark scores of the registered models (``workloads/quality.toml``).

The scores are the numerator of "intelligence density" (issue #13): what a model knows,
against what it costs to run (tokens/s, joules per token, memory). Every entry names its
source; a model with no published score has none (:func:`best` returns None for it).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from workloads.errors import WorkloadError

KEYS = ("model", "benchmark", "score", "setting", "source")


@dataclass(frozen=True)
class Score:
    model: str
    benchmark: str
    score: float  # percent
    setting: str  # the published condition (e.g. "high reasoning effort, no tools")
    source: str


@cache
def scores() -> tuple[Score, ...]:
    """Every published score in ``quality.toml``, validated."""
    text = (resources.files("workloads") / "quality.toml").read_text()
    out = []
    for i, raw in enumerate(tomllib.loads(text).get("score", [])):
        missing = [k for k in KEYS if k not in raw]
        if missing or set(raw) - set(KEYS):
            raise WorkloadError(f"quality.toml score {i + 1}: expected the keys "
                                f"{', '.join(KEYS)}, got {', '.join(sorted(raw))}")
        if not isinstance(raw["score"], (int, float)) or not 0 <= raw["score"] <= 100:
            raise WorkloadError(f"quality.toml score {i + 1}: score must be a percentage, "
                                f"got {raw['score']!r}")
        out.append(Score(str(raw["model"]), str(raw["benchmark"]), float(raw["score"]),
                         str(raw["setting"]), str(raw["source"])))
    return tuple(out)


def benchmarks() -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.benchmark for s in scores()))


def best(model: str, benchmark: str) -> Score | None:
    """``model``'s highest published score on ``benchmark`` (its best setting), or None."""
    if benchmark not in benchmarks():
        raise WorkloadError(f"unknown benchmark {benchmark!r}; valid: {', '.join(benchmarks())}")
    found = [s for s in scores() if s.model == model and s.benchmark == benchmark]
    return max(found, key=lambda s: s.score) if found else None
