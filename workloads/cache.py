"""Traces cached on disk, so a warm ``codesign run`` never imports torch.

Key: everything a trace depends on. The model's config (its parsed fields, whatever file
or name it came from), the scenario (phase, batch, seq, context) and every extraction
option (routing, weight dtype ...), a hash of this package's source (extraction code,
schema, cost formulas), and the installed torch and transformers versions (read from the
package metadata: no import). A change to any of them is a miss, never a stale trace.

Layout: ``$CODESIGN_CACHE_DIR/traces/<key>.parquet`` (default ``~/.cache/codesign``, never
inside the package). Entries are written to a temporary file in the same directory and
moved into place with ``os.replace`` (atomic on POSIX): concurrent processes see a whole
trace or none. An unreadable entry is a miss and is overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from workloads.errors import WorkloadError
from workloads.schema import Trace

ENV_VAR = "CODESIGN_CACHE_DIR"
_PACKAGE = Path(__file__).resolve().parent


def cache_root() -> Path:
    """The cache directory of every codesign cache (``$CODESIGN_CACHE_DIR``)."""
    root = os.environ.get(ENV_VAR) or str(Path.home() / ".cache" / "codesign")
    return Path(root).expanduser()


def trace_dir() -> Path:
    return cache_root() / "traces"


@cache
def code_version() -> str:
    """A hash of this package's Python source and of the torch/transformers versions."""
    h = hashlib.sha256()
    for p in sorted(_PACKAGE.rglob("*.py")):
        h.update(str(p.relative_to(_PACKAGE)).encode())
        h.update(p.read_bytes())
    for dist in ("torch", "transformers"):
        try:
            h.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{dist}=absent".encode())
    return h.hexdigest()[:16]


def key(model: str, phase: str, batch: int, seq: int | None, context: int | None,
        options: dict[str, Any]) -> str:
    """The cache key of one trace request (see the module docstring)."""
    from workloads.registry import load_config

    cfg = load_config(model)
    blob = json.dumps({"model": str(model), "config": cfg.fields, "phase": phase,
                       "batch": batch, "seq": seq, "context": context, "options": options,
                       "code": code_version()}, sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def get(k: str) -> Trace | None:
    path = trace_dir() / f"{k}.parquet"
    if not path.is_file():
        return None
    try:
        return Trace.load(path)
    except WorkloadError:
        return None  # damaged or foreign: a miss, overwritten by the next put


def put(k: str, trace: Trace) -> None:
    """Store ``trace`` under ``k``; a cache that cannot be written is skipped silently
    (the trace was computed and is returned either way)."""
    d = trace_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{k}.", suffix=".parquet")
        os.close(fd)
    except OSError:
        return
    try:
        trace.save(tmp)
        os.replace(tmp, d / f"{k}.parquet")
    except OSError:
        pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass(frozen=True)
class CacheInfo:
    directory: Path
    entries: int
    bytes: int


def info() -> CacheInfo:
    files = list(trace_dir().glob("*.parquet")) if trace_dir().is_dir() else []
    return CacheInfo(trace_dir(), len(files), sum(f.stat().st_size for f in files))


def clear() -> int:
    """Delete every cached trace; returns how many."""
    n = 0
    if trace_dir().is_dir():
        for f in trace_dir().glob("*.parquet"):
            f.unlink(missing_ok=True)
            n += 1
    return n
