"""What an artifact looks like in its step's panel: an image, pretty JSON, a CSV table, text, or just its size.

The page gets at most ``MAX_PREVIEW_BYTES`` of an artifact (the rest stays in the store, behind the download
link), so every preview works on a beginning and says when it is one. Images are recognised by their magic
bytes, never by name, and SVG is never an image here: it can carry scripts, so it is shown as text.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass, field

#: Bytes of an artifact the UI reads to preview it.
MAX_PREVIEW_BYTES = 256 * 1024
#: Bytes of text shown (JSON is shown pretty-printed up to the same size).
MAX_TEXT_BYTES = 64 * 1024
#: Rows of a CSV or TSV file shown.
MAX_CSV_ROWS = 100

_IMAGE_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
]


@dataclass(frozen=True)
class Preview:
    """``kind`` is image, json, csv, text, binary or empty; the fields of the other kinds stay empty."""

    kind: str
    name: str
    size: int
    content_type: str = "application/octet-stream"
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    data_url: str = ""
    truncated: bool = False
    note: str = ""

    @property
    def size_text(self) -> str:
        return size_text(self.size)


def image_type(data: bytes) -> str | None:
    """The image's content type from its first bytes (PNG, JPEG, GIF, WebP), None for anything else."""
    for magic, content_type in _IMAGE_MAGIC:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def download_type(data: bytes) -> str:
    """The content type to serve an artifact download with: an image's own, else opaque bytes."""
    return image_type(data) or "application/octet-stream"


def preview(name: str, data: bytes, total_size: int | None = None) -> Preview:
    """The preview of artifact ``name`` from its first bytes ``data`` (``total_size``: its whole size, when
    known and larger than what was read)."""
    size = max(total_size or 0, len(data))
    partial = size > len(data)
    if not data:
        return Preview("empty", name, size, note="the artifact is empty" if not partial else "nothing was read")
    content_type = image_type(data)
    if content_type is not None:
        if partial:
            return Preview("binary", name, size, content_type, note="the image is too large to show here")
        url = f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
        return Preview("image", name, size, content_type, data_url=url)
    text = _utf8(data, partial)
    if text is None:
        return Preview("binary", name, size, note="binary data")
    lower = name.lower()
    if lower.endswith((".csv", ".tsv")):
        return _table(name, size, text, partial, "\t" if lower.endswith(".tsv") else ",")
    if not partial and (lower.endswith(".json") or text.lstrip()[:1] in ("{", "[")):
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            pass
        else:
            shown, cut = _cut(pretty)
            return Preview("json", name, size, "application/json", text=shown, truncated=cut)
    shown, cut = _cut(text)
    return Preview("text", name, size, text=shown, truncated=cut or partial)


def _utf8(data: bytes, partial: bool) -> str | None:
    """The text, None if it is not UTF-8 text; a character cut at the end of a partial read is dropped."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if partial and error.start >= len(data) - 3:
            return _utf8(data[: error.start], partial=False)
        return None


def _cut(text: str) -> tuple[str, bool]:
    encoded = text.encode("utf-8")
    if len(encoded) <= MAX_TEXT_BYTES:
        return text, False
    return encoded[:MAX_TEXT_BYTES].decode("utf-8", errors="ignore"), True


def _table(name: str, size: int, text: str, partial: bool, delimiter: str) -> Preview:
    if partial:  # the last line may be half a row
        text = text[: text.rfind("\n") + 1]
    try:
        rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]
    except csv.Error as error:
        shown, cut = _cut(text)
        return Preview("text", name, size, text=shown, truncated=cut or partial, note=f"not read as CSV: {error}")
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    return Preview(
        "csv",
        name,
        size,
        "text/csv",
        header=header,
        rows=body[:MAX_CSV_ROWS],
        truncated=partial or len(body) > MAX_CSV_ROWS,
    )


def size_text(size: int) -> str:
    """A size as people read it: 512 B, 1.5 KiB, 3.0 MiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
