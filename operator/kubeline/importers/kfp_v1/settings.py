"""How tasks run: resources, scheduling, retries, timeouts and caching of a template, and the workflow's defaults."""

from __future__ import annotations

from typing import Any

from kubeline.api.durations import parse_duration
from kubeline.importers.kfp_v1.context import KFP_PREFIX, Context

#: The service account KFP names in every workflow; it exists only where KFP is installed.
KFP_SERVICE_ACCOUNT = "pipeline-runner"
_TOLERATION_FIELDS = ("effect", "key", "operator", "tolerationSeconds", "value")


def seconds(context: Context, value: Any, path: str) -> str:
    """A number of seconds as a kubeline duration (``30s``); an error, and ``0s``, when ``value`` is not a number."""
    try:
        return f"{int(value)}s"
    except (TypeError, ValueError):
        context.error(path, "not a number of seconds")
        return "0s"


def _duration(value: Any) -> str | None:
    """An Argo duration (``10s``, ``1m``, or seconds as a number) in kubeline's grammar."""
    text = f"{value}s" if isinstance(value, (int, float)) or str(value).isdigit() else str(value)
    try:
        parse_duration(text)
    except ValueError:
        return None
    return text


def template_settings(
    context: Context, template: dict[str, Any], container: dict[str, Any], path: str
) -> dict[str, Any]:
    """Scheduling, retries, timeout and caching of the tasks that run this template."""
    settings: dict[str, Any] = {}
    resources = _resources(context, container.get("resources") or {}, path)
    if resources:
        settings["resources"] = resources
    scheduling(context, template, path, settings)
    retry = template.get("retryStrategy")
    if isinstance(retry, dict):
        settings["retries"] = _retries(context, retry, f"{path}.retryStrategy")
    if "activeDeadlineSeconds" in template:
        settings["timeout"] = seconds(context, template["activeDeadlineSeconds"], f"{path}.activeDeadlineSeconds")
    metadata = template.get("metadata") or {}
    labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
    caching = _caching(context, labels, annotations, path)
    if caching:
        settings["caching"] = caching
    return settings


def scheduling(context: Context, source: dict[str, Any], path: str, target: dict[str, Any]) -> None:
    """The node selector, tolerations and affinity of a template or the workflow, into ``target``."""
    if source.get("nodeSelector"):
        target["nodeSelector"] = {str(k): str(v) for k, v in source["nodeSelector"].items()}
    if source.get("tolerations"):
        target["tolerations"] = [
            _toleration(context, t, f"{path}.tolerations[{i}]") for i, t in enumerate(source["tolerations"])
        ]
    if source.get("affinity"):
        target["affinity"] = source["affinity"]


def defaults(context: Context) -> dict[str, Any]:
    """The workflow's settings for every task: scheduling, image pull secrets, the service account."""
    spec = context.spec
    result: dict[str, Any] = {}
    scheduling(context, spec, "spec", result)
    secrets = [s for s in spec.get("imagePullSecrets") or [] if isinstance(s, dict) and s.get("name")]
    if secrets:
        result["imagePullSecrets"] = [{"name": s["name"]} for s in secrets]
    account = spec.get("serviceAccountName")
    if account and account != KFP_SERVICE_ACCOUNT:
        result["serviceAccountName"] = account
    return result


def _resources(context: Context, resources: dict[str, Any], path: str) -> dict[str, Any]:
    for key in sorted(set(resources) - {"requests", "limits"}):
        context.warn(f"{path}.container.resources.{key}", "not supported, dropped")
    return {k: {n: str(q) for n, q in resources[k].items()} for k in ("limits", "requests") if resources.get(k)}


def _toleration(context: Context, toleration: dict[str, Any], path: str) -> dict[str, Any]:
    for key in sorted(set(toleration) - set(_TOLERATION_FIELDS)):
        context.warn(f"{path}.{key}", "not supported, dropped")
    return {k: toleration[k] for k in _TOLERATION_FIELDS if k in toleration}


def _caching(context: Context, labels: dict[str, Any], annotations: dict[str, Any], path: str) -> dict[str, Any]:
    """KFP's caching label and staleness annotation."""
    caching: dict[str, Any] = {}
    if str(labels.get(KFP_PREFIX + "enable_caching", "true")).lower() == "false":
        caching["enabled"] = False
    staleness = annotations.get(KFP_PREFIX + "max_cache_staleness")
    if staleness:
        if _duration(staleness):
            caching["maxStaleness"] = staleness
        else:
            context.warn(
                f"{path}.metadata.annotations.{KFP_PREFIX}max_cache_staleness",
                f"{staleness!r} is not a duration: dropped",
            )
    return caching


def _retries(context: Context, retry: dict[str, Any], path: str) -> dict[str, Any]:
    try:
        limit = int(retry.get("limit", 0))
    except (TypeError, ValueError):
        context.error(f"{path}.limit", f"not a number: {retry.get('limit')!r}")
        limit = 0
    result: dict[str, Any] = {"limit": limit}
    if retry.get("retryPolicy") not in (None, "Always", "OnFailure"):
        context.warn(f"{path}.retryPolicy", f"{retry['retryPolicy']!r}: kubeline retries every failure")
    for key in sorted(set(retry) - {"limit", "backoff", "retryPolicy"}):
        context.warn(f"{path}.{key}", "not supported, dropped")
    backoff = retry.get("backoff")
    if isinstance(backoff, dict):
        translated = _backoff(context, backoff, f"{path}.backoff")
        if translated:
            result["backoff"] = translated
    return result


def _backoff(context: Context, backoff: dict[str, Any], path: str) -> dict[str, Any]:
    translated: dict[str, Any] = {}
    for key in ("duration", "maxDuration"):
        if key in backoff:
            value = _duration(backoff[key])
            if value is None:
                context.warn(f"{path}.{key}", f"{backoff[key]!r} is not a duration: dropped")
            else:
                translated[key] = value
    if "factor" in backoff:
        try:
            translated["factor"] = min(max(float(backoff["factor"]), 1.0), 10.0)
        except (TypeError, ValueError):
            context.warn(f"{path}.factor", f"not a number: {backoff['factor']!r}: dropped")
    return translated
