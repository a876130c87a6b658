"""The operator's one admission coordinator: which Runs may start, and how many step pods a namespace runs.

Kept current by events (Runs, Queues, step pods) and asked by the Runs' reconcilers; the decisions are the
engine's (engine.queueing). Every answer is computed and recorded with no await in between, so two reconcilers
asking at once can never both take the last slot: they, and the event handlers that feed it (all `async def`),
share one event loop, and nothing here is touched from another thread. A Run counts as running from the
moment it is admitted, before its status says so, until it finishes or is deleted. Level-based: the first time
a namespace is asked about, its Runs, Queues and step pods are listed, so a restarted operator counts what runs
from the Runs' statuses (startedAt set, not finished) and the pods that exist; it is listed again every
RELIST_SECONDS for deletions no event reported.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeline.api.models import QueueStatus
from kubeline.controller.config import NamespaceLimits
from kubeline.controller.kube import Kube
from kubeline.controller.reconciler import version_of
from kubeline.controller.status import seconds
from kubeline.engine import queueing

FINISHED = ("Succeeded", "Failed", "Cancelled")
#: Queue status writes wait this long after a change, so that a burst of changes becomes one write.
PUBLISH_SECONDS = 0.5
#: After a failed Queue status write, the next try comes this much later.
PUBLISH_RETRY_SECONDS = 5.0
#: How often each namespace admission knows is listed again: a watch restarted after "410 Gone" re-lists
#: without a DELETED event for what was deleted meanwhile, whose room would otherwise stay taken for good.
RELIST_SECONDS = 60.0

log = logging.getLogger("kubeline.admission")


def _fields(item: Mapping[str, Any], **kept: tuple[str, ...]) -> dict[str, Any]:
    parts = {part: item.get(part) or {} for part in kept}
    return {part: {key: parts[part][key] for key in keys if key in parts[part]} for part, keys in kept.items()}


def admission_fields(run: dict[str, Any]) -> dict[str, Any]:
    """What run_seen reads of a listed Run: a namespace's 10,000 finished Runs are held as this, not whole."""
    return _fields(
        run,
        metadata=("name", "resourceVersion", "creationTimestamp"),
        spec=("queue", "priority", "cancel"),
        status=("phase", "startedAt", "queue"),
    )


def pod_fields(pod: dict[str, Any]) -> dict[str, Any]:
    """What pod_seen reads of a listed step pod."""
    return _fields(pod, metadata=("name", "resourceVersion"), status=("phase",))


