"""The local runner's runs as a Source: ``$KUBELINE_HOME/runs/NAME/run.yaml``, written by `kubeline run`.

Changes are found by stat()ing each run's document every SCAN_SECONDS (local files only: no server to
overload) and read only when its size or time changed. Logs come from the running step's log file in the run's
folder, else from the run's artifact store. Deleting removes a finished run's folder, only inside runs/;
cancelling and starting runs needs the runner of this process (`kubeline run --ui`).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from kubeline.backends.local import kubeline_home, reused_steps, stored_logs
from kubeline.backends.local.files import inside
from kubeline.backends.local.pod import LOCAL_NAMESPACE
from kubeline.engine import stepid
from kubeline.sdk.client import stored_log
from kubeline.store import StoreError
from kubeline.ui.rows import RunRow, run_row
from kubeline.ui.sources import ActionRefused, Change, Hub, read_artifact

RUN_DOCUMENT = "run.yaml"
SCAN_SECONDS = 0.5
#: Largest run document read (a 10,000-step run's status is a few MB).
MAX_DOCUMENT = 64 << 20
LOG_CHUNK = 64 << 10
#: Most bytes of a finished step's log file read at once.
MAX_LOG = 16 << 20


def read_document(path: Path) -> dict[str, Any] | None:
    """A run document (JSON, as `kubeline run` writes it; YAML accepted), or None when unreadable."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_DOCUMENT + 1)
    except OSError:
        return None
    if len(data) > MAX_DOCUMENT:
        return None
    try:
        document = json.loads(data)
    except ValueError:
        import yaml

        try:
            document = yaml.safe_load(data)
        except yaml.YAMLError:
            return None
    return document if isinstance(document, dict) else None


