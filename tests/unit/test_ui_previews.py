"""Artifact previews: the right kind for the bytes, within the caps, and hostile content shown as text."""

from __future__ import annotations

import base64
import json

import pytest

from kubeline.ui import previews
from kubeline.ui.previews import download_type, preview, size_text
from tests.unit.ui_html import HOSTILE, assert_inert, render, tags

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
GIF = b"GIF89a" + b"\x00" * 32
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 32
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    "name, data, kind, content_type",
    [
        ("plot.png", PNG, "image", "image/png"),
        ("photo", JPEG, "image", "image/jpeg"),
        ("anim.txt", GIF, "image", "image/gif"),  # the bytes decide, not the name
        ("x.webp", WEBP, "image", "image/webp"),
        ("chart.svg", SVG, "text", "application/octet-stream"),  # SVG can script: never an image
        ("fake.png", b"not an image", "text", "application/octet-stream"),
        ("data.json", b'{"b": [1, 2], "a": "\xc3\xa9"}', "json", "application/json"),
        ("output", b'  [1, {"x": null}]', "json", "application/json"),  # KFP outputs have no extension
        ("broken.json", b'{"a": ', "text", "application/octet-stream"),
        ("table.csv", b"a,b\n1,2\n", "csv", "text/csv"),
        ("table.TSV", b"a\tb\n1\t2\n", "csv", "text/csv"),
        ("log.txt", "h\u00e9llo\n".encode(), "text", "application/octet-stream"),
        ("model.bin", b"\x00\x01\x02", "binary", "application/octet-stream"),
        ("latin1.txt", b"caf\xe9", "binary", "application/octet-stream"),
        ("empty", b"", "empty", "application/octet-stream"),
    ],
)
def test_the_preview_kind_follows_the_content(name: str, data: bytes, kind: str, content_type: str) -> None:
    shown = preview(name, data, len(data))
    assert (shown.kind, shown.content_type) == (kind, content_type)
    assert shown.size == len(data) and not shown.truncated
    assert_inert(render("preview.html", preview=shown, download_url="/runs/ns/r/steps/a/artifacts/x"))


def test_an_image_is_a_data_url_of_its_own_type() -> None:
    shown = preview("plot.png", PNG)
    assert shown.data_url == "data:image/png;base64," + base64.b64encode(PNG).decode()
    html = render("preview.html", preview=shown, download_url=None)
    assert [dict(attrs)["src"] for tag, attrs in tags(html) if tag == "img"] == [shown.data_url]


def test_an_image_larger_than_what_was_read_is_offered_for_download_only() -> None:
    shown = preview("big.png", PNG, total_size=10 * previews.MAX_PREVIEW_BYTES)
    assert shown.kind == "binary" and shown.data_url == "" and "too large" in shown.note
    assert shown.size_text == "2.5 MiB"


def test_json_is_pretty_printed_with_its_characters() -> None:
    shown = preview("m.json", b'{"a":[1,2],"name":"\xc3\xa9t\xc3\xa9"}')
    assert shown.text == json.dumps({"a": [1, 2], "name": "été"}, indent=2, ensure_ascii=False)


def test_json_cut_by_the_read_is_text_and_says_so() -> None:
    shown = preview("m.json", b'{"a": [1, 2', total_size=5000)
    assert shown.kind == "text" and shown.truncated
    assert "Only the beginning is shown; download it for the rest." in render(
        "preview.html", preview=shown, download_url="/d"
    )


def test_a_csv_shows_its_header_and_the_first_rows() -> None:
    data = b"id,name\n" + b"".join(b"%d,row %d\n" % (i, i) for i in range(previews.MAX_CSV_ROWS + 5))
    shown = preview("t.csv", data)
    assert shown.header == ["id", "name"] and len(shown.rows) == previews.MAX_CSV_ROWS and shown.truncated
    assert shown.rows[0] == ["0", "row 0"]


def test_a_csv_cut_by_the_read_drops_its_half_row() -> None:
    shown = preview("t.csv", b"a,b\n1,2\n3,4", total_size=100)
    assert shown.rows == [["1", "2"]] and shown.truncated


def test_text_over_the_cap_is_cut_and_a_character_split_by_the_read_is_dropped() -> None:
    shown = preview("log", b"x" * (previews.MAX_TEXT_BYTES + 10))
    assert len(shown.text) == previews.MAX_TEXT_BYTES and shown.truncated
    split = "é".encode()[:1]
    cut = preview("log", b"abc" + split, total_size=100)
    assert (cut.kind, cut.text, cut.truncated) == ("text", "abc", True)


@pytest.mark.parametrize(
    "data, content_type",
    [(PNG, "image/png"), (SVG, "application/octet-stream"), (b"<html>", "application/octet-stream")],
)
def test_downloads_are_served_as_opaque_bytes_unless_a_known_image(data: bytes, content_type: str) -> None:
    assert download_type(data) == content_type


@pytest.mark.parametrize("size, text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (3 * 1024**3, "3.0 GiB")])
def test_sizes_read_as_people_read_them(size: int, text: str) -> None:
    assert size_text(size) == text


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("name", ["x.txt", "x.json", "x.csv", "x.bin"])
def test_hostile_names_and_contents_stay_text(hostile: str, name: str) -> None:
    if name.endswith(".json"):
        data = json.dumps({hostile: hostile}).encode()
    elif name.endswith(".bin"):
        data = b"\x00" + hostile.encode()
    else:
        data = f'"{hostile.replace(chr(34), chr(34) * 2)}",x\n"{hostile.replace(chr(34), chr(34) * 2)}",y\n'.encode()
    html = render("preview.html", preview=preview(hostile + name, data), download_url="/a?name=x")
    assert_inert(html)
    assert "<script" not in html and "<svg" not in html and "<img" not in html
