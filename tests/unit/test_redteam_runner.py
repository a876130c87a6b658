"""Red-team findings on the local runner that a corpus case cannot express (disk use, bytes on the terminal;
a signal sent mid-run is in test_local_runner_lifetime.py). A finding still open is a strict xfail, which fails the suite once fixed."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from kubeline.backends.local import LocalRunner, StoreCache
from kubeline.commands.display import plain_console, print_result
from kubeline.engine.values import coerce
from kubeline.store.local import LocalStore
from tests.unit.simulate import plan_of


@pytest.mark.parametrize(
    "text, type_",
    [("a\udcffb", "string"), ('["\\ud800"]', "list"), ('{"\\udc80": 1}', "object"), ("7\udcff", "integer")],
)
def test_text_that_is_not_utf8_is_an_invalid_value(text: str, type_: str) -> None:
    """Such text reaches a cache key's hash and the step's files, which need UTF-8: it is refused where it enters."""
    with pytest.raises(ValueError, match="which is not text"):
        coerce(text, type_)


def _run(tmp_path: Path, script: str, outputs: list[dict]) -> tuple[LocalRunner, object]:
    plan = plan_of(
        {
            "components": [
                {
                    "name": "c",
                    "outputs": outputs,
                    "container": {"image": "x", "command": ["sh", "-c", script, "c", "{{outputs.v.path}}"]},
                }
            ],
            "tasks": [{"name": "a", "component": "c"}],
        }
    )
    runner = LocalRunner(
        plan, {}, "r", run_dir=tmp_path / "run", cache=StoreCache(LocalStore(tmp_path / "store"), warn=lambda m: None)
    )
    return runner, runner.run()


@pytest.mark.parametrize("script", ['mkdir "$1"; truncate -s 64M "$1/big"', 'truncate -s 64M "$1"'])
def test_a_sparse_artifact_does_not_fill_the_disk_in_the_store(tmp_path: Path, script: str) -> None:
    _, result = _run(tmp_path, script, [{"name": "v", "type": "artifact"}])
    assert result.decision.phase == "Succeeded"
    used = sum(p.stat().st_blocks * 512 for p in (tmp_path / "store").rglob("*") if p.is_file())
    assert used < 8 << 20, f"the store holds {used >> 20} MiB on disk for an artifact that takes none"


def test_an_output_value_cannot_drive_the_terminal(tmp_path: Path) -> None:
    _, result = _run(tmp_path, r'printf "\033]0;PWNED\007\033[2J\033[31mred" > "$1"', [{"name": "v"}])
    console = plain_console(record=True, width=200, file=io.StringIO(), force_terminal=True)
    print_result(console, result)
    assert "\x1b]0;PWNED" not in console.export_text(styles=True)


def test_the_hole_preserving_copy_keeps_every_byte(tmp_path: Path) -> None:
    from kubeline.store.local import copy_sparse

    source = tmp_path / "mixed"
    with open(source, "wb") as file:
        file.write(b"head" * 1000)
        file.seek(32 << 20)
        file.write(b"middle")
        file.truncate(64 << 20)  # ends in a hole
    with open(source, "rb") as reader, open(tmp_path / "copy", "wb") as writer:
        copy_sparse(reader, writer)
    assert (tmp_path / "copy").read_bytes() == source.read_bytes()
    assert (tmp_path / "copy").stat().st_blocks * 512 < 1 << 20


def test_a_reader_that_leaves_early_is_a_broken_pipe_not_a_failed_run(tmp_path: Path) -> None:
    """`kubeline run ... | head -1` once exited 1 ("the run failed") for a run that succeeded."""
    import os
    import subprocess

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "KUBELINE_HOME": str(tmp_path), "PYTHONPATH": str(root / "operator")}
    process = subprocess.Popen(
        [sys.executable, "-m", "kubeline", "run", str(root / "examples" / "add-subtract-multiply.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    process.stdout.readline()
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 141, err
    assert b"Traceback" not in err
