"""One writer per sweep directory: ``DIR/.lock`` holds the owner's pid and host.

Two sweeps writing one directory would both time every pending row and race on
``results.parquet``. The lock is an advisory ``flock`` on ``DIR/.lock``, which the
operating system releases when its holder dies however it dies (``kill -9`` included): a
lock file left by a dead process is simply taken over, and the pid written in it serves
only to tell a second writer who holds the directory. The file is removed on release.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from codesign.errors import CodesignError

LOCK = ".lock"


def owner(path: Path) -> str:
    """Who a lock file names: ``pid 123 on host``, or why that cannot be told."""
    try:
        data = json.loads(path.read_text())
        return f"pid {int(data['pid'])} on {data['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not written its pid yet"


def _acquire(path: Path) -> int:
    """An open descriptor of ``path`` holding its exclusive lock, or a CodesignError."""
    import fcntl  # POSIX only; imported here so that the package imports anywhere

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CodesignError(
                f"{str(path.parent)!r} is being written by another sweep ({owner(path)}, "
                f"see {path}): wait for it to finish, or give another output directory"
            ) from None
        except OSError as exc:  # a file system without locks: run, but say so
            print(f"codesign sweep: warning: cannot lock {path} ({exc}); a second sweep "
                  "into this directory would not be detected", file=sys.stderr)
            return fd
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its last holder removed between our open and our lock
            return fd
        os.close(fd)


@contextmanager
def locked(directory: Path) -> Iterator[Path]:
    """Hold ``directory``'s lock for the body; a live holder is refused in one line."""
    path = Path(directory) / LOCK
    fd = _acquire(path)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        yield path
    finally:
        path.unlink(missing_ok=True)  # still ours: nobody else can hold it while we do
        os.close(fd)


def holder(directory: Path) -> str | None:
    """Who holds ``directory``'s lock now (a sweep writing it), or None."""
    path = Path(directory) / LOCK
    try:
        import fcntl

        fd = os.open(path, os.O_RDONLY)
    except (ImportError, OSError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return owner(path)
    except OSError:
        return None
    finally:
        os.close(fd)  # closing releases a shared lock we got
    return None
