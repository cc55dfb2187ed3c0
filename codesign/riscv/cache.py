"""Memoized timings: in memory, and on disk for other processes and later runs.

Two kinds of entries, both dicts of numbers and strings:

- a **program timing** (:func:`codesign.riscv.replay.time_program`), keyed by (program
  signature, timing fingerprint, cores sharing L2/DRAM, mode): a program lowered for
  several targets or configs is simulated once;
- a **row timing** (:class:`codesign.riscv.replay.RowTimings`), keyed by (the op's
  shape, the *full* config fingerprint, mode, :func:`registry_identity`: the registered
  instructions, units, extensions, kernels and op kinds): a warm replay neither lowers
  the op nor renders its program.

Both keys include :func:`model_version`, a hash of the source of this package, of ``isa``
(instruction timing and kernels) and of the modules that split ops and key configs
(``codesign/kinds.py``, ``codesign/config.py``, ``workloads/schema.py``), so a change to
any of them is a new cache *generation* instead of stale numbers.

Disk layout: one SQLite database per generation,
``$CODESIGN_CACHE_DIR/riscv/timings-<model_version>.sqlite`` (default
``~/.cache/codesign``; never inside the package): one table of (key, JSON value). SQLite's
locking makes it safe to share between processes (sweep workers read and write it at
once; write-ahead logging lets readers run beside a writer); two writers of one key write
the same value. A damaged database only costs speed: it is set aside (renamed
``*.damaged-<pid>``) and a new one started; one that cannot be opened at all (a read-only
directory) leaves entries in memory. Older generations are never read; ``codesign cache
info`` lists them and ``codesign cache clear`` deletes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ENV_VAR = "CODESIGN_CACHE_DIR"
# sources whose change changes a timing (beside codesign/riscv and isa, hashed whole)
_SOURCES = ("codesign/kinds.py", "codesign/config.py", "workloads/schema.py")
_BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another process's write to end
_CHECKPOINT_PAGES = 16_384  # write-ahead log pages between checkpoints (64 MiB of 4 KiB)

_MEMORY: dict[str, dict[str, Any]] = {}
# Entries kept in memory at most (then forgotten at once; the database keeps them): a sweep
# worker reads each point's row timings once, ~40 entries of ~2 KB per point, so memory
# stays bounded (~100 MB) however many points it times.
_MEMORY_MAX = 50_000


def cache_dir() -> Path:
    root = os.environ.get(ENV_VAR) or str(Path.home() / ".cache" / "codesign")
    return Path(root).expanduser() / "riscv"


@cache
def model_version() -> str:
    """Hash of the timing model's, the ISA/kernel library's and the op splitting's source."""
    import codesign.riscv as me
    import isa
    h = hashlib.sha256()
    for pkg in (me, isa):
        root = Path(str(pkg.__file__)).resolve().parent
        for p in sorted(root.rglob("*.py")):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    top = Path(str(me.__file__)).resolve().parent.parent.parent
    for rel in _SOURCES:
        h.update(rel.encode())
        h.update((top / rel).read_bytes())
    return h.hexdigest()[:16]


def store_path() -> Path:
    """This generation's database."""
    root, version = os.environ.get(ENV_VAR), model_version()
    hit = _STORE_PATHS.get((root, version)) if root else None
    if hit is None:
        hit = cache_dir() / f"timings-{version}.sqlite"
        if root:
            _STORE_PATHS[root, version] = hit
    return hit


# (CODESIGN_CACHE_DIR, model version) -> store_path (every get and put asks, issue #12)
_STORE_PATHS: dict[tuple[str, str], Path] = {}


def key(signature: str, fingerprint: str, cores: int, mode: str) -> str:
    """The key of a program timing."""
    blob = f"{signature}|{fingerprint}|{cores}|{mode}|{model_version()}"
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def row_key(shape: str, fingerprint: str, mode: str, registry: str) -> str:
    """The key of a row timing: ``shape`` (the op record without name, counts and repeat,
    as text), the full config fingerprint, the mode and :func:`registry_identity`."""
    blob = f"row|{shape}|{fingerprint}|{mode}|{registry}|{model_version()}"
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


# modules whose source model_version hashes: what they define is identified by name
_HASHED_MODULES = ("isa", "codesign.riscv", *(m.removesuffix(".py").replace("/", ".")
                                              for m in _SOURCES))
_REGISTRY_MEMO: dict[str, Any] = {}  # the last registry state seen and its identity


def _fn_identity(fn: Any) -> str:
    """A callable's identity, the same in every process: its qualified name when its
    module's source is in :func:`model_version`, else a hash of its code and closure."""
    from isa.instructions import _callable_identity

    mod = str(getattr(fn, "__module__", "") or "")
    if any(mod == m or mod.startswith(m + ".") for m in _HASHED_MODULES):
        return f"{mod}.{getattr(fn, '__qualname__', repr(fn))}"
    return _callable_identity(fn)


