"""How politely the operator calls the API server: a client-side rate limit, and when to try a refused call again.

Pure (the caller passes the clock and the answer's status and headers), so that kube.py only waits and retries.
Both follow client-go, which every Kubernetes controller uses: a token bucket (``--kube-api-qps``,
``--kube-api-burst``; golang.org/x/time/rate), and a call answered 429 Too Many Requests (API Priority and
Fairness, or ``--max-requests-inflight``), or 5xx with a Retry-After header, is sent again after that many seconds.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping

#: The longest wait a Retry-After header can ask of one call. API Priority and Fairness asks for more than 30 s
#: when a priority level stays full (measured: 32 s, benchmarks/throughput_bench.py --tight-apf): that is waited.
MAX_RETRY_AFTER = 60.0
#: The wait after a 429 without a usable Retry-After header (client-go's default too).
DEFAULT_RETRY_AFTER = 1.0
#: Tries of one call answered 429 (or 5xx with Retry-After) before its error goes to the caller (client-go's 10).
MAX_TRIES = 10


class TokenBucket:
    """``qps`` calls a second on average, up to ``burst`` at once after a quiet spell.

    A call takes a token and waits until the bucket has earned it: tokens taken ahead of time make the count
    negative, so callers arriving together are spaced 1/qps apart in arrival order (rate.Limiter's Reserve)."""

    def __init__(self, qps: float, burst: int, now: float):
        if not qps > 0 or burst < 1:
            raise ValueError(f"a rate limit needs qps > 0 and burst >= 1 (got qps {qps}, burst {burst})")
        self.qps, self.burst = qps, burst
        self.tokens = float(burst)
        self.updated = now

    def reserve(self, now: float) -> float:
        """Take a token at ``now``; the seconds to wait before making the call (0: at once)."""
        self.tokens = min(float(self.burst), self.tokens + max(0.0, now - self.updated) * self.qps)
        self.updated = max(self.updated, now)
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.qps


def retry_after(value: str | None, now: float) -> float | None:
    """A Retry-After header's seconds (``"1"``, or an HTTP date, against ``now`` in epoch seconds), at most
    MAX_RETRY_AFTER; None when there is no header or it is not one of those."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def retry_delay(status: int | None, headers: Mapping[str, str] | None, now: float) -> float | None:
    """How long to wait before sending a refused call again, or None when it must not be: 429 always (the
    server did not take the request, so sending it again is safe), 5xx only when it says when with Retry-After."""
    found = {key.lower(): value for key, value in (headers or {}).items()}.get("retry-after")
    seconds = retry_after(found, now)
    if status == 429:
        return DEFAULT_RETRY_AFTER if seconds is None else seconds
    if status is not None and status >= 500 and seconds is not None:
        return seconds
    return None