@dataclass
class Namespace:
    """What admission knows of one namespace."""

    runs: dict[str, queueing.RunRecord] = field(default_factory=dict)  # unfinished Runs by name
    versions: dict[str, int] = field(default_factory=dict)  # the newest resourceVersion seen of each Run
    granted: set[str] = field(default_factory=set)  # admitted, whatever their status says yet
    queues: dict[str, int] = field(default_factory=dict)  # Queue name -> maxRunning
    queue_status: dict[str, dict[str, Any]] = field(default_factory=dict)  # as last written (or seen)
    pods: set[str] = field(default_factory=set)  # running step pods (created, or allowed to be)
    #: Step pods allowed by take_pod and not known to exist yet, with the Run that asked: the Run's end, or a
    #: failed creation, gives the room back.
    reserved: dict[str, str] = field(default_factory=dict)
    #: Runs with steps waiting for pod room, and since when: freed room goes to those waiting longest.
    throttled: dict[str, float] = field(default_factory=dict)
    #: Admitted Runs that could not start (a missing Pipeline): out of line until they ask again, so that they
    #: do not hold their Queue's room for nothing.
    stalled: set[str] = field(default_factory=set)
    told: dict[str, str] = field(default_factory=dict)  # why each waiting Run was last told it waits
    loaded: bool = False
    #: While a re-list is in flight: what events reported meanwhile, as (kind, name); newer than the listing.
    seen_while_listing: set[tuple[str, str]] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Admission:
    """``wake(namespace, run)`` wakes a Run's reconciler: called for the waiting Runs when room frees or
    their places change, and for the Runs with steps held back when a step pod ends."""

    def __init__(self, kube: Kube, limits: NamespaceLimits, wake: Callable[[str, str], None]):
        self.kube, self.limits, self.wake = kube, limits, wake
        self.namespaces: dict[str, Namespace] = {}
        self.dirty: set[str] = set()  # namespaces whose Queue statuses may be out of date
        self.changed = asyncio.Event()

    # -- asked by the reconcilers ---------------------------------------------------------------------------

    async def ask(self, namespace: str, run: Mapping[str, Any]) -> str | None:
        """None when the Run may start now (it counts as running from now on), else why it waits."""
        name = run["metadata"]["name"]
        limits = self.limits.for_namespace(namespace)
        if limits.runs is None and not (run.get("spec") or {}).get("queue"):
            return None  # nothing limits it: no listing needed (the common case of a cluster without queues)
        place = await self._loaded(namespace)
        self.run_seen(namespace, run)
        place.stalled.discard(name)
        if name in place.granted:
            return None
        answer = queueing.admit(self._eligible(place), place.queues, limits, time.time())
        if name not in answer.admitted:
            place.told[name] = answer.reasons.get(name, "waiting for room")
            return place.told[name]
        place.told.pop(name, None)
        place.granted.add(name)
        record = place.runs.get(name)
        if record is not None:
            place.runs[name] = dataclasses.replace(record, state="running")
        self._changed(namespace)
        return None

    def release(self, namespace: str, name: str) -> None:
        """An admitted Run that could not start after all (its Pipeline is missing): its room goes to others,
        and it asks again."""
        place = self.namespaces.get(namespace)
        if place is None or name not in place.granted:
            return
        place.granted.discard(name)
        place.stalled.add(name)
        record = place.runs.get(name)
        if record is not None:
            place.runs[name] = dataclasses.replace(record, state="waiting")
        self._changed(namespace)  # out of line, it is not woken: it asks again on its own next pass

    async def take_pod(self, namespace: str, run: str, pod: str) -> bool:
        """Whether the Run may create step pod ``pod`` now (it counts as running from now on); when not, the
        Run is woken when a step pod of the namespace ends and its turn has come."""
        limits = self.limits.for_namespace(namespace)
        if limits.step_pods is None:
            return True
        place = await self._loaded(namespace)
        if pod in place.pods:
            return True
        room = queueing.step_pod_room(limits, len(place.pods), len(place.throttled) + 1)
        line = {**place.throttled, run: place.throttled.get(run, time.time())}
        if run in queueing.pod_turns(line, room):
            place.throttled.pop(run, None)  # served: at the back of the line if it must wait again
            place.pods.add(pod)
            place.reserved[pod] = run
            return True
        place.throttled[run] = line[run]
        return False

    def pods_not_wanted(self, namespace: str, run: str) -> None:
        """The Run's last pass asked for no pod it did not get: it leaves the line for pod room, so that it
        does not hold up the Runs behind it."""
        place = self.namespaces.get(namespace)
        if place is not None and place.throttled.pop(run, None) is not None:
            self._pod_ended(namespace, place)

    def pod_created(self, namespace: str, pod: str) -> None:
        """A step pod allowed by take_pod exists: it counts until its events say it ended."""
        place = self.namespaces.get(namespace)
        if place is not None:
            place.reserved.pop(pod, None)

    def release_pod(self, namespace: str, pod: str) -> None:
        """A step pod allowed by take_pod that was not created after all (refused, or the request failed)."""
        place = self.namespaces.get(namespace)
        if place is not None and place.reserved.pop(pod, None) is not None:
            place.pods.discard(pod)
            self._pod_ended(namespace, place)

    # -- fed by events -------------------------------------------------------------------------------------

    def run_seen(self, namespace: str, run: Mapping[str, Any], deleted: bool = False) -> None:
        place = self._namespace(namespace)
        metadata = run.get("metadata") or {}
        name, version = metadata.get("name", ""), version_of(run)
        if version < place.versions.get(name, 0):
            return  # an older copy than one already seen (a listing that crossed an event)
        self._note(place, "runs", name)
        status, spec = run.get("status") or {}, run.get("spec") or {}
        started = bool(status.get("startedAt")) or name in place.granted
        if deleted or status.get("phase") in FINISHED or (spec.get("cancel") and not started):
            # a cancelled Run that has not started never will: it takes no room
            self._forget_run(namespace, place, name)
            if not place.loaded:
                place.versions[name] = version  # kept while loading: the listing may be older than the deletion
            return
        before = place.runs.get(name)
        place.versions[name] = version
        if status.get("startedAt"):
            queue = status.get("queue")  # the Queue it was admitted from: an edit of spec.queue moves no room
        elif started and before is not None:
            queue = before.queue  # admitted, its status not written yet
        else:
            queue = spec.get("queue")
        record = queueing.RunRecord(
            name=name,
            created=seconds(metadata.get("creationTimestamp")) or 0.0,
            state="running" if started else "waiting",
            queue=queue,
            priority=int(spec.get("priority") or 0),
        )
        place.runs[name] = record
        if record != before:
            self._changed(namespace)

    def queue_seen(self, namespace: str, queue: Mapping[str, Any], deleted: bool = False) -> None:
        place = self._namespace(namespace)
        name = queue["metadata"]["name"]
        self._note(place, "queues", name)
        limit = (queue.get("spec") or {}).get("maxRunning")
        before = place.queues.get(name)
        if deleted or not isinstance(limit, int):
            place.queues.pop(name, None)
            place.queue_status.pop(name, None)
        else:
            place.queues[name] = limit
            place.queue_status[name] = queue.get("status") or {}
        if place.queues.get(name) != before:
            self._changed(namespace)

    def pod_seen(self, namespace: str, pod: Mapping[str, Any], deleted: bool = False) -> None:
        place = self._namespace(namespace)
        name = pod["metadata"]["name"]
        self._note(place, "pods", name)
        place.reserved.pop(name, None)  # it exists (or did): its events count it from now on
        if not deleted and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            place.pods.add(name)
        elif name in place.pods:
            place.pods.discard(name)
            self._pod_ended(namespace, place)

    async def relist(self) -> None:
        """List every namespace admission knows again, every RELIST_SECONDS, for the operator's life: what a
        listing lacks is gone (its room goes back), what it has is counted as it is."""
        while True:
            await asyncio.sleep(RELIST_SECONDS)
            for namespace in [name for name, place in self.namespaces.items() if place.loaded]:
                try:
                    await self._relist(namespace)
                except Exception as error:  # noqa: BLE001 - any failure: the next listing makes up for it
                    log.warning("listing %s again for admission failed: %s", namespace, error)

    async def _relist(self, namespace: str) -> None:
        place = self.namespaces[namespace]
        place.seen_while_listing = set()
        try:
            listed = {
                "runs": await self.kube.list_custom(namespace, "runs", keep=admission_fields),
                "queues": await self.kube.list_custom(namespace, "queues"),
                "pods": await self.kube.list_step_pods(namespace, keep=pod_fields),
            }
        finally:
            newer, place.seen_while_listing = place.seen_while_listing, None
        seen = {"runs": self.run_seen, "queues": self.queue_seen, "pods": self.pod_seen}
        names: dict[str, set[str]] = {}
        for kind, items in listed.items():
            names[kind] = {item["metadata"]["name"] for item in items}
            for item in items:
                if (kind, item["metadata"]["name"]) not in newer:  # an event said more since
                    seen[kind](namespace, item)

        def gone(kind: str, known: Iterable[str]) -> list[str]:
            return [name for name in known if name not in names[kind] and (kind, name) not in newer]

        for name in gone("runs", place.runs):
            self._forget_run(namespace, place, name)
        for name in gone("queues", place.queues):
            self.queue_seen(namespace, {"metadata": {"name": name}}, deleted=True)
        lost_pods = [pod for pod in gone("pods", place.pods) if pod not in place.reserved]  # reserved: not made yet
        for pod in lost_pods:
            place.pods.discard(pod)
        if lost_pods:
            self._pod_ended(namespace, place)

    # -- Queue statuses ------------------------------------------------------------------------------------

    async def publish(self) -> None:
        """Write the Queue statuses that changed, a moment after each change; runs for the operator's life."""
        while True:
            await self.changed.wait()
            self.changed.clear()
            await asyncio.sleep(PUBLISH_SECONDS)
            dirty, self.dirty = self.dirty, set()
            for namespace in dirty:
                try:
                    await self._publish(namespace)
                except Exception as error:  # noqa: BLE001 - any failure: written again a little later
                    log.warning("writing the Queue statuses of %s failed: %s", namespace, error)
                    await asyncio.sleep(PUBLISH_RETRY_SECONDS)
                    self._changed(namespace)

    async def _publish(self, namespace: str) -> None:
        if not self.namespaces[namespace].queues:
            return  # nothing to show (and no listing needed in a namespace without Queues)
        place = await self._loaded(namespace)
        limits = self.limits.for_namespace(namespace)
        answer = queueing.admit(self._eligible(place), place.queues, limits, time.time())
        for name, view in answer.queues.items():
            status = QueueStatus(
                running=view.running,
                waiting=view.waiting,
                running_count=len(view.running),
                waiting_count=view.waiting_count,
            ).to_dict()
            if place.queue_status.get(name) != status:
                await self.kube.write_queue_status(namespace, name, status)
                place.queue_status[name] = status

    # -- inside ----------------------------------------------------------------------------------------------

    @staticmethod
    def _note(place: Namespace, kind: str, name: str) -> None:
        if place.seen_while_listing is not None:
            place.seen_while_listing.add((kind, name))

    def _forget_run(self, namespace: str, place: Namespace, name: str) -> None:
        """A Run finished or deleted: it takes no room, and its reserved step pod room goes back."""
        before = place.runs.pop(name, None)
        for names in (place.granted, place.stalled):
            names.discard(name)
        place.throttled.pop(name, None)
        place.told.pop(name, None)
        place.versions.pop(name, None)
        self._drop_reservations(namespace, place, name)
        if before is not None:
            self._changed(namespace)

    def _namespace(self, namespace: str) -> Namespace:
        return self.namespaces.setdefault(namespace, Namespace())

    async def _loaded(self, namespace: str) -> Namespace:
        """The namespace, listed once (events keep it current after that)."""
        place = self._namespace(namespace)
        if place.loaded:
            return place
        async with place.lock:
            if not place.loaded:
                runs = await self.kube.list_custom(namespace, "runs", keep=admission_fields)
                queues = await self.kube.list_custom(namespace, "queues")
                pods = await self.kube.list_step_pods(namespace, keep=pod_fields)
                for run in runs:
                    self.run_seen(namespace, run)
                for queue in queues:
                    self.queue_seen(namespace, queue)
                for pod in pods:
                    self.pod_seen(namespace, pod)
                place.loaded = True
                place.versions = {name: place.versions[name] for name in place.runs}
        return place

    @staticmethod
    def _eligible(place: Namespace) -> list[queueing.RunRecord]:
        """The Runs admission decides about: all unfinished ones but the stalled."""
        return [record for name, record in place.runs.items() if name not in place.stalled]

    def _changed(self, namespace: str) -> None:
        """Room or order changed: the Runs that may start now, or whose place moved, ask again (the others are
        left alone: a change wakes a few Runs, not every waiting one), and the Queue statuses are written again."""
        place = self._namespace(namespace)
        self.dirty.add(namespace)
        self.changed.set()
        if not place.loaded:  # before its listing no Run of the namespace has asked, so none has been told to wait
            return
        answer = queueing.admit(self._eligible(place), place.queues, self.limits.for_namespace(namespace), time.time())
        for name in answer.admitted:
            if name not in place.granted:
                self.wake(namespace, name)
        for name, reason in answer.reasons.items():
            if place.told.get(name) != reason:
                self.wake(namespace, name)

    def _drop_reservations(self, namespace: str, place: Namespace, run: str) -> None:
        """A finished or deleted Run makes no more pods: the room it reserved for pods it never made goes back."""
        dropped = [pod for pod, owner in place.reserved.items() if owner == run]
        for pod in dropped:
            del place.reserved[pod]
            place.pods.discard(pod)
        if dropped:
            self._pod_ended(namespace, place)

    def _pod_ended(self, namespace: str, place: Namespace) -> None:
        """Room for step pods freed: the Runs whose turn it is ask again (the others stay asleep)."""
        room = queueing.step_pod_room(self.limits.for_namespace(namespace), len(place.pods), len(place.throttled))
        for name in queueing.pod_turns(place.throttled, room):
            self.wake(namespace, name)
