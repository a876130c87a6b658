"""Files under $KUBELINE_HOME: run folders, and what steps leave behind, read, copied and removed defensively.

Only regular files are read, never more than a cap, never blocking on a FIFO; nothing under /proc, /sys
or /dev passes as an artifact.
"""

from __future__ import annotations

import os
import secrets
import stat
import time
from pathlib import Path

from kubeline.api.names import MAX_LABEL, name_problem

_SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")


# -- run folders -----------------------------------------------------------------------------------------


def kubeline_home() -> Path:
    """Absolute, because steps run in their own folders and receive paths under it."""
    return Path(os.environ.get("KUBELINE_HOME") or Path.home() / ".kubeline").absolute()


def runs_root() -> Path:
    """``$KUBELINE_HOME/runs``, created; OSError when KUBELINE_HOME is a file or cannot be written."""
    root = kubeline_home() / "runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def default_run_name(pipeline: str) -> str:
    """PIPELINE-TIMESTAMP-RANDOM, the pipeline part shortened so that the whole stays a valid name."""
    suffix = f"-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    return pipeline[: MAX_LABEL - len(suffix)].rstrip("-") + suffix


def create_run_dir(run_name: str, root: Path | None = None) -> Path:
    """A new, empty folder for the run. A folder of that name is never reused (FileExistsError), so
    nothing of an earlier run is overwritten or deleted; ValueError for a name that is not a valid name."""
    problem = name_problem(run_name)
    if problem:
        raise ValueError(f"run name {problem}")
    run_dir = inside(root or runs_root(), run_name)
    run_dir.mkdir()
    return run_dir


def inside(root: Path, relative: str) -> Path:
    """``root / relative``, verified (links and '..' resolved) to lie inside ``root``."""
    path = root / relative
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"{path} would lie outside {root}")
    return path


# -- reading what steps leave behind ---------------------------------------------------------------------


def read_capped(path: Path, limit: int, *, tail: bool = False) -> tuple[bytes, int]:
    """Up to ``limit`` bytes of a regular file (its last ones with ``tail``), and the file's size.

    Opened without blocking and checked to be a regular file, so a FIFO, a device or a huge file left by
    a step can neither hang kubeline nor fill its memory. Without ``tail``, one byte more is read, so a
    caller can tell a file of exactly ``limit`` bytes from a larger one."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"it is {_kind(info.st_mode)}, not a regular file")
        offset = max(0, info.st_size - limit) if tail else 0
        data = os.pread(fd, limit if tail else limit + 1, offset)
        return data, max(info.st_size, offset + len(data))
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


def artifact_problem(path: Path) -> str | None:
    """Why an artifact cannot be passed on or stored: it must be a file, or a folder holding only files and
    folders (a link inside could point anywhere on the machine that unpacks it, so none is stored)."""
    target = os.path.realpath(path)
    if any(target == system or target.startswith(system + "/") for system in _SYSTEM_FOLDERS):
        return f"links into {target}; an artifact must be a file or folder with the step's data, not the system's"
    try:
        mode = path.stat().st_mode  # a link at the top is followed: a step may link to its data
        if stat.S_ISREG(mode):
            return None
        if not stat.S_ISDIR(mode):
            return f"is {_kind(mode)}; an artifact must be a file or a folder"
        for folder, folders, files in os.walk(path):
            for name in folders + files:
                mode = os.lstat(os.path.join(folder, name)).st_mode
                if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    inner = os.path.relpath(os.path.join(folder, name), path)
                    return (
                        f"holds {_kind(mode)} ({inner}); an artifact folder may hold only files and folders: "
                        "copy what a link points to into the folder instead"
                    )
    except OSError as error:  # e.g. a file that vanished while it was looked at
        return f"cannot be read ({error.strerror or error})"
    return None
