"""Durations as people write them in pipelines: Go style (``90s``, ``1h30m``) or ISO 8601 (``P7D``, ``PT2H``).

KFP's ``max_cache_staleness`` uses ISO 8601 (``P0D`` disables reuse); Argo and Kubernetes users write ``30m``.
Both are accepted everywhere a duration is.
"""

from __future__ import annotations

import re

_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_GO_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_ISO = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)

#: The same grammar as a JSON-schema pattern, so the API server rejects bad durations too.
DURATION_PATTERN = r"^(P(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?|(\d+(\.\d+)?(ms|s|m|h|d))+)$"

_MAX_SECONDS = 10 * 365 * 86400  # ten years: anything longer is a typo, and would overflow timestamps


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ValueError with the accepted forms when it is not a duration."""
    value = str(text).strip()
    seconds = _parse_iso(value) if value.startswith("P") else _parse_go(value)
    if seconds is None:
        raise ValueError(f"{text!r} is not a duration: write a duration like 30s, 5m, 1h30m or P1D")
    if seconds > _MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than ten years")
    return seconds


def _parse_iso(value: str) -> float | None:
    match = _ISO.match(value)
    if not match or value in ("P", "PT") or value.endswith("T"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (
        parts.get("w", 0) * 604800
        + parts.get("d", 0) * 86400
        + parts.get("h", 0) * 3600
        + parts.get("m", 0) * 60
        + parts.get("s", 0)
    )


def _parse_go(value: str) -> float | None:
    if not value:
        return None
    position, total = 0, 0.0
    for match in _GO_PART.finditer(value):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        position = match.end()
    return total if position == len(value) else None


def format_duration(seconds: float) -> str:
    """Short human form for tables: ``850ms``, ``12.3s``, ``4m05s``, ``2h10m``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
