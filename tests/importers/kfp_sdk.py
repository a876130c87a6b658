"""The real KFP v1 SDK (kfp==1.8.22) in a virtual environment of its own, to compile test programs.

It cannot share kubeline's environment (it pins old kubernetes, protobuf and pydantic versions). The
environment is cached under $KUBELINE_CACHE (default ~/.cache/kubeline) and made on first use: built
in a directory of its own and renamed into place when complete, so an interrupted install or a second
test session running at the same time never sees half an environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

KFP_VERSION = "1.8.22"
PROGRAMS = Path(__file__).resolve().parents[1] / "kfp_v1_programs"
#: Programs of features the classic ones leave out, compiled the same way.
MORE_PROGRAMS = Path(__file__).resolve().parent / "kfp_programs"
#: Programs kfp compiles and the importer refuses (with the error a test asserts).
REFUSED_PROGRAMS = Path(__file__).resolve().parent / "kfp_refused"
_PIP_TIMEOUT = 900

_COMPILE = """
import importlib.util, json, sys
import kfp
from kfp.compiler.main import PipelineCollectorContext  # how dsl-compile finds a file's @dsl.pipeline functions
compiled = {}
for program, output in zip(sys.argv[1::2], sys.argv[2::2]):
    spec = importlib.util.spec_from_file_location("program", program)
    module = importlib.util.module_from_spec(spec)
    with PipelineCollectorContext() as pipelines:
        spec.loader.exec_module(module)
    if len(pipelines) != 1:
        sys.exit(f"expected one @dsl.pipeline function in {program}, found {len(pipelines)}")
    kfp.compiler.Compiler().compile(pipelines[0], output)
    compiled[output] = getattr(module, "ARGUMENTS", {})
print(json.dumps(compiled))
"""


def cache_dir() -> Path:
    return Path(os.environ.get("KUBELINE_CACHE") or Path.home() / ".cache" / "kubeline")


def _works(python: Path) -> bool:
    check = f"import kfp, sys; sys.exit(kfp.__version__ != {KFP_VERSION!r})"
    return python.exists() and subprocess.run([str(python), "-c", check], capture_output=True).returncode == 0


def kfp_python() -> Path:
    """The interpreter of the cached environment, made first when missing or broken."""
    venv = cache_dir() / f"kfp-{KFP_VERSION}-venv"
    python = venv / "bin" / "python"
    if _works(python):
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f"{venv.name}.building-", dir=venv.parent))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, capture_output=True)
        install = subprocess.run(
            [
                str(building / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                f"kfp=={KFP_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=_PIP_TIMEOUT,
        )
        if install.returncode != 0:
            raise RuntimeError(
                f"pip could not install kfp=={KFP_VERSION} (the tests need PyPI or a mirror "
                f"set with PIP_INDEX_URL):\n{install.stderr[-3000:]}"
            )
        if venv.exists():  # broken, or made by another session meanwhile
            if _works(python):
                return python
            shutil.rmtree(venv)
        building.rename(venv)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return python


def compile_programs(programs: list[Path], directory: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Compile KFP v1 programs with the real SDK in one process: by program stem, the Workflow YAML and
    the program's ARGUMENTS."""
    outputs = {program.stem: directory / f"{program.stem}.yaml" for program in programs}
    pairs = [str(part) for program in programs for part in (program, outputs[program.stem])]
    result = subprocess.run([str(kfp_python()), "-c", _COMPILE, *pairs], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"kfp=={KFP_VERSION} could not compile the programs:\n{result.stderr[-3000:]}")
    arguments = json.loads(result.stdout.strip().splitlines()[-1])
    return {stem: (path, arguments[str(path)]) for stem, path in outputs.items()}


def all_programs() -> list[Path]:
    return sorted(PROGRAMS.glob("*.py")) + sorted(MORE_PROGRAMS.glob("*.py"))


def compiled_workflows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every test program (refused ones too) compiled by kfp==1.8.22: by stem, (Workflow YAML, ARGUMENTS)."""
    programs = all_programs() + sorted(REFUSED_PROGRAMS.glob("*.py"))
    try:
        return compile_programs(programs, tmp_path_factory.mktemp("kfp-workflows"))
    except (RuntimeError, subprocess.SubprocessError, OSError) as error:
        pytest.fail(f"the KFP v1 SDK is needed to test the importer and could not be used: {error}", pytrace=False)
