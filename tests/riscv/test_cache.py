"""Memoized timings: in memory and on disk, shared safely between processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codesign import config as C
from codesign.riscv import cache, make
from codesign.riscv.replay import time_op

ROW = {"kind": "gemm", "op": "matmul", "M": 1, "N": 32, "K": 256, "G": 1, "dtype": "bf16",
       "causal": False, "B": 0, "Hq": 0, "Hkv": 0, "Sq": 0, "Skv": 0, "D": 0}


def test_cache_lives_in_the_env_directory_not_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    cache.clear_memory()
    cfg = make("x280-like", {"cluster.cores": 1}).config  # one way to split: one program
    first = time_op(ROW, cfg, C.fingerprint(cfg))
    assert not first["cached"]
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == 1
    assert json.loads(files[0].read_text())["cycles"] == first["cycles"]
    pkg = Path(cache.__file__).resolve().parent.parent
    assert not list(pkg.rglob(files[0].name))
    # a new process (empty memory) reads the disk entry
    cache.clear_memory()
    again = time_op(ROW, cfg, C.fingerprint(cfg))
    assert again["cached"] and again["cycles"] == first["cycles"]
    # no temporary files are left behind
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_default_cache_dir_is_under_home(monkeypatch):
    monkeypatch.delenv(cache.ENV_VAR, raising=False)
    assert cache.cache_dir() == Path.home() / ".cache" / "codesign" / "riscv"


def test_key_depends_on_config_and_cores():
    k = cache.key("sig", "fp", 1, "steady")
    assert k != cache.key("sig", "fp2", 1, "steady")
    assert k != cache.key("sig", "fp", 2, "steady")
    assert k != cache.key("sig2", "fp", 1, "steady")
    assert k != cache.key("sig", "fp", 1, "full")


def test_concurrent_processes_share_the_cache(tmp_path):
    """Four processes time the same op at once into one directory: all agree, and the
    directory holds one whole entry."""
    code = (
        "from codesign import config as C\n"
        "from codesign.riscv import make\n"
        "from codesign.riscv.replay import time_op\n"
        f"row = {ROW!r}\n"
        "cfg = make('spatz-like').config\n"
        "print(time_op(row, cfg, C.fingerprint(cfg))['cycles'])\n"
    )
    env = {**os.environ, cache.ENV_VAR: str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == 1
    assert float(json.loads(files[0].read_text())["cycles"]) == float(outs[0])


def test_programs_without_xattn_share_timings_across_xattn_subsets(tmp_path, monkeypatch):
    """The ISA picks the program; a program's timing does not depend on the ISA field, so
    a GEMM lowered without any Xattn instruction is simulated once for every subset."""
    from codesign.riscv.replay import timing_fingerprint

    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    cache.clear_memory()
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
                                  '{"cycles": -1}', '{"cycles": NaN}', '{"cycl'])
def test_a_malformed_entry_is_a_miss_and_is_overwritten(tmp_path, monkeypatch, junk):
    """Before: ``{}`` or ``[1, 2]`` in an entry was returned as a timing (a KeyError or
    TypeError in replay, on every later run, since the entry was never rewritten)."""
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    cache.clear_memory()
    cfg = make("x280-like").config
    first = time_op(ROW, cfg, C.fingerprint(cfg))
    (entry,) = tmp_path.rglob("*.json")
    entry.write_text(junk)
    cache.clear_memory()
    again = time_op(ROW, cfg, C.fingerprint(cfg))
    assert not again["cached"] and again["cycles"] == first["cycles"]
    assert json.loads(entry.read_text())["cycles"] == first["cycles"]  # rewritten whole
    cache.clear_memory()
    assert time_op(ROW, cfg, C.fingerprint(cfg))["cached"]
