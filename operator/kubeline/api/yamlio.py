"""Reading users' YAML files within kubeline's limits, and writing YAML that every Kubernetes tool reads the same way.

kubectl and Go's YAML libraries follow YAML 1.1, where a bare ``y``, ``n``, ``on`` or ``off`` is a
boolean; PyYAML writes such strings bare. A parameter named ``y`` would then reach the API server as
``true``. Everything kubeline writes goes through ``dump``, which quotes those strings.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import yaml

from kubeline.api import yamlsafe
from kubeline.api.limits import MAX_INPUT_BYTES
from kubeline.api.problems import Issue, PipelineInvalid

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


def read_text(path: Path) -> str:
    """A user's file as text: a regular file of at most MAX_INPUT_BYTES, else PipelineInvalid saying why."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before we can refuse it
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise _unreadable(str(path), f"cannot read the file: {error.strerror}") from None
    try:
        kind = _file_kind(os.fstat(descriptor).st_mode)
        if kind:
            raise _unreadable(str(path), f"is {kind}, not a regular file: give the path of a YAML file")
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(MAX_INPUT_BYTES + 1)
    except OSError as error:
        raise _unreadable(str(path), f"cannot read the file: {error.strerror}") from None
    finally:
        os.close(descriptor)
    if len(data) > MAX_INPUT_BYTES:
        raise _unreadable(
            str(path),
            f"is larger than {MAX_INPUT_BYTES // 2**20} MiB, the most kubeline reads "
            "(the Kubernetes API server takes at most 3 MiB per object)",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _unreadable(str(path), f"is not UTF-8 text (byte {error.start})") from None


def _file_kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


def read_documents(path: Path) -> list[Any]:
    """The YAML documents of a user's file (empty ones left out), else PipelineInvalid saying where and why."""
    text = read_text(path)
    try:
        return [d for d in yamlsafe.load_all(text) if d is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise _unreadable(where, f"not valid YAML: {problem}") from None


def _unreadable(where: str, problem: str) -> PipelineInvalid:
    """A user's file kubeline will not read: where it is (the path; line and column for bad YAML), and why."""
    return PipelineInvalid([Issue(where, problem)])
