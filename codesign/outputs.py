"""Where results are written: checked before any work, written whole or not at all.

A bad output path must cost the user one line, not the minutes of simulation before it:
:func:`check_output_file` and :func:`check_output_dir` run before a command traces or
times anything. :func:`write_atomically` writes through a hidden temporary file renamed
into place, so a reader sees the whole file or none, and removes the temporary file when
the write fails (a full disk, a folder removed meanwhile).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from codesign.errors import CodesignError


def _folder_problem(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (created first if missing), or None."""
    base = next((p for p in (folder, *folder.parents) if p.exists()), Path.cwd())
    if not base.is_dir():
        return f"{str(base)!r} is a file, not a folder"
    try:
        # a real file, not os.access: read-only file systems and ACLs answer truthfully
        with tempfile.TemporaryFile(dir=base, prefix=".codesign-write-check-"):
            pass
    except OSError as exc:
        return f"cannot write into {str(base)!r} ({exc.strerror or exc})"
    return None


def check_output_dir(path: str | Path, option: str) -> Path:
    """Refuse a folder that cannot be created or written into; create nothing."""
    p = Path(path)
    problem = _folder_problem(p)
    if problem:
        raise CodesignError(f"{option} {str(p)!r}: {problem}")
    return p


def check_output_file(path: str | Path, option: str) -> Path:
    """Refuse an output file that is a folder or whose folder cannot be written."""
    p = Path(path)
    problem = ("it is a folder; give a file name inside it" if p.is_dir()
               else _folder_problem(p.parent))
    if problem:
        raise CodesignError(f"{option} {str(p)!r}: {problem}")
    return p


def write_atomically(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """``write(f)`` into a hidden temporary file beside ``path``, then rename it onto ``path``.

    A failed write leaves neither a temporary file nor a partial ``path``; it is reported as
    a :class:`CodesignError` naming the path.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise CodesignError(f"cannot write {str(path)!r} ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():  # False, not an error, when the folder itself is missing
            tmp.unlink()
    return path
