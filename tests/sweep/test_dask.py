"""Sweeps on a Dask distributed cluster give the same rows as a local run."""

from __future__ import annotations

import pandas as pd
import pytest

import codesign as cd
from codesign.cli import main

from .conftest import gpu_spec

distributed = pytest.importorskip("distributed")


def test_scheduler_run_matches_local_run(write_spec, tiny_trace, tmp_path, capsys):
    spec = write_spec(gpu_spec(tiny_trace, extra='[derived.vs_l4]\nspeedup_over = "l4"\n'))
    local = cd.sweep(spec, jobs=1, out=tmp_path / "local", progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        rc = main(["sweep", str(spec), "-o", str(tmp_path / "dask"), "--scheduler",
                   cluster.scheduler_address, "--chunk", "2", "--no-progress"])
        assert rc == 0
        # the cluster ran the points: its workers hold no leftover tasks, and a rerun
        # through the scheduler finds everything done
        assert main(["sweep", str(spec), "-o", str(tmp_path / "dask"), "--scheduler",
                     cluster.scheduler_address, "--no-progress", "--format", "json"]) == 0
    assert '"computed": 0' in capsys.readouterr().out
    remote = pd.read_parquet(tmp_path / "dask" / "results.parquet")
    assert len(list((tmp_path / "dask" / "parts").glob("part-*.parquet"))) == 5  # 9 rows / 2
    pd.testing.assert_frame_equal(local.sort_values("row_id").reset_index(drop=True),
                                  remote.sort_values("row_id").reset_index(drop=True))


def test_unreachable_scheduler_is_one_line(write_spec, tiny_trace, tmp_path, capsys):
    import dask

    spec = write_spec(gpu_spec(tiny_trace))
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main(["sweep", str(spec), "-o", str(tmp_path / "o"), "--scheduler",
                     "tcp://127.0.0.1:1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the Dask scheduler" in err
    assert not list((tmp_path / "o").glob("parts/part-*"))
