"""Reading YAML a user gives kubeline, bounded so that no file can exhaust memory or the stack.

``yaml.safe_load`` builds whatever the text describes: an alias bomb ("billion laughs") expands to
billions of values once something walks it, an alias inside its own anchor makes a cycle, 10,000
nested lists overflow Python's stack, and a repeated key silently drops the first value (kubectl
refuses it). The loader here refuses each of those with a YAML error pointing at the line.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, ScalarNode

from kubeline.api.limits import EXPANDED_CHARS_PER_UNIT, MAX_EXPANDED_VALUES, MAX_NESTING


class _BoundedComposer(yaml.composer.Composer):
    """Counts nesting depth and the size of the document as expanded by its aliases, while composing."""

    def __init__(self) -> None:
        yaml.composer.Composer.__init__(self)
        self._depth = 0
        self._expanded = 0
        self._anchor_sizes: dict[int, int] = {}  # id(anchored node) -> its expanded size, once complete

    def compose_document(self) -> Any:
        node = super().compose_document()
        self._anchor_sizes = {}  # the anchors are gone: their ids may be reused
        return node

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[attr-defined]  # a mixin: the parser it is mixed with has it
        if isinstance(event, AliasEvent):
            self._follow_alias(event)
            return super().compose_node(parent, index)
        collection = isinstance(event, (SequenceStartEvent, MappingStartEvent))
        if collection and self._depth >= MAX_NESTING:
            raise ComposerError(
                None, None, f"mappings and lists nest deeper than {MAX_NESTING} levels", event.start_mark
            )
        self._depth += collection
        before = self._expanded
        node = super().compose_node(parent, index)
        self._depth -= collection
        self._grow(1 + (len(node.value) // EXPANDED_CHARS_PER_UNIT if isinstance(node, ScalarNode) else 0), event)
        if isinstance(node, ScalarNode):
            _refuse_lone_surrogates(node)
        if isinstance(node, MappingNode):
            _refuse_duplicate_keys(node)
        if event.anchor is not None:
            self._anchor_sizes[id(node)] = self._expanded - before
        return node

    def _follow_alias(self, event: AliasEvent) -> None:
        target = self.anchors.get(event.anchor)
        if target is None:
            return  # the composer reports the undefined alias
        size = self._anchor_sizes.get(id(target))
        if size is None:
            raise ComposerError(
                None,
                None,
                f"alias *{event.anchor} is inside its own anchor &{event.anchor} (a cycle)",
                event.start_mark,  # type: ignore[arg-type]  # libyaml's marks serve too; the stubs take PyYAML's only
            )
        self._grow(size, event)

    def _grow(self, size: int, event: Any) -> None:
        self._expanded += size
        if self._expanded > MAX_EXPANDED_VALUES:
            raise ComposerError(
                None,
                None,
                f"the document expands to more than {MAX_EXPANDED_VALUES:,} values (aliases repeat their "
                "anchor's content each time): is it an alias bomb?",
                event.start_mark,
            )


def _refuse_lone_surrogates(node: ScalarNode) -> None:
    """ "\\ud800" in a double-quoted string is a lone surrogate: no UTF-8 writer (a step's arguments, a file,
    the API server) can carry it, so it is refused where it is written."""
    try:
        node.value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ComposerError(
            None,
            None,
            f"{node.value[error.start]!r} is a lone surrogate, not a character: "
            "write the character itself or a \\u escape of a whole one",
            node.start_mark,
        ) from None


def _refuse_duplicate_keys(node: MappingNode) -> None:
    seen: dict[tuple[str, str], Any] = {}
    for key, _ in node.value:
        if not isinstance(key, ScalarNode):
            continue
        first = seen.setdefault((key.tag, key.value), key)
        if first is not key:
            raise ComposerError(
                None, None, f"duplicate key {key.value!r} (first at line {first.start_mark.line + 1})", key.start_mark
            )


def _timestamp_as_written(loader: Any, node: ScalarNode) -> str:
    """`2024-01-01` stays text, as JSON (and the API server) see it, not a date no JSON value can hold."""
    return str(loader.construct_scalar(node))  # a list or mapping tagged !!timestamp is refused here


def _refuse_non_json(loader: Any, node: Any) -> Any:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise ConstructorError(
        None,
        None,
        f"the tag {tag} makes a value JSON cannot hold (Kubernetes resources are JSON): "
        "write it as text, a list or a mapping",
        node.start_mark,
    )


def _json_values_only(loader: Any) -> Any:
    """A loader class that builds only what JSON can hold: str, int, float, bool, None, list and dict."""
    loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_written)
    for tag in ("binary", "set", "omap", "pairs"):
        loader.add_constructor(f"tag:yaml.org,2002:{tag}", _refuse_non_json)
    return loader


_Parsing: Any = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


class _ExplainedConstruction:
    """An explicit tag on a value it cannot read (`!!int abc`, `!!bool maybe`) makes PyYAML raise ValueError or
    KeyError without a place: it becomes a YAML error at the value's line."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]  # a mixin: the loader has it
        except (ValueError, KeyError, TypeError) as error:
            if isinstance(error, yaml.YAMLError):
                raise
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            raise ConstructorError(
                None, None, f"{node.value!r} cannot be read as {tag}: remove the tag or fix the value", node.start_mark
            ) from None


@_json_values_only
class _FastLoader(_ExplainedConstruction, _BoundedComposer, _Parsing):  # type: ignore[misc]  # libyaml's, if built
    """libyaml scans and parses in C (several times faster on large files); the composer stays in Python."""

    def __init__(self, stream: Any) -> None:
        _Parsing.__init__(self, stream)
        _BoundedComposer.__init__(self)


@_json_values_only
class _ExplainingLoader(_ExplainedConstruction, _BoundedComposer, yaml.SafeLoader):
    """PyYAML's own parser: slower, but its syntax errors point at the line where the problem starts."""

    def __init__(self, stream: Any) -> None:
        yaml.SafeLoader.__init__(self, stream)
        _BoundedComposer.__init__(self)


def load_all(text: str) -> list[Any]:
    """Every document of ``text``; yaml.YAMLError (with a mark) when it is malformed or out of bounds."""
    try:
        return list(yaml.load_all(text, Loader=_FastLoader))
    except yaml.YAMLError:
        return list(yaml.load_all(text, Loader=_ExplainingLoader))
