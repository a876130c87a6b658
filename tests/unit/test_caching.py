"""The cache policy both backends follow: when a stored result may serve a step, and what a hit records."""

from __future__ import annotations

import pytest

from kubeline.engine import caching
from kubeline.engine.run import decide
from kubeline.engine.state import RunState, StartStep
from tests.helpers import pipeline, task
from tests.unit.simulate import plan_of

HOUR = 3600.0


def start_with(caching_settings: dict[str, object] | None) -> StartStep:
    fields = {"caching": caching_settings} if caching_settings is not None else {}
    plan = plan_of(pipeline([task("a", arguments={"a": "x"}, **fields)]))
    return decide(plan, {}, RunState(started_at=0), 0).start[0]


@pytest.mark.parametrize(
    "settings, made, now, expected",
    [
        (None, 0.0, 1e9, True),  # no bound: any age serves
        ({"maxStaleness": "1h"}, 0.0, HOUR - 1, True),
        ({"maxStaleness": "1h"}, 0.0, HOUR, True),  # exactly at the bound still serves
        ({"maxStaleness": "1h"}, 0.0, HOUR + 1, False),
        ({"maxStaleness": "P0D"}, 0.0, 0.0, False),  # P0D: the cache is never used
        ({"enabled": False}, 0.0, 0.0, False),
        (None, None, 0.0, False),  # a result of unknown age never serves
        ({"maxStaleness": "1h"}, None, 0.0, False),
    ],
)
def test_freshness(settings: dict[str, object] | None, made: float | None, now: float, expected: bool) -> None:
    assert caching.fresh(start_with(settings), made, now) is expected


@pytest.mark.parametrize(
    "settings, expected",
    [(None, True), ({"maxStaleness": "7d"}, True), ({"maxStaleness": "P0D"}, False), ({"enabled": False}, False)],
)
def test_the_cache_is_consulted_unless_caching_is_off_or_staleness_is_zero(
    settings: dict[str, object] | None, expected: bool
) -> None:
    assert caching.consulted(start_with(settings)) is expected


@pytest.mark.parametrize(
    "origin, message",
    [("", "served from the cache"), ("made then by run r", "served from the cache (made then by run r)")],
)
def test_a_hit_succeeds_at_once_with_the_stored_outputs(origin: str, message: str) -> None:
    start = start_with(None)
    step = caching.hit(start, {"out": "v"}, 42.0, origin)
    assert (step.phase, step.cached, step.outputs, step.message) == ("Succeeded", True, {"out": "v"}, message)
    assert (step.attempt, step.started_at, step.finished_at, step.cache_key) == (1, 42.0, 42.0, start.cache_key)
    assert step.pod is None
