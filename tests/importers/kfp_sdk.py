"""The real KFP v1 SDK (kfp==1.8.22) in a virtual environment of its own, to compile test programs.

It cannot share kubeline's environment (it pins old kubernetes, protobuf and pydantic versions). The
environment is cached under $KUBELINE_CACHE (default ~/.cache/kubeline) and made on first use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KFP_VERSION = "1.8.22"
CACHE = Path(os.environ.get("KUBELINE_CACHE") or Path.home() / ".cache" / "kubeline")
VENV = CACHE / f"kfp-{KFP_VERSION}-venv"
PROGRAMS = Path(__file__).resolve().parents[1] / "kfp_v1_programs"

_COMPILE = """
import importlib.util, sys
import kfp
spec = importlib.util.spec_from_file_location("program", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
pipelines = [v for v in vars(module).values() if callable(v) and hasattr(v, "_component_human_name")
             and not hasattr(v, "component_spec")]
if len(pipelines) != 1:
    sys.exit(f"expected one pipeline in {sys.argv[1]}, found {len(pipelines)}")
kfp.compiler.Compiler().compile(pipelines[0], sys.argv[2])
"""


def kfp_python() -> Path:
    python = VENV / "bin" / "python"
    marker = VENV / ".kfp-installed"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"kfp=={KFP_VERSION}"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"could not install kfp=={KFP_VERSION} from PyPI:\n{result.stderr[-2000:]}")
        marker.touch()
    return python


def compile_with_kfp(program: Path, output: Path) -> Path:
    """Compile a KFP v1 program with the real SDK; the Argo Workflow YAML it writes."""
    result = subprocess.run([str(kfp_python()), "-c", _COMPILE, str(program), str(output)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"kfp could not compile {program.name}:\n{result.stderr[-3000:]}")
    return output
