"""Kubernetes names, checked in one place: pipelines, runs, tasks and components are DNS-1123 labels.

A Pipeline's and a Run's name also become label values (``kubeline.dev/run=NAME``) and parts of pod
names and local folders, so they follow the stricter label rule (63 characters), not the 253 of an
object name. Every check and every derivation of such a name goes through this module.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

MAX_LABEL = 63
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_LABEL = re.compile(DNS_LABEL)
RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"


def name_problem(name: object, max_length: int = MAX_LABEL) -> str | None:
    """Why ``name`` is not a valid name (in words a user can act on), or None when it is."""
    if not isinstance(name, str):
        return f"must be a name ({RULE}), not {type(name).__name__}"
    if not name:
        return f"must not be empty ({RULE})"
    if len(name) > max_length:
        return f"is {len(name)} characters long; at most {max_length} are allowed (e.g. {to_dns_label(name, max_length)!r})"
    if not _LABEL.match(name):
        return f"{name!r} is not a valid name: use {RULE} (e.g. {to_dns_label(name, max_length)!r})"
    return None


def is_dns_label(name: object, max_length: int = MAX_LABEL) -> bool:
    return name_problem(name, max_length) is None


def to_dns_label(text: str, max_length: int = MAX_LABEL, fallback: str = "pipeline") -> str:
    """A valid name derived from any text, as KFP derives one from a display name ('My pipeline' -> 'my-pipeline')."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    name = name[:max_length].rstrip("-")
    return name or fallback


def unique_label(base: str, taken: set[str] | list[str]) -> str:
    """``base``, else ``base-2``, ``base-3``… (as KFP numbers ops), the first one not taken."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = numbered(base, n)
    return name


def numbered(base: str, n: int) -> str:
    """``base-N``, with ``base`` shortened so that the number always fits in a 63-character name."""
    suffix = f"-{n}"
    return base[: MAX_LABEL - len(suffix)].rstrip("-") + suffix


# --- other Kubernetes names: claims (DNS-1123 subdomains), label and annotation keys, label values ---------

MAX_SUBDOMAIN = 253
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
SUBDOMAIN_RULE = "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253"
QUALIFIED_RULE = (
    "an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' and '.', starting and ending with "
    "a letter or digit (e.g. team or example.com/team)"
)
LABEL_VALUE_RULE = "at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit, or empty"


def subdomain_problem(name: str) -> str | None:
    """Why ``name`` is not a DNS-1123 subdomain (the name of a PersistentVolumeClaim, a Secret…), or None."""
    if not name:
        return f"is empty; a name needs {SUBDOMAIN_RULE} characters"
    if len(name) > MAX_SUBDOMAIN or not _SUBDOMAIN.match(name):
        return f"{name[:80]!r} is not a valid name: use {SUBDOMAIN_RULE} characters"
    return None


def qualified_name_problem(key: str) -> str | None:
    """Why ``key`` is not a label or annotation key (Kubernetes' qualified name), or None."""
    prefix, slash, name = key.rpartition("/")
    valid = (
        _QUALIFIED.match(name) is not None
        and len(name) <= MAX_LABEL
        and (not slash or subdomain_problem(prefix) is None)
    )
    return None if valid else f"{key[:80]!r} is not a valid key: use {QUALIFIED_RULE}"


def label_value_problem(value: str) -> str | None:
    """Why ``value`` is not a label value, or None."""
    if value == "" or (len(value) <= MAX_LABEL and _QUALIFIED.match(value)):
        return None
    return f"{value[:80]!r} is not a valid label value: use {LABEL_VALUE_RULE}"


# --- names kubeline derives: experiments' label values, the Runs a RecurringRun makes -------------------------


def experiment_key(name: str) -> str:
    """An experiment's label value and ConfigMap name part: its name as a DNS label ('My exp' -> 'my-exp')."""
    return to_dns_label(name, fallback="experiment")


def scheduled_run_name(recurring_name: str, fire_time: datetime) -> str:
    """``NAME-<unix seconds>``: the same trigger always gives the same name, so a restarted operator's second
    create is refused (409) instead of making a duplicate. A name too long is cut and a hash of the whole name
    added, so two long names sharing a prefix still differ."""
    return suffixed(recurring_name, f"-{int(fire_time.timestamp())}", MAX_LABEL)


def suffixed(base: str, suffix: str, max_length: int) -> str:
    """``base`` + ``suffix``, at most ``max_length`` long: a base too long is cut and a hash of the whole base
    added before the suffix, so two long bases sharing a prefix still give different names."""
    name = base + suffix
    if len(name) <= max_length:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    keep = max_length - len(suffix) - len(digest) - 1
    return f"{base[:keep].rstrip('-.')}-{digest}{suffix}"