class LocalSource:
    def __init__(
        self,
        home: Path | None = None,
        *,
        cancellers: dict[str, Callable[[], None]] | None = None,
        read_only: bool = False,
    ):
        self.writable = not read_only
        self.home = home or kubeline_home()
        self.root = self.home / "runs"
        self.label = f"local runs in {self.home}"
        self.hub = Hub()
        #: Runs of this process that can be cancelled (`kubeline run --ui`), by name.
        self.cancellers = cancellers if cancellers is not None else {}
        self._rows: dict[str, RunRow] = {}
        self._seen: dict[str, tuple[int, int]] = {}
        #: Runs whose document could not be read (not JSON or YAML, too big, unreadable), by name.
        self._unreadable: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self._scan)
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(SCAN_SECONDS)
            for change in await asyncio.to_thread(self._scan):
                self.hub.publish(change)

    def _scan(self) -> list[Change]:
        """Reads the documents that changed since the last scan; the changes, documents attached."""
        changes: list[Change] = []
        present: set[str] = set()
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            entries = []
        for entry in entries:
            try:
                info = os.stat(os.path.join(entry.path, RUN_DOCUMENT))
            except OSError:
                continue
            name = entry.name
            present.add(name)
            signature = (info.st_mtime_ns, info.st_size)
            if self._seen.get(name) == signature:
                continue
            document = read_document(Path(entry.path) / RUN_DOCUMENT)
            if document is None:
                self._unreadable.add(name)
                continue
            self._unreadable.discard(name)
            self._seen[name] = signature
            added = name not in self._rows
            self._rows[name] = self._row(name, document)
            changes.append(Change("Run", "ADDED" if added else "MODIFIED", LOCAL_NAMESPACE, name, document))
        self._unreadable &= present
        for name in set(self._rows) - present:
            del self._rows[name]
            self._seen.pop(name, None)
            changes.append(Change("Run", "DELETED", LOCAL_NAMESPACE, name))
        return changes

    @staticmethod
    def _row(name: str, document: dict[str, Any]) -> RunRow:
        metadata = document.get("metadata")
        if isinstance(metadata, dict):  # the folder's name is the run's name, whatever the file says
            document = {**document, "metadata": {**metadata, "name": name, "namespace": LOCAL_NAMESPACE}}
        return run_row(document)

    def problems(self) -> list[str]:
        return [
            f"cannot read {self.root / name / RUN_DOCUMENT}: not a run document (or too big)"
            for name in sorted(self._unreadable)
        ]

    def rows(self) -> Sequence[RunRow]:
        return list(self._rows.values())

    def row(self, namespace: str, name: str) -> RunRow | None:
        return self._rows.get(name) if namespace == LOCAL_NAMESPACE else None

    def _run_dir(self, name: str) -> Path | None:
        try:
            return inside(self.root, name) if name and "/" not in name else None
        except ValueError:
            return None

    async def run(self, namespace: str, name: str) -> dict[str, Any] | None:
        run_dir = self._run_dir(name) if namespace == LOCAL_NAMESPACE else None
        if run_dir is None:
            return None
        return await asyncio.to_thread(read_document, run_dir / RUN_DOCUMENT)

    def pipelines(self) -> Sequence[dict[str, Any]]:
        return []

    async def pipeline(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    async def log(self, namespace: str, run: dict[str, Any], step: str, follow: bool) -> AsyncIterator[str]:
        """The step's log: its latest attempt's file while it runs (followed until it ends, with ``follow``),
        else the copy in the run's artifact store."""
        name = str((run.get("metadata") or {}).get("name", ""))
        task = ((run.get("status") or {}).get("tasks") or {}).get(step) or {}
        run_dir = self._run_dir(name)
        if task.get("phase") == "Running" and run_dir is not None:
            path = self._log_file(run_dir, step, task.get("attempts"))
            if path is not None:
                async for chunk in self._tail(path, name, step, follow):
                    yield chunk
                return
        yield await asyncio.to_thread(self._finished_log, run_dir, name, step, run, task)

    def _finished_log(
        self, run_dir: Path | None, name: str, step: str, run: dict[str, Any], task: dict[str, Any]
    ) -> str:
        """A finished step's log: the copy its status names, else the run's stored logs, else its folder's file."""
        if task.get("log"):
            status = run.get("status")
            store_url = status.get("artifactStore") if isinstance(status, dict) else None
            return stored_log(store_url if isinstance(store_url, str) else None, str(task["log"]))
        if run_dir is not None:
            try:
                found = stored_logs(run_dir, name, step, reused_steps(run.get("status"))).get(step)
            except (StoreError, ValueError):
                found = None
            if found is not None:
                return found
            path = self._log_file(run_dir, step, task.get("attempts"))
            if path is not None:
                return _read_from(path, 0, MAX_LOG).decode(errors="replace")
        return "(no log recorded for this step: it was cached, skipped, or has not started)"

    @staticmethod
    def _log_file(run_dir: Path, step: str, attempts: Any) -> Path | None:
        try:
            folder = run_dir / "steps" / stepid.folder_name(step)
        except ValueError:
            return None
        if isinstance(attempts, int) and (folder / f"attempt-{attempts}" / "log").is_file():
            return folder / f"attempt-{attempts}" / "log"
        numbered = [(_attempt_number(path.parent.name), path) for path in folder.glob("attempt-*/log")]
        logs = sorted((number, path) for number, path in numbered if number is not None)
        return logs[-1][1] if logs else None

    async def _tail(self, path: Path, name: str, step: str, follow: bool) -> AsyncIterator[str]:
        offset = 0
        while True:
            data = await asyncio.to_thread(_read_from, path, offset)
            if data:
                offset += len(data)
                yield data.decode(errors="replace")
                continue
            if not follow:
                return
            document = await self.run(LOCAL_NAMESPACE, name)
            task = ((document or {}).get("status") or {}).get("tasks", {}).get(step) or {}
            if task.get("phase") != "Running":
                rest = await asyncio.to_thread(_read_from, path, offset)
                if rest:
                    yield rest.decode(errors="replace")
                return
            await asyncio.sleep(SCAN_SECONDS)

    async def events(self, namespace: str, run_name: str, pods: Sequence[str] = ()) -> list[dict[str, Any]]:
        return []  # no Kubernetes here

    async def artifact(self, run: dict[str, Any], key: str, limit: int) -> tuple[bytes, int | None]:
        return await read_artifact(run, key, limit)

    async def create_run(
        self,
        namespace: str,
        pipeline_ref_or_spec: str | dict[str, Any],
        arguments: dict[str, Any],
        *,
        generate_name: str,
        labels: dict[str, str],
    ) -> str:
        raise ActionRefused("local runs are started with `kubeline run FILE` (this UI only shows them)", 409)

    async def retry(self, namespace: str, original: dict[str, Any]) -> str:
        raise ActionRefused(
            f"local runs are retried with `kubeline retry --local {original['metadata']['name']}` "
            "(this UI only shows them)",
            409,
        )

    async def cancel(self, namespace: str, name: str) -> None:
        cancel = self.cancellers.get(name)
        if cancel is None:
            raise ActionRefused(
                f"{name} was not started by this process: cancel it with Ctrl-C where `kubeline run` runs", 409
            )
        cancel()

    async def delete(self, namespace: str, name: str) -> None:
        run_dir = self._run_dir(name) if namespace == LOCAL_NAMESPACE else None
        document = await self.run(namespace, name) if run_dir is not None else None
        if run_dir is None or document is None:
            raise ActionRefused(f"no local run {name}", 404)
        if run_row(document).phase not in ("Succeeded", "Failed", "Cancelled"):
            raise ActionRefused(f"{name} has not finished: cancel it first, then delete it", 409)
        await asyncio.to_thread(shutil.rmtree, run_dir)
        for change in await asyncio.to_thread(self._scan):
            self.hub.publish(change)


def _attempt_number(folder: str) -> int | None:
    """The N of an ``attempt-N`` folder; None for any other name (e.g. ``attempt-x``)."""
    number = folder.removeprefix("attempt-")
    return int(number) if number.isdigit() else None


def _read_from(path: Path, offset: int, size: int = LOG_CHUNK) -> bytes:
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            return file.read(size)
    except OSError:
        return b""