def _stable(value: Any) -> str:
    """``repr`` without memory addresses: callables by :func:`_fn_identity`."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_stable(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_stable(v) for v in value) + ")"
    if callable(value):
        return _fn_identity(value)
    return repr(value)


def registry_identity() -> str:
    """What the registries hold that lowering and timing depend on, the same in every
    process: each instruction (its fields, timing rule or the rule's code), unit,
    extension, kernel and op kind's split. A user module that registers or replaces any
    of them so changes the row memo's keys. Recomputed only when a registry changed."""
    from codesign import kinds
    from isa import kernels
    from isa.instructions import EXTENSIONS, all_instructions, units

    state = (tuple(all_instructions().items()), tuple(units().items()),
             tuple(EXTENSIONS.items()), tuple(kernels.KERNELS.items()),
             tuple((n, kinds.get(n)) for n in kinds.names()))
    if _REGISTRY_MEMO.get("state") == state:
        return str(_REGISTRY_MEMO["identity"])
    parts = [_stable((d.mnemonic, d.operands, d.unit, d.exec_kind, d.types, d.widths,
                      d.reads_vd, d.mask_result, d.extension, d.attrs,
                      d.timing if isinstance(d.timing, str) else _fn_identity(d.timing)))
             for _, d in state[0]]
    parts += [repr(u) for _, u in state[1]]
    parts += [repr((e.name, e.mnemonics, e.subsets)) for _, e in state[2]]
    parts += [f"kernel {kind} {_fn_identity(fn)}" for kind, fn in state[3]]
    parts += [f"kind {name} {_fn_identity(k.split)} {k.matrix}" for name, k in state[4]]
    ident = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    _REGISTRY_MEMO.update(state=state, identity=ident)
    return ident


def is_entry(data: Any) -> bool:
    """Whether ``data`` is a timing entry: a JSON object with a finite, positive cycle
    count, or a row without a kernel (``modelled`` false, with its reason). Anything else
    in the store (``{}``, ``[1, 2]``, a truncated value) is a miss, which the next ``put``
    overwrites."""
    if not isinstance(data, dict):
        return False
    if data.get("modelled") is False:
        return isinstance(data.get("note"), str)
    cycles = data.get("cycles")
    return isinstance(cycles, (int, float)) and not isinstance(cycles, bool) \
        and math.isfinite(cycles) and cycles > 0


# ---- the store: one SQLite database per generation, one connection per process ---------
# (process id, database) -> connection, None where the database cannot be used; a forked
# child opens its own (SQLite connections must not cross a fork)
_CONNECTIONS: dict[tuple[int, Path], sqlite3.Connection | None] = {}
_OPENED: dict[tuple[int, Path], tuple[int, int]] = {}  # the file each one opened (dev, inode)


def _open(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None,
                          check_same_thread=False)
    try:
        con.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
        con.execute("PRAGMA synchronous=NORMAL")  # a cache: a crash may lose recent entries
        # checkpoint the log into the database every _CHECKPOINT_PAGES pages, not every
        # 1,000 (SQLite's default): each checkpoint syncs both files to disk, and a cold
        # 200-point sweep writes ~9 MB of entries (~30 MB of pages: 8+ checkpoints per
        # worker, 0.1-0.3 s of waiting for the disk on the 2-core machine, issue #12)
        con.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
        con.execute("CREATE TABLE IF NOT EXISTS timings "
                    "(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
    except sqlite3.Error:
        con.close()
        raise
    return con


def _set_aside(path: Path) -> None:
    """Move a damaged database (and its write-ahead log, which must not be replayed into
    a new one) out of the way; another process may have done it already."""
    for suffix in ("", "-wal", "-shm"):
        f = path.with_name(path.name + suffix)
        with contextlib.suppress(OSError):
            os.replace(f, f.with_name(f"{f.name}.damaged-{os.getpid()}"))


def _connection(reopen: bool = False) -> sqlite3.Connection | None:
    """This process's connection to the current generation's database (a forked child
    and a changed ``CODESIGN_CACHE_DIR`` open their own; ``reopen``: the file was found
    damaged, start a new one); None when no database can be used (entries then live in
    memory only)."""
    slot = (os.getpid(), store_path())
    if not reopen and slot in _CONNECTIONS:
        return _CONNECTIONS[slot]
    _close(slot)
    opened = _OPENED.pop(slot, None)
    if reopen and opened == _identity(slot[1]):
        _set_aside(slot[1])  # (not a new database another process started meanwhile)
    con: sqlite3.Connection | None = None
    for attempt in range(2):
        try:
            con = _open(slot[1])
            ident = _identity(slot[1])
            if ident is not None:
                _OPENED[slot] = ident
            break
        except sqlite3.OperationalError:
            break  # e.g. a read-only cache directory, or a lock held past the timeout
        except sqlite3.DatabaseError:
            if attempt == 0:
                _set_aside(slot[1])  # not a database: a damaged or foreign file
        except OSError:
            break
    _CONNECTIONS[slot] = con
    return con


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _close(slot: tuple[int, Path]) -> None:
    con = _CONNECTIONS.pop(slot, None)
    if con is not None:
        con.close()


def get(k: str) -> dict[str, Any] | None:
    hit = _MEMORY.get(k)
    if hit is not None:
        return hit
    if k in _ABSENT:  # the last prefetch found none: a cold replay asks no query per row
        return None
    rows = _select([k])
    return _remember(*rows[0]) if rows else None


def prefetch(keys: Iterable[str]) -> None:
    """Read the stored entries of ``keys`` not in memory yet into memory, in one query (per
    :data:`_KEYS_PER_QUERY` keys): a warm replay looks its rows up in one round trip, not
    one per shape (issue #12); what is not stored stays a miss for :func:`get` (until
    the next prefetch or a put of it) without another query."""
    wanted = [k for k in dict.fromkeys(keys) if k not in _MEMORY]
    _ABSENT.clear()
    _ABSENT.update(wanted)
    for i in range(0, len(wanted), _KEYS_PER_QUERY):
        for k, text in _select(wanted[i:i + _KEYS_PER_QUERY]):
            _ABSENT.discard(k)
            _remember(k, text)


# the keys the last prefetch found no entry for (another process may write one meanwhile:
# a miss only costs the time of computing the same entry again)
_ABSENT: set[str] = set()


# keys per SELECT ... IN (...): under SQLITE_MAX_VARIABLE_NUMBER, 999 before SQLite 3.32
_KEYS_PER_QUERY = 500


def _select(keys: list[str]) -> list[tuple[str, str]]:
    """The stored (key, value text) of those of ``keys`` the database holds; none when it
    cannot be read (a lock held past the timeout, a damaged file: then a new one)."""
    con = _connection()
    if con is None:
        return []
    try:
        return con.execute(f"SELECT key, value FROM timings WHERE key IN "
                           f"({','.join('?' * len(keys))})", keys).fetchall()
    except sqlite3.OperationalError:
        return []  # locked past the timeout: a miss
    except sqlite3.DatabaseError:
        _connection(reopen=True)  # damaged pages: start a new database
        return []


def _remember(k: str, text: Any) -> dict[str, Any] | None:
    """A stored value, decoded and kept in memory if it is an entry (else a miss)."""
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        return None
    if not is_entry(data):
        return None
    _keep(k, data)
    return data


def _keep(k: str, value: dict[str, Any]) -> None:
    if len(_MEMORY) >= _MEMORY_MAX:
        _MEMORY.clear()
    _MEMORY[k] = value


def put(k: str, value: dict[str, Any]) -> None:
    _keep(k, value)
    _ABSENT.discard(k)
    if _DEFERRED:
        _DEFERRED[-1][k] = json.dumps(value)
        return
    _write([(k, json.dumps(value))])


def _write(entries: list[tuple[str, str]]) -> None:
    """Store (key, value text) entries, in one transaction."""
    con = _connection()
    if con is None or not entries:
        return
    try:
        if len(entries) == 1:
            con.execute("INSERT OR REPLACE INTO timings (key, value) VALUES (?, ?)",
                        entries[0])
            return
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany("INSERT OR REPLACE INTO timings (key, value) VALUES (?, ?)",
                            entries)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError:
        pass  # a full disk or a lock held too long only costs speed
    except sqlite3.DatabaseError:
        _connection(reopen=True)


# while a deferred_writes() block runs: the entries put in it, written at its end
_DEFERRED: list[dict[str, str]] = []


@contextlib.contextmanager
def deferred_writes() -> Iterator[None]:
    """Within the block, :func:`put` keeps entries in memory at once and stores them in
    one transaction at its end (a cold replay puts a few hundred entries: one commit
    each cost ~0.2 ms, issue #12); other processes see them from then on."""
    if _DEFERRED:  # nested: the outer block writes them
        yield
        return
    _DEFERRED.append({})
    try:
        yield
    finally:
        _write(list(_DEFERRED.pop().items()))


def clear_memory() -> None:
    """Forget in-memory entries (the disk cache stays)."""
    _MEMORY.clear()
    _ABSENT.clear()


def _entries(path: Path) -> int:
    """How many entries a database holds (0 if it cannot be read)."""
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                              timeout=_BUSY_TIMEOUT_S)
        try:
            return int(con.execute("SELECT count(*) FROM timings").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@dataclass(frozen=True)
class StoreInfo:
    path: Path
    entries: int
    bytes: int  # the database with its write-ahead log
    current: bool  # this code's generation (the others are never read again)


def info() -> list[StoreInfo]:
    """Every generation's database under the cache directory, oldest name first."""
    d = cache_dir()
    if not d.is_dir():
        return []
    current = store_path()
    return [StoreInfo(p, _entries(p), sum(f.stat().st_size for f in d.glob(p.name + "*")
                                          if f.is_file()), p == current)
            for p in sorted(d.glob("timings-*.sqlite"))]


def clear() -> int:
    """Delete every generation's database (and anything else under the cache directory:
    set-aside damaged files, the per-entry JSON files of older versions); returns how
    many entries the databases held. This process's memory is cleared too."""
    n = sum(s.entries for s in info())
    for slot in [s for s in _CONNECTIONS if s[0] == os.getpid()]:
        _close(slot)
    _MEMORY.clear()
    shutil.rmtree(cache_dir(), ignore_errors=True)
    return n
