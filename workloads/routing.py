"""MoE routing policies: how many tokens each expert receives.

Shape-only tracing cannot see routing (top-k indices of fake tensors have no values),
so the expert load of a traced MoE layer comes from a named policy:

- ``balanced``: the T·k token-expert assignments spread as evenly as possible (every
  expert gets floor or ceil of T·k/E). The default, and the best case for a grouped GEMM.
- ``zipf:S`` or ``zipf:S:SEED``: expert popularity follows a Zipf law of exponent S
  over a seeded random ranking of the experts (a fresh ranking per layer); each token
  picks k distinct experts by popularity (sampling without replacement). S = 0 is
  uniform random routing; S ≈ 1 is the skew reported for trained MoE routers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workloads.errors import WorkloadError

POLICY_NAMES = ("balanced", "zipf:S[:SEED]")


@dataclass(frozen=True)
class Balanced:
    name: str = "balanced"

    def counts(self, tokens: int, experts: int, k: int, layer: int) -> np.ndarray:
        total = tokens * k
        base, extra = divmod(total, experts)
        out = np.full(experts, base, dtype=np.int64)
        out[:extra] += 1
        return out


@dataclass(frozen=True)
class Zipf:
    s: float
    seed: int = 0

    @property
    def name(self) -> str:
        # repr keeps the exponent as given (1.0, not 1), so zipf:1.0 echoes as zipf:1.0:0
        # rather than the misleading zipf:1:0
        return f"zipf:{self.s!r}:{self.seed}"

    def counts(self, tokens: int, experts: int, k: int, layer: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, layer])
        ranks = rng.permutation(experts) + 1
        logp = -self.s * np.log(ranks.astype(np.float64))
        # k distinct experts per token by the Gumbel-top-k trick: sampling without
        # replacement proportionally to exp(logp).
        gumbel = rng.gumbel(size=(tokens, experts))
        chosen = np.argpartition(-(logp + gumbel), k - 1, axis=1)[:, :k]
        return np.bincount(chosen.ravel(), minlength=experts).astype(np.int64)


RoutingPolicy = Balanced | Zipf


def parse_routing(spec: str) -> RoutingPolicy:
    """``balanced`` or ``zipf:S[:SEED]``."""
    text = str(spec).strip()
    if text == "balanced":
        return Balanced()
    if text.startswith("zipf:"):
        parts = text.split(":")[1:]
        try:
            s = float(parts[0])
            seed = int(parts[1]) if len(parts) > 1 else 0
        except (ValueError, IndexError):
            raise WorkloadError(
                f"bad routing policy {spec!r}: zipf takes an exponent and an optional "
                "integer seed, e.g. zipf:1.0 or zipf:1.2:7"
            ) from None
        if len(parts) > 2 or not math.isfinite(s) or s < 0:
            raise WorkloadError(
                f"bad routing policy {spec!r}; valid: {', '.join(POLICY_NAMES)} with S a "
                "finite number >= 0"
            )
        return Zipf(s, seed)
    raise WorkloadError(f"unknown routing policy {spec!r}; valid: {', '.join(POLICY_NAMES)}")


def group_counts(counts: np.ndarray) -> list[tuple[int, int]]:
    """(tokens, experts) pairs: how many experts received each non-zero token count,
    largest token count first. These become the G groups of a grouped GEMM."""
    values, multiplicity = np.unique(counts[counts > 0], return_counts=True)
    return [(int(v), int(m)) for v, m in sorted(zip(values, multiplicity, strict=True),
                                                   reverse=True)]
