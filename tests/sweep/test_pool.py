"""Local workers (codesign.sweep.pool): started once per process and kept for the next
sweep while what they inherited holds; replaced after a failed sweep or a changed
environment; never outliving their process; batches that keep a hardware point's rows
(the kernels they share) on one worker."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from codesign.errors import CodesignError
from codesign.sweep import load_spec, run_with_info
from codesign.sweep import runner as R
from codesign.sweep.spec import row_id

from .conftest import gpu_spec


def _pids(info) -> set[int]:
    return {w["pid"] for w in info.workers}


def test_later_sweeps_of_a_process_reuse_its_workers(write_spec, tiny_trace, tmp_path,
                                                     monkeypatch):
    spec = write_spec(gpu_spec(tiny_trace))
    infos = [run_with_info(spec, jobs=2, out=tmp_path / f"run{i}", chunk=2, progress=False)[1]
             for i in range(3)]
    assert all(i.computed == 8 for i in infos)
    seen = set().union(*(_pids(i) for i in infos))
    # every sweep timed its batches in processes; a pool per sweep would have started at
    # least one new process each time
    assert 1 <= len(seen) <= 2
    # a spawned worker's environment is its parent's at its start: another cache
    # directory (or sys.path) needs new workers
    monkeypatch.setenv("CODESIGN_CACHE_DIR", str(tmp_path / "other-cache"))
    _, moved = run_with_info(spec, jobs=2, out=tmp_path / "moved", chunk=2, progress=False)
    assert _pids(moved) and not _pids(moved) & seen
    monkeypatch.syspath_prepend(str(tmp_path))
    _, path = run_with_info(spec, jobs=2, out=tmp_path / "path", chunk=2, progress=False)
    assert _pids(path) and not _pids(path) & (seen | _pids(moved))


def test_what_workers_inherit_is_what_changes_their_results(monkeypatch, tmp_path):
    from codesign.sweep.pool import _inherited

    before = _inherited()
    # torch sets this while the sweep process extracts a trace: the workers started
    # before it are as good as new ones
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    assert _inherited() == before
    monkeypatch.setenv("CODESIGN_CACHE_DIR", str(tmp_path / "cache"))
    assert _inherited() != before


def test_a_failed_sweep_leaves_no_pool_behind(write_spec, tiny_trace, tmp_path):
    """A trace damaged inside a data page after the spec was read (its metadata, which
    the sweep process reads, intact) fails in the workers: the sweep reports it, and the
    next sweep gets new workers, which time it."""
    trace = tmp_path / "trace.parquet"
    trace.write_bytes(tiny_trace.read_bytes())
    spec = load_spec(write_spec(gpu_spec(trace)))
    _, ok = run_with_info(spec, jobs=2, out=tmp_path / "ok", chunk=2, progress=False)
    data = bytearray(trace.read_bytes())
    data[64] ^= 0x04
    trace.write_bytes(bytes(data))
    with pytest.raises(CodesignError, match=r"trace\.parquet"):
        run_with_info(spec, jobs=2, out=tmp_path / "bad", chunk=2, progress=False)
    trace.write_bytes(tiny_trace.read_bytes())
    _, again = run_with_info(spec, jobs=2, out=tmp_path / "again", chunk=2, progress=False)
    assert again.computed == 8 and not _pids(again) & _pids(ok)


def test_workers_end_with_their_process(write_spec, tiny_trace, tmp_path):
    psutil = pytest.importorskip("psutil")
    spec = write_spec(gpu_spec(tiny_trace))
    code = ("from codesign.sweep import run_with_info\n"
            "if __name__ == '__main__':\n"
            f"    _, info = run_with_info({str(spec)!r}, jobs=2, out={str(tmp_path / 'o')!r},"
            " chunk=2, progress=False)\n"
            "    print(' '.join(str(w['pid']) for w in info.workers))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True)
    pids = {int(p) for p in done.stdout.split()}
    assert pids
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
              for p in pids):
        assert time.monotonic() < deadline, "workers outlived the process that ran the sweep"
        time.sleep(0.05)


def _pending(spec):
    return [(p, w, row_id(p, w)) for p, w in spec.rows()]


def _batches_of(spec_path, chunk: int, workers: int) -> list[list[tuple]]:
    spec = load_spec(spec_path)
    wid = spec.workloads[0].id
    batches = R._batches(_pending(spec), {wid: "trace"}, {wid: "key"}, chunk, workers)
    rows = [rid for _, _, pts in batches for rid, _, _ in pts]
    assert sorted(rows) == sorted(r for _, _, r in _pending(spec))  # each row once
    return [[tuple(map(tuple, ov)) for _, _, ov in pts] for _, _, pts in batches]


def test_batches_keep_each_hardware_point_on_one_worker(write_spec, tiny_trace):
    # 2 targets x 3 bandwidths x 2 efficiencies: 6 hardware points of 2 rows
    path = write_spec(gpu_spec(tiny_trace, dram="[1000.0, 2000.0, 3000.0]"))
    for chunk in (1, 3, 4, 5):
        batches = _batches_of(path, chunk, workers=2)
        points = [ov for b in batches for ov in dict.fromkeys(b)]
        assert len(points) == len(set(points)) == 6  # a point is never split
        assert all(len(b) <= max(chunk, 2) for b in batches)
    assert [len(b) for b in _batches_of(path, 5, workers=2)] == [4, 4, 4]
    # fewer than two points per worker: rows are spread as the chunk says, for speed
    assert [len(b) for b in _batches_of(path, 5, workers=4)] == [5, 5, 2]
    assert [len(b) for b in _batches_of(path, 5, workers=1)] == [5, 5, 2]
