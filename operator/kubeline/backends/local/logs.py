"""A local run's logs, read back from its artifact store: the run's folder records which store it used."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubeline.engine import stepid
from kubeline.store import ObjectStore, open_store
from kubeline.store.layout import LOCAL_LOG_NAMESPACE, log_run_prefix

#: The file in a run's folder that names its artifact store (the URL given, without credentials).
RUN_RECORD = "run.json"
_ATTEMPT = re.compile(r"attempt-(\d+)\.log")


def record_store(run_dir: Path, store_url: str) -> None:
    (run_dir / RUN_RECORD).write_text(json.dumps({"artifactStore": store_url}) + "\n", encoding="utf-8")


def recorded_store(run_dir: Path) -> str:
    """The URL of the artifact store the local run used; ValueError when its record is unreadable."""
    try:
        url = json.loads((run_dir / RUN_RECORD).read_text(encoding="utf-8"))["artifactStore"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{run_dir / RUN_RECORD} does not name the run's artifact store ({error})") from None
    if not isinstance(url, str):
        raise ValueError(f"{run_dir / RUN_RECORD} does not name the run's artifact store (not a text: {url!r})")
    return url


def is_local_run(run_dir: Path) -> bool:
    return (run_dir / RUN_RECORD).is_file()


def stored_logs(
    run_dir: Path, run: str, task: str | None = None, reused: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The latest attempt's log of each step of the run (or of ``task``: a task name or a step id), by step id;
    a step a retry reused (``reused``: step id -> the run where it ran, see ``reused_steps``) has its log
    there, in the same store. StoreError when the store fails; ValueError when the run's record is unreadable."""
    store = open_store(recorded_store(run_dir))
    logs = _latest_logs(store, run, task)
    for original in sorted(set((reused or {}).values())):
        theirs = _latest_logs(store, original, task)
        logs.update({step: text for step, text in theirs.items() if (reused or {}).get(step) == original})
    return dict(sorted(logs.items()))


def reused_steps(status: Any) -> dict[str, str]:
    """The steps a retry took from another run, by step id, with that run's name (from a run document's status)."""
    tasks = status.get("tasks") if isinstance(status, dict) else None
    return {
        step: task["reusedFrom"]
        for step, task in (tasks or {}).items()
        if isinstance(task, dict) and isinstance(task.get("reusedFrom"), str)
    }


def _latest_logs(store: ObjectStore, run: str, task: str | None) -> dict[str, str]:
    """The latest attempt's log of each step the run stored itself (or of ``task``), by step id."""
    prefix = log_run_prefix(LOCAL_LOG_NAMESPACE, run)
    latest: dict[str, tuple[int, str]] = {}
    for stored in store.list(prefix):
        folder, _, name = stored.key[len(prefix) :].rpartition("/")
        attempt = _ATTEMPT.fullmatch(name)
        if attempt and int(attempt[1]) > latest.get(folder, (0, ""))[0]:
            latest[folder] = (int(attempt[1]), stored.key)
    logs = {}
    for folder, (_, key) in sorted(latest.items()):
        step = _step_id(folder)
        if stepid.selected(step, task):
            logs[step] = store.get_bytes(key).decode(errors="replace")
    return logs


def _step_id(folder: str) -> str:
    """The step id a folder name stands for (``loop_2.train`` -> ``loop[2].train``; names never hold ``_``);
    a long id's hashed folder name is shown as it is."""
    return folder if "+" in folder else re.sub(r"_(\d+)", r"[\1]", folder)
