"""Sweep safety: the size is capped before any point is built (so --check is instant on any
size), one sweep at a time writes a directory (a lock naming its pid; a dead owner's lock
is taken over), local workers die with their parent, and a bad --scheduler is refused
before any trace is extracted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import codesign as cd
from codesign.cli import main
from codesign.sweep import spec as spec_mod
from codesign.sweep import store
from codesign.sweep.lock import LOCK

from .conftest import gpu_spec


def _never(*_a, **_k):
    raise AssertionError("built the points of a sweep that is over the cap")


@pytest.fixture
def no_points(monkeypatch):
    monkeypatch.setattr(spec_mod, "_points", _never)
    monkeypatch.setattr(spec_mod, "_samples", _never)


def test_a_million_point_grid_is_refused_without_building_it(write_spec, tiny_trace, capsys,
                                                            no_points):
    spec = write_spec(f"""\
[workloads]
trace = "{tiny_trace}"
[axes]
target = ["h100-sxm"]
"memory.dram_gbps" = {{start = 1.0, stop = 1000.0, step = 1.0}}
"memory.l2_gbps" = {{start = 1.0, stop = 1000.0, step = 1.0}}
""")
    assert main(["sweep", str(spec), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the sweep has 1,000,000 rows (1,000,000 points x 1 workload)" in err
    assert "more than the cap of 10,000" in err and "--max-rows" in err


def test_a_huge_latin_hypercube_is_refused_without_allocating_it(write_spec, tiny_trace,
                                                                capsys, no_points):
    spec = write_spec(f"""\
[workloads]
trace = "{tiny_trace}"
[axes]
target = ["h100-sxm"]
"memory.dram_gbps" = {{min = 100.0, max = 4000.0}}
[sampling]
method = "lhs"
samples = 100000000
""")
    assert main(["sweep", str(spec), "--check"]) == 2
    err = capsys.readouterr().err
    assert "sampling.samples: the sweep has 100,000,000 rows" in err
    assert "take fewer samples" in err and err.count("\n") == 1


def test_workloads_alone_over_the_cap_are_refused_before_crossing(write_spec, capsys):
    spec = write_spec("""\
[workloads]
model = "qwen3.5-9b"
phase = "decode"
batch = {start = 1, stop = 200, step = 1}
context = {start = 1, stop = 100, step = 1}
[axes]
target = ["h100-sxm"]
""")
    assert main(["sweep", str(spec), "--check"]) == 2
    assert "the sweep has 20,000 rows (workloads alone" in capsys.readouterr().err


def test_max_rows_moves_the_cap(write_spec, tiny_trace, capsys):
    spec = write_spec(gpu_spec(tiny_trace))  # 2 targets x 2 x 2 = 8 points
    assert main(["sweep", str(spec), "--check", "--max-rows", "7"]) == 2
    assert "the sweep has 8 rows" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--check", "--max-rows", "8"]) == 0
    assert "8 points x 1 workloads = 8 rows" in capsys.readouterr().out


def _hold_lock(directory, pid: int):
    """Hold ``directory``'s sweep lock as another writer would (its own open file)."""
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    f = open(directory / LOCK, "w")  # noqa: SIM115 (held open by the test)
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    f.write(json.dumps({"pid": pid, "host": "elsewhere"}))
    f.flush()
    return f


def test_a_second_writer_is_refused_naming_the_owner(write_spec, tiny_trace, tmp_path,
                                                    capsys):
    spec = write_spec(gpu_spec(tiny_trace))
    out = tmp_path / "run"
    held = _hold_lock(out, 4242)
    try:
        assert main(["sweep", str(spec), "-o", str(out), "--jobs", "1",
                     "--no-progress"]) == 2
    finally:
        held.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is being written by another sweep (pid 4242 on elsewhere" in err
    assert not store.part_files(out) and not (out / store.RESULTS).exists()


def test_a_lock_left_by_a_dead_sweep_is_taken_over(write_spec, tiny_trace, tmp_path, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"pid": int(dead.stdout), "host": "here"}))
    spec = write_spec(gpu_spec(tiny_trace))
    assert main(["sweep", str(spec), "-o", str(out), "--jobs", "1", "--no-progress",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["computed"] == 8
    assert not (out / LOCK).exists()  # released at the end


def test_killing_a_sweep_kills_its_workers(write_spec, tiny_trace, tmp_path):
    psutil = pytest.importorskip("psutil")
    spec = write_spec(gpu_spec(tiny_trace, dram="{start = 10.0, stop = 4000.0, step = 10.0}"))
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "codesign", "sweep", str(spec), "-o", str(out), "--jobs", "2",
         "--chunk", "1", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    children = []
    try:
        deadline = time.monotonic() + 120
        while len(store.part_files(out)) < 2:  # the workers are timing points
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no part files within 120 s"
            time.sleep(0.01)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2
        os.kill(proc.pid, signal.SIGKILL)  # the sweep alone, not its process group
        proc.wait(timeout=30)
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"workers outlived their sweep: {[p.pid for p in alive]}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for child in children:  # workers that outlived the sweep (the bug) are ended here
            if child.is_running():
                child.kill()
        proc.wait()


def test_a_malformed_scheduler_is_refused_before_tracing(write_spec, tmp_path, capsys,
                                                        monkeypatch):
    from codesign.sweep import runner

    monkeypatch.setattr(runner, "_trace_ref", _never)
    spec = write_spec("""\
[workloads]
model = "qwen3.5-9b"
phase = "decode"
context = 4096
[axes]
target = ["h100-sxm"]
""")
    assert main(["sweep", str(spec), "-o", str(tmp_path / "o"), "--scheduler",
                 "notanaddress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--scheduler 'notanaddress' is not a Dask scheduler address" in err
    assert "tcp://10.0.0.5:8786" in err


def test_a_scheduler_where_nothing_listens_is_refused_without_dasks_retries(
        write_spec, tiny_trace, tmp_path, capsys, monkeypatch):
    distributed = pytest.importorskip("distributed")

    monkeypatch.setattr(distributed, "Client", _never)  # Dask would retry for 30 s
    spec = write_spec(gpu_spec(tiny_trace))
    assert main(["sweep", str(spec), "-o", str(tmp_path / "o"), "--scheduler",
                 "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:1': Connection refused" in err


def test_the_python_api_takes_the_cap_too(write_spec, tiny_trace):
    spec = write_spec(gpu_spec(tiny_trace))
    with pytest.raises(cd.CodesignError, match="the sweep has 8 rows"):
        cd.sweep(spec, jobs=1, progress=False, max_rows=4)
