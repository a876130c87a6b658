"""``when`` conditions: comparisons joined by and/or/not, with placeholders as operands.

    {{tasks.flip.outputs.result}} == heads and ({{tasks.rand.outputs.n}} > 5 or not {{params.strict}})

Numbers compare as numbers (``10 > 9``), everything else as text; ``&&``, ``||`` and ``!`` are accepted
too, as KFP v1 and Argo write them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from kubeline.api.limits import MAX_CONDITION_DEPTH
from kubeline.engine.templates import PLACEHOLDER, TASK_SCOPE, Ref, TemplateError, refs_in, render, whole_ref

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<tpl>\{\{[^{}]*\}\})
      | (?P<str>'[^']*'|"[^"]*")
      | (?P<op>==|!=|<=|>=|<|>|&&|\|\||!|\(|\))
      | (?P<word>[^\s()'"=!<>&|{}]+)
    )""",
    re.VERBOSE,
)
_COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0", ""}


class ConditionError(ValueError):
    """A condition that cannot be parsed or evaluated."""


@dataclass(frozen=True)
class Operand:
    text: str  # may hold placeholders


@dataclass(frozen=True)
class Compare:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


Node = Operand | Compare | Not | BoolOp


#: Longest condition read (the Task.when field allows as much).
MAX_LENGTH = 4096


def parse(text: str) -> Node:
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"the condition is {len(text)} characters long; at most {MAX_LENGTH} are allowed")
    tokens = _tokenize(text)
    parser = _Parser(tokens, text)
    node = parser.expression()
    if parser.position != len(tokens):
        raise ConditionError(f"unexpected {tokens[parser.position][1]!r} in condition {text!r}")
    return node


def check_operands(node: Node) -> None:
    """A value standing alone must be a placeholder or true/false: ``when: banana`` is never true or false."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Not):
            stack.append(current.inner)
        elif isinstance(current, BoolOp):
            stack.extend(current.items)
        elif isinstance(current, Operand):
            text = current.text.strip()
            if whole_ref(text) is None and text.lower() not in _TRUE | _FALSE:
                raise ConditionError(
                    f"{text!r} is neither true nor false: compare it (e.g. '{{{{params.x}}}} == {text}') "
                    "or use one placeholder of a boolean"
                )


def references(node: Node) -> list[Ref]:
    if isinstance(node, Operand):
        return refs_in(node.text, TASK_SCOPE)
    if isinstance(node, Compare):
        return references(node.left) + references(node.right)
    if isinstance(node, Not):
        return references(node.inner)
    return [ref for item in node.items for ref in references(item)]


def evaluate(node: Node, resolve: Callable[[Ref], str]) -> bool:
    if isinstance(node, BoolOp):
        results = (evaluate(item, resolve) for item in node.items)
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, Not):
        return not evaluate(node.inner, resolve)
    if isinstance(node, Compare):
        return _compare(node.op, render(node.left.text, resolve), render(node.right.text, resolve))
    value = render(node.text, resolve).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConditionError(f"{value!r} is neither true nor false; compare it, e.g. '{node.text} == {value}'")


def describe(node: Node, resolve: Callable[[Ref], str]) -> str:
    """The condition with its values filled in, for messages such as 'skipped: 3 > 5 is false'."""
    if isinstance(node, BoolOp):
        return f" {node.op} ".join(_group(describe(item, resolve), item) for item in node.items)
    if isinstance(node, Not):
        return f"not {_group(describe(node.inner, resolve), node.inner)}"
    if isinstance(node, Compare):
        return f"{_quote(render(node.left.text, resolve))} {node.op} {_quote(render(node.right.text, resolve))}"
    return _quote(render(node.text, resolve))


def _group(text: str, node: Node) -> str:
    return f"({text})" if isinstance(node, BoolOp) else text


def _quote(text: str) -> str:
    return text if text and re.fullmatch(r"[\w.+-]+", text) else repr(text)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _compare(op: str, left: str, right: str) -> bool:
    """Numbers compare as numbers, booleans whatever their case, anything else as text."""
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return _apply(op, a, b)
    if left.lower() in ("true", "false") and right.lower() in ("true", "false"):
        return _apply(op, left.lower(), right.lower())
    return _apply(op, left, right)


_Comparable = TypeVar("_Comparable", float, str)


def _apply(op: str, a: _Comparable, b: _Comparable) -> bool:
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ConditionError(f"cannot read condition {text!r} at {text[position:]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and value.lower() in ("and", "or", "not"):
            kind, value = "op", value.lower()
        elif kind == "op":
            value = {"&&": "and", "||": "or", "!": "not"}.get(value, value)
        elif kind == "str":
            kind, value = "operand", value[1:-1]
        if kind in ("tpl", "word"):
            kind = "operand"
        tokens.append((kind, value))
        position = match.end()
    if not tokens:
        raise ConditionError("empty condition")
    return tokens


class _Parser:
    """Recursive descent; ``depth`` counts open parentheses and ``not``s so recursion stays bounded."""

    def __init__(self, tokens: list[tuple[str, str]], text: str):
        self.tokens, self.text, self.position, self.depth = tokens, text, 0, 0

    def _deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_CONDITION_DEPTH:
            raise ConditionError(f"the condition nests parentheses and 'not' more than {MAX_CONDITION_DEPTH} deep")

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise ConditionError(f"condition {self.text!r} ends too early")
        self.position += 1
        return token

    def expression(self) -> Node:
        return self._bool("or", self._and)

    def _and(self) -> Node:
        return self._bool("and", self._not)

    def _bool(self, op: str, inner: Callable[[], Node]) -> Node:
        items = [inner()]
        while self._peek() == ("op", op):
            self._take()
            items.append(inner())
        return items[0] if len(items) == 1 else BoolOp(op, tuple(items))

    def _not(self) -> Node:
        if self._peek() == ("op", "not"):
            self._take()
            self._deeper()
            node = Not(self._not())
            self.depth -= 1
            return node
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._atom()
        token = self._peek()
        if token and token[0] == "op" and token[1] in _COMPARISONS:
            self._take()
            right = self._atom()
            if not isinstance(left, Operand) or not isinstance(right, Operand):
                raise ConditionError(f"only values can be compared in {self.text!r}")
            return Compare(token[1], left, right)
        return left

    def _atom(self) -> Node:
        kind, value = self._take()
        if (kind, value) == ("op", "("):
            self._deeper()
            node = self.expression()
            if self._peek() != ("op", ")"):
                raise ConditionError(f"missing ')' in condition {self.text!r}")
            self._take()
            self.depth -= 1
            return node
        if kind != "operand":
            raise ConditionError(f"expected a value but found {value!r} in condition {self.text!r}")
        try:
            refs_in(value, TASK_SCOPE)
        except TemplateError as error:
            raise ConditionError(str(error)) from None
        return Operand(value)


__all__ = ["ConditionError", "parse", "evaluate", "describe", "references", "PLACEHOLDER"]
