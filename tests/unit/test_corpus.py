"""The regression corpus (tests/corpus/*.yaml): each hostile input gets its behaviour, with no traceback,
hang, orphaned process or write outside its folder. The format is described in tests/corpus/README.md."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
ROOT = CORPUS.parents[1]
_KEYS = {"name", "why", "files", "setup", "command", "env", "exit", "stderr", "stdout", "timeout", "writes"}


def _cases() -> list[Any]:
    cases = []
    for file in sorted(CORPUS.glob("*.yaml")):
        for case in yaml.safe_load(file.read_text()) or []:
            unknown = set(case) - _KEYS
            assert not unknown, f"{file.name}: case {case.get('name')!r} has unknown keys {sorted(unknown)}"
            marks = [pytest.mark.xfail(strict=True, reason=case["why"])] if file.stem.endswith("-failing") else []
            cases.append(pytest.param(case, id=f"{file.stem}/{case['name']}", marks=marks))
    return cases


def _marked(marker: str) -> list[int]:
    """Processes whose environment holds the marker: everything the command started, however deep."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if marker.encode() in environ and stat.rsplit(")", 1)[-1].split()[0] != "Z":
            pids.append(int(entry.name))
    return pids


def _substitute(text: str, case_dir: Path) -> str:
    return text.replace("{case}", str(case_dir))


@pytest.mark.parametrize("case", _cases())
def test_corpus_case(case: dict[str, Any], tmp_path: Path) -> None:
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    for name, content in (case.get("files") or {}).items():
        path = case_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_substitute(content, case_dir), encoding="utf-8")
    if case.get("setup"):
        exec(case["setup"], {"Path": Path, "os": os, "case": case_dir})
    before = {p.name for p in case_dir.iterdir()}
    marker = f"KUBELINE_CORPUS_MARKER={uuid.uuid4().hex}"
    env = {
        **os.environ,
        "KUBELINE_HOME": str(case_dir / "home"),
        marker.split("=")[0]: marker.split("=")[1],
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "operator"), os.environ.get("PYTHONPATH")])),
    }
    for key, value in (case.get("env") or {}).items():
        env[key] = _substitute(str(value), case_dir)
    command = [sys.executable, "-m", "kubeline", *(_substitute(str(a), case_dir) for a in case["command"])]
    timeout = case.get("timeout", 60)
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=case_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"hang: still running after {timeout}s")
    finally:
        orphans = _marked(marker)
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    out, err = stdout.decode(errors="replace"), stderr.decode(errors="replace")
    shown = f"exit {process.returncode} after {time.monotonic() - started:.1f}s\n--- stdout\n{out[-3000:]}\n--- stderr\n{err[-3000:]}"
    assert "Traceback" not in out + err, shown
    assert process.returncode == case.get("exit", 2), shown
    for text in case.get("stderr") or []:
        assert text in err, f"missing from stderr: {text!r}\n{shown}"
    for text in case.get("stdout") or []:
        assert text in out, f"missing from stdout: {text!r}\n{shown}"
    assert not orphans, f"processes outlived the command: {orphans}\n{shown}"
    created = {p.name for p in case_dir.iterdir()} - before - {"home"} - set(case.get("writes") or [])
    assert not created, f"written outside kubeline's folder: {sorted(created)}\n{shown}"
