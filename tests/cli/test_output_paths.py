"""Output paths: a bad one is refused in one line before any work, a failed write loses no
printed numbers and leaves no temporary file behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from codesign import api
from codesign.cli import main
from codesign.cli import run as run_cmd
from codesign.errors import CodesignError
from codesign.outputs import check_output_dir, check_output_file, write_atomically


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a command gets as far as reading, tracing or timing anything."""
    def refuse(*_args, **_kw):
        raise AssertionError("work started before the output path was checked")

    monkeypatch.setattr(run_cmd, "load_trace", refuse)
    monkeypatch.setattr(api, "trace", refuse)


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("option", ["-o", "--timeline"])
def test_run_refuses_a_folder_as_its_output_file_before_any_work(
        capsys, tmp_path, no_work, option):
    err = _one_line_error(capsys, ["run", "t.parquet", "-t", "h100-sxm", option, str(tmp_path)])
    assert f"{option} {str(tmp_path)!r}: it is a folder" in err


def test_run_refuses_an_output_under_a_file_before_any_work(capsys, a_file, no_work):
    out = a_file / "results.parquet"
    err = _one_line_error(capsys, ["run", "t.parquet", "-t", "h100-sxm", "-t", "l4",
                                   "-o", str(out)])
    assert f"{str(a_file)!r} is a file, not a folder" in err


def test_trace_and_report_check_their_output_before_any_work(capsys, tmp_path, a_file,
                                                             no_work):
    err = _one_line_error(capsys, ["trace", "qwen3.5-0.8b", "-o", str(tmp_path)])
    assert "it is a folder" in err
    err = _one_line_error(capsys, ["report", "never-read.parquet",
                                   "-o", str(a_file / "report.html")])
    assert "is a file, not a folder" in err


def test_sweep_checks_its_output_folder_before_tracing(capsys, tmp_path, a_file, no_work):
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "s"\n[workloads]\nmodel = "qwen3.5-0.8b"\nphase = "decode"\n'
                    'context = 64\n[axes]\ntarget = ["h100-sxm"]\n')
    err = _one_line_error(capsys, ["sweep", str(spec), "-o", str(a_file), "--jobs", "1"])
    assert f"output {str(a_file)!r}" in err and "is a file, not a folder" in err


def test_a_failed_write_keeps_the_printed_table_and_leaves_no_temporary_file(
        capsys, monkeypatch, tmp_path, decode_parquet):
    def disk_full(table, where, **_kw):
        where.write(b"PAR1 half a file")  # something is written before the disk fills up
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pq, "write_table", disk_full)
    out = tmp_path / "out"
    code = main(["run", str(decode_parquet), "-t", "h100-sxm", "-t", "l4",
                 "-o", str(out / "results.parquet")])
    captured = capsys.readouterr()
    assert code == 2
    assert "h100-sxm" in captured.out and "l4" in captured.out  # the numbers were shown
    assert captured.err.count("\n") == 1 and "No space left on device" in captured.err
    assert "results.h100-sxm.parquet" in captured.err
    assert list(out.iterdir()) == []  # neither a partial result nor a *.tmp


def test_write_atomically_replaces_whole_files_only(tmp_path):
    path = tmp_path / "sub" / "x.bin"
    write_atomically(path, lambda f: f.write(b"first"))

    def broken(f):
        f.write(b"half")
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with pytest.raises(CodesignError, match=r"cannot write .*x\.bin.* \(Input/output error\)"):
        write_atomically(path, broken)
    assert path.read_bytes() == b"first"
    assert [p.name for p in path.parent.iterdir()] == ["x.bin"]


def test_checks_accept_new_folders_and_create_nothing(tmp_path):
    target = tmp_path / "new" / "deeper" / "r.parquet"
    assert check_output_file(target, "-o") == target
    assert check_output_dir(tmp_path / "new-dir", "-o") == tmp_path / "new-dir"
    assert list(tmp_path.iterdir()) == []
