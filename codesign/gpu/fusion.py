"""Which traced ops an engine runs as one kernel: rules over the trace, not over models.

The trace has one row per semantic op as the HF modeling code runs it (separate q, k and
v projections, gate and up, two RoPE applications, K and V cache writes, the residual add
before each norm). A serving engine launches fewer, fused kernels. Its profile
(``engine.concat`` and ``engine.absorb`` in :class:`codesign.gpu.config.EngineConfig`)
says which, as patterns over a row's ``kind`` and ``name``, so a new model fuses without
edits:

- ``concat``: adjacent rows of one layer body that match the same pattern run as one
  kernel. GEMMs must share their input (same M, K, G and dtypes): one GEMM with the
  outputs concatenated (QKV, gate+up). Other kinds (RoPE of q and k, the K and V cache
  writes) become one streaming kernel over all their bytes.
- ``absorb`` ``X>Y``: a row matching X runs inside the nearest row matching Y of its
  layer body, at most :data:`ABSORB_WINDOW` rows away (the forward one first on a tie; a
  collapsed body repeats, so the distance wraps around it: the residual add at the end
  of a layer feeds the next layer's first norm). It launches nothing; its bytes stream
  inside Y's kernel.

A pattern is ``kind`` or ``kind|kind...`` with an optional ``:glob[,glob...]`` over the
row's ``name`` (``activation|elementwise:exp,softplus``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from codesign.gpu.config import EngineConfig

GEMM_KEYS = ("M", "K", "G", "dtype", "weight_dtype")
# Rows between an absorbed op and its host at most: a fused op sits next to its host in
# the trace, or behind the other ops that fuse into it (q and k RoPE and the K and V
# cache writes before attention are four rows).
ABSORB_WINDOW = 4


def matches(pattern: str, row: dict[str, Any]) -> bool:
    """Whether a trace row matches ``kind`` or ``kind:glob[,glob...]``."""
    kinds, _, names = pattern.partition(":")
    if row["kind"] not in {k.strip() for k in kinds.split("|")}:
        return False
    return not names or any(fnmatchcase(str(row["name"]), g.strip())
                            for g in names.split(","))


@dataclass(frozen=True)
class Plan:
    """How each row of the ops table runs (indices are row positions).

    ``groups``: the leader row of each concatenated kernel -> its member rows (leader
    first); ``absorbed``: row -> the row whose kernel runs it."""

    groups: dict[int, list[int]]
    absorbed: dict[int, int]

    def role(self, i: int) -> str:
        if i in self.absorbed:
            return "absorbed"
        if i in self.groups:
            return "leader"
        return "member" if any(i in m for m in self.groups.values()) else "own"


def _bodies(rows: list[dict[str, Any]]) -> list[list[int]]:
    """Row positions by layer body (a collapsed body's ``layers``; model-level rows
    outside any layer by runs of adjacent rows: the embedding's apart from the final
    norm's), each in trace order."""
    out: dict[str, list[int]] = {}
    run = 0
    for i, r in enumerate(rows):
        key = str(r.get("layers") or "")
        if not key:
            if i > 0 and str(rows[i - 1].get("layers") or ""):
                run += 1
            key = f"outside:{run}"
        out.setdefault(key, []).append(i)
    return list(out.values())


def _joins(engine: EngineConfig, a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether ``b`` joins the concatenated kernel that ``a`` is part of."""
    for p in engine.concat:
        if matches(p, a) and matches(p, b):
            return a["kind"] != "gemm" or all(a[k] == b[k] for k in GEMM_KEYS)
    return False


def _concat(engine: EngineConfig, rows: list[dict[str, Any]], body: list[int],
            skip: set[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    current: list[int] = []
    for i in body:
        if i in skip:
            continue
        if current and _joins(engine, rows[current[-1]], rows[i]):
            current.append(i)
            continue
        if len(current) > 1:
            groups[current[0]] = current
        current = [i]
    if len(current) > 1:
        groups[current[0]] = current
    return groups


def _neighbours(body: list[int], pos: int, wraps: bool) -> list[int]:
    """The rows around ``body[pos]`` by distance (forward first), within the window."""
    n = len(body)
    out = []
    for d in range(1, ABSORB_WINDOW + 1):
        for step in (d, -d):
            p = pos + step
            if wraps:
                p %= n
            if 0 <= p < n and p != pos and body[p] not in out:
                out.append(body[p])
    return out


def _absorb(engine: EngineConfig, rows: list[dict[str, Any]], body: list[int],
            wraps: bool) -> dict[int, int]:
    out: dict[int, int] = {}
    for rule in engine.absorb:
        src, _, dst = rule.partition(">")
        for pos, i in enumerate(body):
            if i in out or not matches(src, rows[i]):
                continue
            host = next((j for j in _neighbours(body, pos, wraps)
                         if j not in out and matches(dst, rows[j])), None)
            if host is not None:
                out[i] = host
    return out


def plan(engine: EngineConfig, rows: list[dict[str, Any]]) -> Plan:
    """The engine's kernels over ``rows`` (trace rows in order)."""
    groups: dict[int, list[int]] = {}
    absorbed: dict[int, int] = {}
    for body in _bodies(rows):
        wraps = bool(rows[body[0]].get("layers"))
        absorbed.update(_absorb(engine, rows, body, wraps))
        groups.update(_concat(engine, rows, body, set(absorbed)))
    return Plan(groups, absorbed)


def merged(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One row standing for a concatenated kernel: GEMMs concatenate their outputs (N
    adds up), streaming kernels cover every member's elements (M adds up); FLOPs and
    bytes add up."""
    first = dict(rows[0])
    for key in ("flops", "bytes_read", "bytes_written"):
        first[key] = sum(int(r[key]) for r in rows)
    grow = "N" if first["kind"] == "gemm" else "M"
    first[grow] = sum(int(r[grow]) for r in rows)
    first["name"] = "+".join(str(r["name"]) for r in rows)
    return first
