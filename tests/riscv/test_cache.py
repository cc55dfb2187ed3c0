"""Memoized timings: in memory and in one SQLite database per code generation, shared
safely between processes; the row memo that lets a warm replay skip lowering."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from codesign import config as C
from codesign.riscv import cache, make, replay
from codesign.riscv.replay import RowTimings, time_op
from isa.program import Program
from workloads.schema import Op

ROW = {"kind": "gemm", "op": "matmul", "M": 1, "N": 32, "K": 256, "G": 1, "dtype": "bf16",
       "causal": False, "B": 0, "Hq": 0, "Hkv": 0, "Sq": 0, "Skv": 0, "D": 0}
OPS = [Op.from_row({**ROW, "name": "a"}), Op.from_row({**ROW, "N": 1024, "name": "b"}),
       # a norm without a kernel: timed at its roofline, and remembered as such
       Op.from_row({"kind": "norm", "op": "rms_norm", "M": 1, "N": 512, "dtype": "bf16",
                    "name": "c"})]


@pytest.fixture()
def fresh(tmp_path, monkeypatch):
    """An empty cache directory and empty memory."""
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    cache.clear_memory()
    yield tmp_path
    cache.clear_memory()


def _rows(db: Path) -> dict[str, dict]:
    con = sqlite3.connect(db)
    try:
        return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM timings")}
    finally:
        con.close()


def _lowerings(monkeypatch) -> list[str]:
    """Record every op the replay lowers."""
    seen: list[str] = []
    real = replay._lower_signed  # (what time_op lowers with)

    def spy(op, cfg, *rest):
        seen.append(op["name"])
        return real(op, cfg, *rest)
    monkeypatch.setattr(replay, "_lower_signed", spy)
    return seen


ONE_CORE = {"cluster.cores": 1}  # one way to split an op: time_op simulates one program


def test_cache_lives_in_the_env_directory_not_the_package(fresh):
    cfg = make("x280-like", ONE_CORE).config
    first = time_op(ROW, cfg, C.fingerprint(cfg))
    assert not first["cached"]
    (db,) = fresh.rglob("*.sqlite")
    assert db == cache.store_path() and db.parent == fresh / "riscv"
    assert db.name == f"timings-{cache.model_version()}.sqlite"
    (entry,) = _rows(db).values()
    assert entry["cycles"] == first["cycles"]
    pkg = Path(cache.__file__).resolve().parent.parent
    assert not list(pkg.rglob("*.sqlite"))
    # a new process (empty memory) reads the disk entry
    cache.clear_memory()
    again = time_op(ROW, cfg, C.fingerprint(cfg))
    assert again["cached"] and again["cycles"] == first["cycles"]


def test_default_cache_dir_is_under_home(monkeypatch):
    monkeypatch.delenv(cache.ENV_VAR, raising=False)
    assert cache.cache_dir() == Path.home() / ".cache" / "codesign" / "riscv"


def test_key_depends_on_config_and_cores():
    k = cache.key("sig", "fp", 1, "steady")
    assert k != cache.key("sig", "fp2", 1, "steady")
    assert k != cache.key("sig", "fp", 2, "steady")
    assert k != cache.key("sig2", "fp", 1, "steady")
    assert k != cache.key("sig", "fp", 1, "full")
    r = cache.row_key("shape", "fp", "steady", "reg")
    assert len({r, cache.row_key("shape2", "fp", "steady", "reg"),
                cache.row_key("shape", "fp2", "steady", "reg"),
                cache.row_key("shape", "fp", "full", "reg"),
                cache.row_key("shape", "fp", "steady", "reg2")}) == 5


def test_concurrent_processes_share_the_cache(tmp_path):
    """Four processes time the same op at once into one database: all agree, and the
    database holds one whole entry."""
    code = (
        "from codesign import config as C\n"
        "from codesign.riscv import make\n"
        "from codesign.riscv.replay import time_op\n"
        f"row = {ROW!r}\n"
        "cfg = make('spatz-like', {'cluster.cores': 1}).config\n"
        "print(time_op(row, cfg, C.fingerprint(cfg))['cycles'])\n"
    )
    env = {**os.environ, cache.ENV_VAR: str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1
    (db,) = tmp_path.rglob("*.sqlite")
    (entry,) = _rows(db).values()
    assert float(entry["cycles"]) == float(outs[0])


def test_two_writer_processes_lose_no_entry(tmp_path):
    """Two processes write 400 entries each at once, 200 of them under the same keys:
    every entry arrives whole (no 'database is locked', no lost or torn write)."""
    code = (
        "import sys\n"
        "from codesign.riscv import cache\n"
        "me = sys.argv[1]\n"
        "for i in range(200):\n"
        "    cache.put(f'{me}-{i}', {'cycles': i + 1.0, 'by': me})\n"
        "    cache.put(f'both-{i}', {'cycles': i + 1.0, 'bound': 'memory'})\n"
        "print('ok')\n"
    )
    env = {**os.environ, cache.ENV_VAR: str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code, me], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for me in ("p", "q")]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [o[0].strip() for o in outs] == ["ok", "ok"], outs
    assert all(p.returncode == 0 for p in procs)
    (db,) = tmp_path.rglob("*.sqlite")
    rows = _rows(db)
    assert len(rows) == 600
    for me in ("p", "q"):
        for i in range(200):
            assert rows[f"{me}-{i}"] == {"cycles": i + 1.0, "by": me}
            assert rows[f"both-{i}"] == {"cycles": i + 1.0, "bound": "memory"}


def test_programs_without_xattn_share_timings_across_xattn_subsets(fresh):
    """The ISA picks the program; a program's timing does not depend on the ISA field, so
    a GEMM lowered without any Xattn instruction is simulated once for every subset."""
    from codesign.riscv.replay import timing_fingerprint

    plain = make("c950-like").config
    vfexp = make("c950-like+xattn:vfexp").config
    assert C.fingerprint(plain) != C.fingerprint(vfexp)
    assert timing_fingerprint(plain) == timing_fingerprint(vfexp)
    first = time_op(ROW, plain, timing_fingerprint(plain))
    again = time_op(ROW, vfexp, timing_fingerprint(vfexp))
    assert not first["cached"] and again["cached"]
    assert again["cycles"] == first["cycles"]
    # a subset whose kernel differs (mmacc lowers a 64x512x256 GEMM to vfwmmacc tiles) is
    # simulated anew
    from isa.instructions import parse_isa
    from isa.kernels import lower

    row = {**ROW, "M": 64}
    mm = make("c950-like+xattn:mmacc").config
    progs = [lower(row, parse_isa(c.isa), c.core("bf16")) for c in (plain, mm)]
    assert "vfwmmacc.vv" in progs[1].counts().by_mnemonic
    assert progs[0].signature() != progs[1].signature()
    time_op(row, plain, timing_fingerprint(plain))
    assert not time_op(row, mm, timing_fingerprint(mm))["cached"]


@pytest.mark.parametrize("junk", ["{}", "[1, 2]", "null", '"cycles"', '{"cycles": "12"}',
                                  '{"cycles": -1}', '{"cycles": NaN}', '{"cycl',
                                  '{"modelled": false}'])
def test_a_malformed_entry_is_a_miss_and_is_overwritten(fresh, junk):
    """Before: ``{}`` or ``[1, 2]`` in an entry was returned as a timing (a KeyError or
    TypeError in replay, on every later run, since the entry was never rewritten)."""
    cfg = make("x280-like", ONE_CORE).config
    first = time_op(ROW, cfg, C.fingerprint(cfg))
    db = cache.store_path()
    (k,) = _rows(db)
    con = sqlite3.connect(db)
    con.execute("UPDATE timings SET value = ? WHERE key = ?", (junk, k))
    con.commit()
    con.close()
    cache.clear_memory()
    again = time_op(ROW, cfg, C.fingerprint(cfg))
    assert not again["cached"] and again["cycles"] == first["cycles"]
    assert _rows(db)[k]["cycles"] == first["cycles"]  # rewritten whole
    cache.clear_memory()
    assert time_op(ROW, cfg, C.fingerprint(cfg))["cached"]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_database_only_costs_speed(fresh, damage):
    """A database that is not one (garbage over the file) or whose pages are cut off is
    set aside: the timing is simulated again, and stored in a new database that works."""
    cfg = make("x280-like").config
    first = time_op(ROW, cfg, C.fingerprint(cfg))
    for i in range(300):  # enough pages that a cut-off file loses the table's rows
        cache.put(f"filler-{i}", {"cycles": 1.0, "pad": "x" * 200})
    db = cache.store_path()
    cache.clear()  # close this process's connection
    cache.put("x", {"cycles": 1.0})  # reopen, so the damage happens under an open store
    cache.clear_memory()
    for i in range(300):
        cache.put(f"filler-{i}", {"cycles": 1.0, "pad": "x" * 200})
    time_op(ROW, cfg, C.fingerprint(cfg))
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = db.read_bytes()
    db.write_bytes(b"not a database " * 300 if damage == "garbage" else data[:len(data) // 3])
    cache.clear_memory()
    again = time_op(ROW, cfg, C.fingerprint(cfg))
    assert again["cycles"] == first["cycles"]
    # the entry lands in a working database (read back by a fresh process' memory)
    cache.clear_memory()
    assert time_op(ROW, cfg, C.fingerprint(cfg))["cached"]
    assert list(fresh.rglob("*.damaged-*"))


def test_a_database_another_process_started_is_not_set_aside(fresh):
    """Two processes find one database damaged: the first sets it aside and starts a new
    one; the second, whose connection still reads the damaged file, opens the new one
    instead of setting it aside too (entries the first wrote there stay shared)."""
    for i in range(300):
        cache.put(f"filler-{i}", {"cycles": 1.0, "pad": "x" * 200})
    db = cache.store_path()
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    # "the other process": moves the file aside and starts a new database with an entry
    old = db.with_name(db.name + ".damaged-other")
    os.replace(db, old)
    new = sqlite3.connect(db)
    new.execute("CREATE TABLE timings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    new.execute("INSERT INTO timings VALUES ('theirs', '{\"cycles\": 7.0}')")
    new.commit()
    new.close()
    data = old.read_bytes()
    old.write_bytes(data[: len(data) // 3])  # this process's open file is damaged
    cache.clear_memory()
    assert cache.get("filler-299") is None  # a damaged read: a miss, and a reopen
    assert cache.get("theirs") == {"cycles": 7.0}
    assert [p.name for p in fresh.rglob("*.damaged-*")] == [old.name]


def test_an_unwritable_cache_directory_only_costs_speed(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(cache.ENV_VAR, str(blocker))  # riscv/ cannot be made under a file
    cache.clear_memory()
    cfg = make("x280-like").config
    t = time_op(ROW, cfg, C.fingerprint(cfg))
    assert t["cycles"] > 0 and not t["cached"]
    assert time_op(ROW, cfg, C.fingerprint(cfg))["cached"]  # from memory
    cache.clear_memory()


# ---- the row memo -----------------------------------------------------------------------
def _replay(cfg, ops=OPS):
    return replay.replay(pd.DataFrame([_row(op) for op in ops]), cfg)


def _row(op: Op) -> dict:
    from codesign.result import TRACE_COLUMNS
    rec = dict(op.items())
    for c in TRACE_COLUMNS:
        rec.setdefault(c, 0 if c not in ("layers", "layer_type", "module") else "x")
    rec.update(flops=1000, bytes_read=2048, bytes_written=1024, repeat=2)
    return rec


def test_a_warm_replay_neither_lowers_nor_simulates(fresh, monkeypatch):
    cfg = make("c950-like+xattn").config
    seen = _lowerings(monkeypatch)
    cold = _replay(cfg)
    assert set(seen) == {"a", "b", "c"}  # (an op may be lowered several ways)
    assert cold["simulated_instructions"].sum() > 0
    # another process: empty memory, the same database
    cache.clear_memory()
    seen.clear()
    monkeypatch.setattr(Program, "signature",
                        lambda self: pytest.fail("a warm replay rendered a program"))
    warm = _replay(cfg)
    assert seen == []
    # an op without a kernel is remembered too, its note naming the op at hand
    assert not warm["modelled"].iloc[2] and "'c' (norm)" in warm["note"].iloc[2]
    other = _replay(cfg, [OPS[2].replace(name="d")])
    assert seen == [] and "'d' (norm)" in other["note"].iloc[0]
    assert warm["simulated_instructions"].sum() == 0
    cols = ["cycles", "seconds", "roofline_seconds", "bound", "instructions", "signature",
            "l1_bytes", "dram_bytes"]
    pd.testing.assert_frame_equal(warm[cols], cold[cols])


def test_a_row_timing_is_the_timing_of_its_op(fresh):
    """What the memo returns equals what lowering and simulating the op gives now."""
    cfg = make("x280-like").config
    _replay(cfg)
    cache.clear_memory()
    memo = RowTimings(cfg)(OPS[1])
    assert memo["cached"]
    cache.clear()
    now = time_op(OPS[1], cfg, replay.timing_fingerprint(cfg))
    assert not now["cached"]
    for c in ("cycles", "bound", "instructions", "cores", "signature", "dram_bytes"):
        assert memo[c] == now[c], c


def test_a_changed_preset_value_misses(fresh, monkeypatch):
    """Stale cache: any config value (here one the program timing does not even use:
    the ISA string, and one it does: the clock) keys the row memo."""
    seen = _lowerings(monkeypatch)
    base = make("c950-like")
    _replay(base.config)
    for cfg in (make("c950-like", {"vector.dlen": base.config.vector.dlen // 2}).config,
                make("c950-like+xattn").config):
        cache.clear_memory()
        seen.clear()
        _replay(cfg)
        assert set(seen) == {"a", "b", "c"}  # (an op may be lowered several ways)
    cache.clear_memory()
    seen.clear()
    _replay(base.config)
    assert seen == []


def test_a_registered_kernel_or_instruction_misses(fresh, monkeypatch):
    """Stale cache: a user module that replaces a kernel, or registers an instruction,
    changes every row key; putting the registry back hits again."""
    from isa import kernels
    from isa.instructions import EXTENSIONS, Extension, define, register_extension

    cfg = make("x280-like").config
    seen = _lowerings(monkeypatch)
    before = cache.registry_identity()
    _replay(cfg)
    real = kernels.KERNELS["norm"]

    def mine(op, isa, core):
        return real(op, isa, core)
    kernels.register_kernel("norm", mine)
    try:
        assert cache.registry_identity() != before
        cache.clear_memory()
        seen.clear()
        _replay(cfg)
        assert set(seen) == {"a", "b", "c"}  # (an op may be lowered several ways)
    finally:
        kernels.register_kernel("norm", real)
    assert cache.registry_identity() == before
    try:
        register_extension(Extension("t_memo", (define("t.memo.vv", "vd vs2 vs1", "fma",
                                                       "valu", "fma", extension="t_memo"),)))
        assert cache.registry_identity() != before
    finally:
        EXTENSIONS.pop("t_memo", None)
        from isa import instructions
        instructions._REGISTRY.pop("t.memo.vv", None)
    assert cache.registry_identity() == before
    cache.clear_memory()
    seen.clear()
    _replay(cfg)
    assert seen == []


def test_row_keys_are_the_same_in_every_process(tmp_path):
    """A key that differed between processes (a function's address in its text) would
    make every warm run of a new process miss."""
    code = ("from codesign.riscv import cache, make\n"
            "from codesign.riscv.replay import RowTimings\n"
            "t = RowTimings(make('spacemit-x60-like+ime').config)\n"
            "print(cache.registry_identity(), t.full)\n")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert len(outs) == 1


def test_cache_info_and_clear(fresh, capsys):
    from codesign.cli import main
    cfg = make("x280-like").config
    ops = _replay(cfg)
    n = len(_rows(cache.store_path()))
    # 3 rows, and each program simulated (at least the one each modelled row reports)
    assert n >= 3 + ops.loc[ops["modelled"], "signature"].nunique()
    (s,) = cache.info()
    assert s.current and s.entries == n
    old = fresh / "riscv" / "timings-0000000000000000.sqlite"
    sqlite3.connect(old).execute("CREATE TABLE timings (key TEXT, value TEXT)").connection.close()
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"{n} entries" in out and "never read" in out and str(old) in out
    assert main(["cache", "clear"]) == 0
    assert f"{n} kernel and row timings" in capsys.readouterr().out
    assert cache.info() == [] and not (fresh / "riscv").exists()
    cache.clear_memory()
    assert not time_op(ROW, cfg, C.fingerprint(cfg))["cached"]


def _statements(run) -> list[str]:
    """The statements this process's store connection runs during ``run()``."""
    seen: list[str] = []
    con = cache._connection()
    assert con is not None
    con.set_trace_callback(seen.append)
    try:
        run()
    finally:
        con.set_trace_callback(None)
    return seen


def _selects(run) -> list[str]:
    """The SELECT statements this process's store connection runs during ``run()``."""
    return [s for s in _statements(run) if s.lstrip().upper().startswith("SELECT")]


def test_a_cold_replay_asks_for_its_rows_once_and_stores_them_in_one_commit(fresh):
    """Issue #12: the rows a replay's prefetch found missing are not queried again one by
    one, and what the replay times is written in one transaction, visible to another
    connection (another process) once the replay is done."""
    cfg = make("x280-like").config
    rows = [cache.row_key(repr(replay._shape_key(op)), C.fingerprint(cfg), "steady",
                          cache.registry_identity()) for op in OPS]
    seen = _statements(lambda: _replay(cfg))
    selects = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert all(sum(k in s for s in selects) == 1 for k in rows)  # the prefetch's query
    assert [s for s in seen if s.strip().upper() == "COMMIT"] == ["COMMIT"]
    assert set(rows) <= set(_rows(cache.store_path()))  # (a connection of its own)


def test_a_warm_replay_reads_its_rows_in_one_query(fresh):
    """Issue #12: a warm replay's row timings come from one SELECT ... IN, not a query per
    shape; entries already in memory are not asked for again."""
    cfg = make("x280-like").config
    cold = _replay(cfg)
    cache.clear_memory()
    warm: list[pd.DataFrame] = []
    (query,) = _selects(lambda: warm.append(_replay(cfg)))
    assert query.count("?") == 0 and " IN (" in query  # (the trace shows bound values)
    assert all(cache.row_key(repr(replay._shape_key(op)), C.fingerprint(cfg), "steady",
                             cache.registry_identity()) in query for op in OPS)
    assert warm[0]["simulated_instructions"].sum() == 0
    pd.testing.assert_frame_equal(warm[0].drop(columns=["simulated_instructions",
                                                        "sim_seconds"]),
                                  cold.drop(columns=["simulated_instructions", "sim_seconds"]),
                                  check_exact=True)
    assert _selects(lambda: _replay(cfg)) == []  # all in memory now


def test_prefetch_reads_only_valid_entries(fresh):
    good = cache.key("signature", "fingerprint", 1, "steady")
    cache.put(good, {"cycles": 7.0})
    con = cache._connection()
    assert con is not None
    con.execute("INSERT OR REPLACE INTO timings VALUES ('junk', '{\"cycles\": -1}')")
    con.execute("INSERT OR REPLACE INTO timings VALUES ('text', 'not json')")
    cache.clear_memory()
    cache.prefetch(["junk", "text", good, "absent", good])
    memory = dict(cache._MEMORY)
    assert memory == {good: {"cycles": 7.0}}
    assert cache.get("junk") is None and cache.get("absent") is None


def test_memory_stays_bounded_and_the_store_keeps_every_entry(fresh, monkeypatch):
    monkeypatch.setattr(cache, "_MEMORY_MAX", 2)
    cfg = make("x280-like").config
    cold = _replay(cfg)
    assert len(cache._MEMORY) <= 2
    warm = _replay(cfg)  # from the store and what memory still holds
    assert len(cache._MEMORY) <= 2 and warm["simulated_instructions"].sum() == 0
    pd.testing.assert_frame_equal(warm[["cycles", "bound"]], cold[["cycles", "bound"]])


def test_the_log_is_checkpointed_rarely_and_its_entries_are_visible(fresh):
    """Issue #12: a cold sweep writes megabytes of entries; SQLite's default checkpoint
    every 1,000 log pages synced both files to disk each time. The log now takes ~8 MB of
    entries (beyond 1,000 pages) without a checkpoint, and another connection reads them
    all from it."""
    value = {"cycles": 1.0, "note": "x" * 2000}
    entries = {f"key-{i}": {**value, "cycles": float(i + 1)} for i in range(4000)}
    for i in range(0, len(entries), 500):
        with cache.deferred_writes():
            for k in list(entries)[i:i + 500]:
                cache.put(k, entries[k])
    db = cache.store_path()
    log = db.with_name(db.name + "-wal")
    assert log.stat().st_size > 1000 * 4096  # past SQLite's default checkpoint
    assert db.stat().st_size < 1000 * 4096  # not copied into the database yet
    stored = _rows(db)
    assert len(stored) == len(entries) and stored["key-3999"]["cycles"] == 4000.0
