"""Argo's ``{{...}}`` variables as the KFP v1 compiler writes them, and the kubeline placeholders they become.

The braces are the engine's placeholder grammar (``engine.templates.substitute``); what is inside them is Argo's,
read here. An Argo name may hold dots, so ``inputs.artifacts.a.path`` matches both INPUT and INPUT_PATH: the
callers try the forms in the order their scope needs.
"""

from __future__ import annotations

import re

_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*?"
TASK_OUTPUT = re.compile(rf"^tasks\.(?P<task>{_NAME})\.outputs\.(?P<kind>parameters|artifacts)\.(?P<name>{_NAME})$")
INPUT = re.compile(rf"^inputs\.(?P<kind>parameters|artifacts)\.(?P<name>{_NAME})$")
INPUT_PATH = re.compile(rf"^inputs\.artifacts\.(?P<name>{_NAME})\.path$")
OUTPUT_PATH = re.compile(rf"^outputs\.(?:parameters|artifacts)\.(?P<name>{_NAME})\.path$")
ITEM = re.compile(r"^item(\.[A-Za-z0-9_-]+)*$")
_WORKFLOW_PARAM = re.compile(rf"^workflow\.parameters\.(?P<name>{_NAME})$")
_WORKFLOW_FIELD = re.compile(r"^workflow\.(?P<name>status|name|namespace|uid)$")
#: A task named in a translated task's data reference (kubeline names, as the translation writes them).
_TASK_REFERENCE = re.compile(r"\{\{tasks\.([a-z0-9-]+)\.outputs\.")


def placeholder(expression: str) -> str:
    """``{{expression}}``."""
    return "{{" + expression + "}}"


def is_workflow_variable(expression: str) -> bool:
    """A workflow parameter or field (``workflow.parameters.x``, ``workflow.status``…)."""
    return bool(_WORKFLOW_PARAM.match(expression) or _WORKFLOW_FIELD.match(expression))


def workflow_value(expression: str, on_exit: bool) -> str:
    """The kubeline text for an Argo workflow variable; before the exit handler a workflow is Running."""
    if m := _WORKFLOW_PARAM.match(expression):
        return placeholder(f"params.{m['name']}")
    field_name = expression.split(".", 1)[1]
    if field_name == "status" and not on_exit:
        return "Running"
    return placeholder(f"run.{field_name}")


def referenced_tasks(translated: str) -> set[str]:
    """The tasks whose outputs a translated text (a task as JSON) reads."""
    return set(_TASK_REFERENCE.findall(translated))


def replace_path(text: str, path: str, placeholder: str) -> str:
    """``text`` with each whole occurrence of the file ``path`` (also as a directory prefix) replaced."""
    return re.sub(rf"(?<![\w./-]){re.escape(path)}(?![\w.-])", lambda _: placeholder, text)
