"""The operator's politeness to the API server: its rate limit spaces calls as client-go's does, and a call
the server turns away (429 from API Priority and Fairness) is sent again when the server says, never failing
the step it was for."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from prometheus_client import REGISTRY

from kubeline.controller import kube as kube_module
from kubeline.controller.config import OperatorConfig
from kubeline.controller.kube import Kube
from kubeline.controller.throttle import MAX_RETRY_AFTER, MAX_TRIES, TokenBucket, retry_after, retry_delay


def test_a_burst_goes_at_once_then_calls_are_spaced_by_the_rate() -> None:
    bucket = TokenBucket(qps=10, burst=3, now=0.0)
    waits = [bucket.reserve(0.0) for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])


def test_a_quiet_spell_refills_the_bucket_up_to_the_burst_only() -> None:
    bucket = TokenBucket(qps=10, burst=3, now=0.0)
    for _ in range(3):
        bucket.reserve(0.0)
    assert bucket.reserve(60.0) == 0  # a minute later: full again (3 tokens, not 600)
    assert [bucket.reserve(60.0) for _ in range(3)] == pytest.approx([0, 0, 0.1])


def test_calls_taken_ahead_are_paid_back_before_new_ones_go() -> None:
    bucket = TokenBucket(qps=2, burst=1, now=0.0)
    assert bucket.reserve(0.0) == 0
    assert bucket.reserve(0.0) == pytest.approx(0.5)
    assert bucket.reserve(0.25) == pytest.approx(0.75)  # behind the one waiting until 0.5: goes at 1.0


@pytest.mark.parametrize(("qps", "burst"), [(0, 10), (-1, 10), (10, 0)])
def test_a_limit_that_would_never_let_a_call_through_is_refused(qps: float, burst: int) -> None:
    with pytest.raises(ValueError, match="qps > 0 and burst >= 1"):
        TokenBucket(qps, burst, 0.0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("1", 1.0),
        (" 2 ", 2.0),
        ("0.5", 0.5),
        ("3600", MAX_RETRY_AFTER),  # a server asking for an hour is asked again after MAX_RETRY_AFTER
        ("-4", 0.0),
        ("Thu, 01 Jan 1970 00:01:43 GMT", 3.0),  # an HTTP date, 3 s after "now" (100)
        ("soon", None),
        ("nan", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_or_a_date_and_is_bounded(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, now=100.0) == seconds


def test_429_is_always_retried_5xx_only_when_the_server_says_when_others_never() -> None:
    assert retry_delay(429, {"Retry-After": "2"}, 0.0) == 2.0
    assert retry_delay(429, {"retry-after": "2"}, 0.0) == 2.0
    assert retry_delay(429, {}, 0.0) == 1.0
    assert retry_delay(503, {"Retry-After": "1"}, 0.0) == 1.0
    assert retry_delay(503, {}, 0.0) is None  # a plain 503 is the pass's failure: retried by the next pass
    assert retry_delay(409, {"Retry-After": "1"}, 0.0) is None
    assert retry_delay(None, None, 0.0) is None


def test_the_operator_limits_itself_by_default_and_null_turns_it_off() -> None:
    assert OperatorConfig().api_qps is not None and OperatorConfig().api_burst >= 1
    assert OperatorConfig.model_validate({"apiQps": None}).api_qps is None
    with pytest.raises(ValueError, match="apiQps"):
        OperatorConfig.model_validate({"apiQps": 0})


class _Throttled:
    """A pod API that answers 429 (Retry-After: 0) ``refusals`` times, then creates the pod."""

    def __init__(self, refusals: int):
        self.refusals = refusals
        self.calls = 0

    def create_namespaced_pod(self, namespace: str, body: dict[str, Any], **_: Any) -> SimpleNamespace:
        self.calls += 1
        if self.calls <= self.refusals:
            refused = ApiException(status=429, reason="Too Many Requests")
            refused.headers = {"Retry-After": "0"}  # what API Priority and Fairness sends, but at once
            raise refused
        return SimpleNamespace(data=b"{}")  # the answer, unread (_preload_content=False)


POD = {"metadata": {"name": "r-a1-x-a1", "namespace": "ns", "ownerReferences": [{"uid": "u"}]}}


def _retries() -> float:
    return REGISTRY.get_sample_value("kubeline_api_retries_total", {"verb": "create", "code": "429"}) or 0.0


def test_a_pod_refused_with_429_is_created_on_a_later_try_and_the_retries_are_counted() -> None:
    kube = Kube(client.ApiClient(client.Configuration()))
    kube.core = _Throttled(refusals=3)
    before = _retries()
    assert asyncio.run(kube.create_pod(POD)) is True
    assert kube.core.calls == 4
    assert _retries() - before == 3


def test_a_server_that_keeps_refusing_gets_max_tries_then_the_error() -> None:
    kube = Kube(client.ApiClient(client.Configuration()))
    kube.core = _Throttled(refusals=1000)
    with pytest.raises(ApiException) as refused:
        asyncio.run(kube.create_pod(POD))
    assert refused.value.status == 429
    assert kube.core.calls == MAX_TRIES


def test_calls_wait_their_turn_under_the_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five calls with burst 2 at 10 calls a second: the last three wait 0.1, 0.2 and 0.3 s (asyncio.sleep)."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(kube_module.asyncio, "sleep", sleep)
    monkeypatch.setattr(kube_module.time, "monotonic", lambda: 0.0)
    kube = Kube(client.ApiClient(client.Configuration()), TokenBucket(10, 2, 0.0))
    kube.core = _Throttled(refusals=0)

    async def five() -> None:
        for _ in range(5):
            await kube.create_pod(POD)

    asyncio.run(five())
    assert slept == pytest.approx([0.1, 0.2, 0.3])
