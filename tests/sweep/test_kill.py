"""A sweep killed with SIGKILL mid-run resumes to the same results as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow.parquet as pq

import codesign as cd
from codesign.sweep import store

from .conftest import gpu_spec

POINTS = 160  # 2 targets x 40 bandwidths x 2 efficiencies; a few seconds on one core
CHUNK = 2


def test_sigkill_mid_run_then_resume_equals_uninterrupted(write_spec, tiny_trace, tmp_path):
    spec = write_spec(gpu_spec(tiny_trace,
                               dram="{start = 100.0, stop = 4000.0, step = 100.0}"))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "codesign", "sweep", str(spec), "-o", str(out),
           "--jobs", "1", "--chunk", str(CHUNK), "--no-progress", "--format", "json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not store.part_files(out):  # wait for the first finished batch
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no part file within 60 s"
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / store.RESULTS).exists()  # it really stopped mid-run
    parts = store.part_files(out)
    done = sum(pq.read_metadata(p).num_rows for p in parts)  # every part is whole
    assert 0 < done < POINTS

    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["rows"] == POINTS
    assert report["resumed"] == done  # nothing finished before the kill is timed again
    assert report["resumed"] + report["computed"] == POINTS

    whole = cd.sweep(spec, jobs=1, out=tmp_path / "whole", progress=False)
    after = pd.read_parquet(out / store.RESULTS)
    pd.testing.assert_frame_equal(whole.sort_values("row_id").reset_index(drop=True),
                                  after.sort_values("row_id").reset_index(drop=True))
    assert not list((out / "parts").glob(".*.tmp"))
