"""Which replica acts: the timings of the Lease election and the decisions made from them, without the API.

Two operator replicas run; the one holding a coordination.k8s.io Lease runs kopf, the other stands by
(controller/kube.py's LeaseElection does the API calls, with the client library's elector).

Why a leader stops acting before anyone may take its lease:
  - a leader counts from the START of its last successful renew request (S, its monotonic clock). The server
    wrote renewTime at or after S, and a standby saw that record change at O >= S;
  - a standby takes the lease only when the longer of its own lease_duration and the one written in the Lease
    has passed, on its monotonic clock, since it saw the record last change: not before
    O + lease_duration >= S + lease_duration, whatever timings each replica was started with;
  - the leader's watchdog ends the process at S + renew_deadline.
So lease_duration - renew_deadline (3 s by default) is the margin for the watchdog's wake-up, the process's
exit and a request already sent; neither side compares the other's wall clock, only durations.

How fast a standby takes over (defaults 10 / 7 / 1 s): a dead leader last renewed at most one retry period
(plus a request) before it died; the standby saw that renewal up to one retry period after it was written, and
takes the lease at its first try once lease_duration has passed since it saw it, up to another retry period
later: at worst lease_duration + 2 x retry_period after the death (12 s; 14 s with a 2 s retry period), 10-11 s
measured, then kopf starts and creates the next pod (0.3 s measured). client-go's 15 / 10 / 2 would miss the
15 s goal. A try each second costs the leader one read and one write of a small object, a standby one read.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

#: Called with True when this replica starts acting, False when it stops (the kubeline_leader gauge).
LeadershipHook = Callable[[bool], None]


@dataclass(frozen=True)
class Timings:
    """Seconds, whole (the Lease stores leaseDurationSeconds as an integer)."""

    lease_duration: int = 10
    renew_deadline: int = 7
    retry_period: int = 1

    def problems(self) -> list[str]:
        """What is wrong with these timings, each naming the flag and the fix; empty when they are safe."""
        found = []
        if self.retry_period < 1:
            found.append(f"--retry-period ({self.retry_period} s) must be at least 1 s")
        if self.renew_deadline < 2 * self.retry_period + 2:
            found.append(
                f"--renew-deadline ({self.renew_deadline} s) must be at least 2 x --retry-period + 2 s "
                f"({2 * self.retry_period + 2} s): a leader gets two tries to renew, each allowed a second or more"
            )
        if self.lease_duration < self.renew_deadline + 2:
            found.append(
                f"--lease-duration ({self.lease_duration} s) must be at least --renew-deadline + 2 s "
                f"({self.renew_deadline + 2} s): a leader that cannot renew must stop acting before a standby may "
                "take its lease, with time to exit and for a request already sent to land"
            )
        return found

    @property
    def request_timeout(self) -> float:
        """How long one Lease request may take (the library sets no timeout at all). A try is a GET then a PUT:
        a try whose two requests both hang, then a second try, each after a retry period's pause, end within
        the renew deadline."""
        return (self.renew_deadline - 2 * self.retry_period) / 4


def identity(environ: Mapping[str, str]) -> str:
    """This replica's name in the Lease: its pod's (downward API), else one unique to this process.
    A pod's name is held by one live pod at a time, so a container restarted in its pod renews a Lease it held
    at once; two live processes must never share a POD_NAME."""
    pod = environ.get("POD_NAME")
    if pod:
        return pod
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def lease_namespace(explicit: str | None, environ: Mapping[str, str], watched: Sequence[str]) -> str:
    """Where the Lease lives: the flag, else the operator's own namespace, else the first one it watches."""
    return explicit or environ.get("POD_NAMESPACE") or (watched[0] if watched else "default")


def may_take(me: str, holder: str | None, durations: Sequence[float], seen_change: float, now: float) -> bool:
    """Whether this replica may write the Lease: it holds it, nobody does, or the record has not changed for the
    longest of ``durations`` (its own lease duration and the Lease's) since ``seen_change``, on a monotonic
    clock (a wall clock stepped by NTP would take a lease early)."""
    return holder in (None, "", me) or now - seen_change >= max(durations)


def standby_message(me: str, leading: bool, before: str | None, holder: str | None) -> str | None:
    """The log line for a standby that sees the Lease change hands (None: nothing new to say)."""
    if leading or holder == before or holder in (None, me):
        return None
    return f"standing by behind {holder}"


def taken_from(me: str, leading: bool, holder: str | None) -> bool:
    """Whether a leader sees another replica's name in its Lease: it must stop acting at once."""
    return leading and holder is not None and holder != me


def overwritten(leading: bool, verb: str, status: int | None) -> bool:
    """Whether a leader's write got a conflict: another replica wrote the Lease (or it was deleted and made again),
    and the leader must stop acting at once, not at its next read."""
    return leading and verb != "get" and status == 409


class Refusals:
    """The API server's error answers to Lease requests, said once per change: the client library turns them into
    a silent False, and a replica refused (403: missing RBAC) would stand by for good."""

    def __init__(self, lease: str):
        self.lease = lease
        self.status: int | None = None

    def answered(self, verb: str, status: int | None) -> str | None:
        """The line to log for this answer (None: a success, a 404 or a 409 is the election's normal course, or
        the same refusal again)."""
        if status in (None, 404, 409):
            line = f"Lease {self.lease} requests are answered again" if self.status is not None else None
            self.status = None
            return line
        if status == self.status:
            return None
        self.status = status
        namespace = self.lease.split("/")[0]
        return (
            f"Lease {self.lease}: {verb} answered {status}; this replica cannot lead until it is fixed "
            f"(the Role must grant get, create and update on leases in namespace {namespace})"
        )


class Watchdog:
    """Ends a leader's acting when it has not renewed within renew_deadline.

    Counting starts at the START of the last successful renew request (see the module's docstring). A thread of
    its own sleeps until the deadline, so a hung request or a busy event loop cannot delay it.
    """

    def __init__(
        self, renew_deadline: float, expired: Callable[[float], None], clock: Callable[[], float] = time.monotonic
    ):
        self.renew_deadline = renew_deadline
        self.expired = expired  # called once, with the seconds since the last successful renew began
        self.clock = clock
        self._renewed_from: float | None = None
        self._changed = threading.Condition()

    def renewed(self, started: float) -> None:
        """A renew (or the acquiring write) that began at ``started`` succeeded: the deadline moves on."""
        with self._changed:
            if self._renewed_from is None or started > self._renewed_from:
                self._renewed_from = started
            self._changed.notify()

    def disarm(self) -> None:
        """The lease was given up on purpose: nothing to watch any more."""
        with self._changed:
            self._renewed_from = None
            self._changed.notify()

    def watch(self) -> None:
        """The thread's body: returns after calling ``expired``, or never while renewals keep coming."""
        with self._changed:
            while True:
                if self._renewed_from is None:
                    self._changed.wait()
                    continue
                remaining = self._renewed_from + self.renew_deadline - self.clock()
                if remaining <= 0:
                    since = self.clock() - self._renewed_from
                    break
                self._changed.wait(remaining)
        self.expired(since)
