"""The local cache: a step's results on disk, under the same keys and staleness rules as the cluster's CacheEntry."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubeline.backends.local.files import copy_artifact, disk_size, read_capped, remove
from kubeline.engine import caching
from kubeline.engine.outputs import value_outputs
from kubeline.engine.state import StartStep

#: Bytes of artifacts one cache entry keeps at most: a step may write a huge (or sparse) file, which
#: passes to the next step by its path at no cost, but copying it into the cache would fill the disk.
MAX_CACHED_ARTIFACT_BYTES = 1 << 30
#: Bytes of a cache entry.json read at most (a real one holds a few KiB of values).
_ENTRY_LIMIT = 1 << 20


def _warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class LocalCache:
    """Step results on disk, one directory per cache key: ``entry.json`` and copies of artifacts.

    An entry is written in a hidden staging folder and renamed into place, so no reader sees half of
    one, and the staging folder is removed on every path. A cache problem never fails a run: an
    unreadable or malformed entry is a miss (with a warning; the step runs again and its result replaces
    the entry), and a result that cannot be stored is only not cached (with a warning)."""

    def __init__(self, root: Path, warn: Callable[[str], None] = _warn_on_stderr):
        self.root = root
        self.warn = warn
        self._warned: set[Path] = set()

    def lookup(self, start: StartStep, now: float) -> dict[str, str] | None:
        if not caching.consulted(start):
            return None
        folder = self.root / start.cache_key
        try:
            data, size = read_capped(folder / "entry.json", _ENTRY_LIMIT)
            if size > _ENTRY_LIMIT:
                raise ValueError(f"it is larger than {_ENTRY_LIMIT} bytes")
            entry = json.loads(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as error:
            problem: str | None = f"entry.json cannot be read ({error})"
        else:
            problem = _entry_problem(entry, start, folder)
        if problem:
            self._ignore(start, folder, problem)
            return None
        if not caching.fresh(start, entry["createdAt"], now):
            return None
        outputs = {output.name: entry["outputs"][output.name] for output in value_outputs(start.component)}
        for name in _artifact_names(start):
            outputs[name] = str(folder / "artifacts" / name)
        return outputs

    def _ignore(self, start: StartStep, folder: Path, problem: str) -> None:
        if folder not in self._warned:  # a waiting step is looked up again and again
            self._warned.add(folder)
            self.warn(f"ignoring the cached result of step {start.id} in {folder}: {problem}; the step runs again")

    def store(self, start: StartStep, outputs: dict[str, str], now: float) -> None:
        if not start.caching_enabled:
            return
        tag = f"{start.cache_key}.{os.getpid()}.{threading.get_ident()}"
        staging, old = self.root / f".staging.{tag}", self.root / f".old.{tag}"
        try:
            self._write(staging, start, outputs, now)
            self._replace(staging, self.root / start.cache_key, old)
        except (OSError, shutil.Error) as error:
            self.warn(f"the result of step {start.id} was not cached: {_first_problem(error)}")
        finally:
            remove(staging)
            remove(old)

    def _write(self, staging: Path, start: StartStep, outputs: dict[str, str], now: float) -> None:
        artifacts = _artifact_names(start)
        size = sum(disk_size(Path(outputs[name])) for name in artifacts)
        if size > MAX_CACHED_ARTIFACT_BYTES:
            raise OSError(
                f"its artifacts take {size:,} bytes of disk, more than the {MAX_CACHED_ARTIFACT_BYTES:,} "
                "the local cache keeps for one step"
            )
        remove(staging)  # left by a kubeline that was killed while storing, with this process id
        (staging / "artifacts").mkdir(parents=True)
        for name in artifacts:
            copy_artifact(Path(outputs[name]), staging / "artifacts" / name)
        entry = {
            "key": start.cache_key,
            "component": start.component.name,
            "createdAt": now,
            "outputs": {k: v for k, v in outputs.items() if k not in artifacts},
            "artifacts": artifacts,
        }
        (staging / "entry.json").write_text(json.dumps(entry, indent=1, ensure_ascii=False), encoding="utf-8")

    @staticmethod
    def _replace(staging: Path, target: Path, old: Path) -> None:
        if os.path.lexists(target):
            target.rename(old)
        staging.rename(target)


def _first_problem(error: BaseException) -> str:
    """One line for a warning: a folder's copy can fail for thousands of files at once."""
    if isinstance(error, shutil.Error) and error.args and isinstance(error.args[0], list) and error.args[0]:
        failures = error.args[0]
        first = failures[0][-1] if isinstance(failures[0], tuple) else failures[0]
        more = f" (and {len(failures) - 1} more files)" if len(failures) > 1 else ""
        return f"copying the artifacts failed: {str(first)[:300]}{more}"
    return str(error)[:500]


def _artifact_names(start: StartStep) -> list[str]:
    return [o.name for o in start.component.outputs or [] if o.type == "artifact"]


def _entry_problem(entry: Any, start: StartStep, folder: Path) -> str | None:
    """What makes a cache entry unusable, or None; the outputs it must hold are the component's."""
    if not isinstance(entry, dict):
        return "entry.json does not hold a JSON object"
    created = entry.get("createdAt")
    if isinstance(created, bool) or not isinstance(created, (int, float)) or not math.isfinite(created):
        return "entry.json has no valid createdAt time"
    values = entry.get("outputs")
    if not isinstance(values, dict):
        return "entry.json has no outputs"
    for output in value_outputs(start.component):
        if not isinstance(values.get(output.name), str):
            return f"entry.json has no value for output {output.name!r}"
    for name in _artifact_names(start):
        if not os.path.lexists(folder / "artifacts" / name):
            return f"the copy of artifact {name!r} is missing"
    return None
