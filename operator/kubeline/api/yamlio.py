"""Writing YAML that every Kubernetes tool reads the same way.

kubectl and Go's YAML libraries follow YAML 1.1, where a bare ``y``, ``n``, ``on`` or ``off`` is a
boolean; PyYAML writes such strings bare. A parameter named ``y`` would then reach the API server as
``true``. Everything kubeline writes goes through ``dump``, which quotes those strings.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

_YAML11_SPECIAL = re.compile(
    r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|true|True|TRUE|false|False|FALSE|~|null|Null|NULL)$"
)


class _Dumper(yaml.SafeDumper):
    pass


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _YAML11_SPECIAL.match(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _string)


def dump(document: Any) -> str:
    """Deterministic block YAML (keys in the order given), safe for kubectl."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)


def dump_all(documents: list[Any]) -> str:
    return yaml.dump_all(
        documents, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )


def write(document: Any, output: Path | None, summary: str = "") -> None:
    """A command's YAML result: into ``output`` (saying so on stderr), or onto standard output."""
    text = dump(document)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text)
    print(f"wrote {output}{f' ({summary})' if summary else ''}", file=sys.stderr)
