"""The UI's one cache helper: computed once while kept, the least recently used dropped first."""

from __future__ import annotations

from typing import Any

import pytest

from kubeline.ui import layout, pagegraph
from kubeline.ui.lru import LRU


def test_a_value_is_computed_once_while_kept_and_the_least_recently_used_goes_first() -> None:
    computed: list[str] = []
    cache: LRU[str] = LRU(2)

    def get(key: str) -> str:
        return cache.get(key, lambda: computed.append(key) or key.upper())

    assert [get("a"), get("b"), get("a"), get("c"), get("a"), get("b")] == ["A", "B", "A", "C", "A", "B"]
    assert computed == ["a", "b", "c", "b"]  # b was the least recently used when c came
    assert len(cache) == 2


@pytest.mark.usefixtures("dot")
def test_a_spec_is_laid_out_by_graphviz_once_for_every_page_that_shows_it(monkeypatch: Any) -> None:
    calls: list[str] = []
    real = layout.render

    def counted(dot_text: str, fmt: Any) -> bytes:
        calls.append(fmt)
        return real(dot_text, fmt)

    monkeypatch.setattr(layout, "render", counted)
    spec = {
        "components": [{"name": "c", "container": {"image": "x", "command": ["true"]}}],
        "tasks": [{"name": f"lru-once-{id(calls)}", "component": "c"}],
    }
    first = pagegraph.page_graph(spec)
    again = pagegraph.page_graph(spec, {f"lru-once-{id(calls)}": {"phase": "Running"}})
    assert calls == ["svg"] and first.svg and again.svg
