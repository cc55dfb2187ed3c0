"""Memoized kernel timings: in memory, and on disk for other processes and later runs.

Key: (program signature, config fingerprint, cores sharing L2/DRAM, model version). The
model version hashes the source of this package and of ``isa`` (instruction timing and
kernels), so a change to either invalidates old entries instead of returning stale
numbers.

Disk layout: ``$CODESIGN_CACHE_DIR/riscv/<key[:2]>/<key>.json`` (default
``~/.cache/codesign``; never inside the package). Each entry is written to a temporary
file in the same directory and moved into place with ``os.replace``, which is atomic on
POSIX: concurrent processes either see a whole entry or none, and two writers of the
same key write the same content.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

ENV_VAR = "CODESIGN_CACHE_DIR"

_MEMORY: dict[str, dict[str, Any]] = {}


def cache_dir() -> Path:
    root = os.environ.get(ENV_VAR) or str(Path.home() / ".cache" / "codesign")
    return Path(root).expanduser() / "riscv"


@cache
def model_version() -> str:
    """Hash of the timing model's and the ISA/kernel library's source files."""
    import codesign.riscv as me
    import isa
    h = hashlib.sha256()
    for pkg in (me, isa):
        root = Path(str(pkg.__file__)).resolve().parent
        for p in sorted(root.rglob("*.py")):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def key(signature: str, fingerprint: str, cores: int, mode: str) -> str:
    blob = f"{signature}|{fingerprint}|{cores}|{mode}|{model_version()}"
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def is_entry(data: Any) -> bool:
    """Whether ``data`` is a timing entry: a JSON object with a finite, positive cycle
    count. Anything else on disk (``{}``, ``[1, 2]``, a truncated write from a tool that
    did not write atomically) is a miss, which the next ``put`` overwrites."""
    if not isinstance(data, dict):
        return False
    cycles = data.get("cycles")
    return isinstance(cycles, (int, float)) and not isinstance(cycles, bool) \
        and math.isfinite(cycles) and cycles > 0


def get(k: str) -> dict[str, Any] | None:
    hit = _MEMORY.get(k)
    if hit is not None:
        return hit
    path = cache_dir() / k[:2] / f"{k}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not is_entry(data):
        return None
    _MEMORY[k] = data
    return data


def put(k: str, value: dict[str, Any]) -> None:
    _MEMORY[k] = value
    d = cache_dir() / k[:2]
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{k}.", suffix=".tmp", dir=d)
    except OSError:
        return  # a read-only cache directory only costs speed
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(value, f)
        os.replace(tmp, d / f"{k}.json")
    except OSError:
        Path(tmp).unlink(missing_ok=True)


def clear_memory() -> None:
    """Forget in-memory entries (the disk cache stays)."""
    _MEMORY.clear()
