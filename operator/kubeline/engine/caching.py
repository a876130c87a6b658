"""Cache policy, shared by every backend: which stored result may serve a step, and what a hit records.

Backends keep results where they can (files on disk, CacheEntry resources) under the key of
``engine.cachekey``; only the rules for using them live here, so a step hits or misses alike everywhere.
"""

from __future__ import annotations

from kubeline.engine.state import StartStep, StepState


def consulted(start: StartStep) -> bool:
    """Whether the cache is looked up at all: caching is on and the staleness bound is not zero (P0D)."""
    return start.caching_enabled and start.max_staleness != 0


def fresh(start: StartStep, created_at: float | None, now: float) -> bool:
    """Whether a result made at ``created_at`` (seconds; None when unknown) may serve ``start`` at ``now``."""
    if not consulted(start) or created_at is None:
        return False
    return start.max_staleness is None or now - created_at <= start.max_staleness


def hit(
    start: StartStep, outputs: dict[str, str], now: float, origin: str = "", stored_values: frozenset[str] = frozenset()
) -> StepState:
    """The state of a step served from the cache: succeeded at once, with the stored outputs and no pod
    (``stored_values``: the outputs kept in the artifact store as objects)."""
    return StepState(
        "Succeeded",
        attempt=start.attempt,
        started_at=now,
        finished_at=now,
        outputs=outputs,
        cached=True,
        message=f"served from the cache ({origin})" if origin else "served from the cache",
        cache_key=start.cache_key,
        stored_values=stored_values,
    )
