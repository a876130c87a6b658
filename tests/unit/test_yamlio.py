"""YAML written by kubeline reads back the same in YAML 1.1 tools such as kubectl."""

from __future__ import annotations

import pytest
import yaml

from kubeline.api.yamlio import dump


@pytest.mark.parametrize("word", ["y", "n", "yes", "No", "on", "OFF", "true", "null", "~"])
def test_yaml11_booleans_and_nulls_are_quoted(word: str) -> None:
    text = dump({"name": word})
    assert text in (f"name: '{word}'\n",)
    assert yaml.safe_load(text) == {"name": word}


def test_multiline_strings_use_block_style_and_round_trip() -> None:
    document = {"args": ["import sys\nprint(sys.argv)\n", "{{inputs.x}}"]}
    text = dump(document)
    assert "- |\n" in text
    assert yaml.safe_load(text) == document
