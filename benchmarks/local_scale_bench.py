"""The local runner at scale: a fan-out (a forEach of N items) and a chain of N trivial steps, run to the end.

    python benchmarks/local_scale_bench.py --fan-out 1000 --chain 1000 [--fan-out 10000] [--step sh|python]

Each case runs in a fresh process, as `kubeline run` runs it (the runner, with the run's document written
for `kubeline ui --local`; no cache, so every step really runs), and prints its wall time, the time per step,
the runner's peak RSS, and where the runner's own time went: the engine's ``decide`` (per pass × passes),
the run document (building the status, serializing and writing it), starting steps (folders, inputs,
spawn) and collecting them (outputs, logs into the store). The rest is the loop waiting for steps to end.

``--step python`` (the default) runs each step as ``python3 -c`` like `local_runner_bench.py`; ``--step sh``
runs a shell one-liner instead, so the runner's own costs are not hidden behind Python's start-up.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

STEPS = {
    "python": ["python3", "-c", "import sys; open(sys.argv[2], 'w').write(str(int(sys.argv[1]) + 1))"],
    "sh": ["sh", "-c", 'echo $(($1 + 1)) > "$2"', "sh"],
}


def pipeline(shape: str, steps: int, step: str) -> dict[str, Any]:
    """A fan-out: one task over a literal list of ``steps`` items; a chain: each step adds one to the last's output."""
    component = {
        "name": "inc",
        "inputs": [{"name": "x", "type": "integer"}],
        "outputs": [{"name": "y", "type": "integer"}],
        "container": {
            "image": "python:3.11-slim",
            "command": STEPS[step],
            "args": ["{{inputs.x}}", "{{outputs.y.path}}"],
        },
    }
    if shape == "fan-out":
        tasks = [{"name": "each", "component": "inc", "forEach": list(range(steps)), "arguments": {"x": "{{item}}"}}]
    else:
        tasks = [{"name": "step-0", "component": "inc", "arguments": {"x": "0"}}]
        tasks += [
            {"name": f"step-{i}", "component": "inc", "arguments": {"x": f"{{{{tasks.step-{i - 1}.outputs.y}}}}"}}
            for i in range(1, steps)
        ]
    return {"components": [component], "tasks": tasks}


class Timers:
    """Seconds and calls per part of the runner, by wrapping the functions that do each part."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, owner: Any, attribute: str, part: str) -> None:
        original: Callable[..., Any] = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[part] += time.perf_counter() - started
                self.calls[part] += 1

        setattr(owner, attribute, timed)


def run_case(shape: str, steps: int, step: str, max_parallel: int | None) -> dict[str, Any]:
    """One run in this process; what it measured, as JSON-able data."""
    from kubeline.backends.local import LocalRunner
    from kubeline.backends.local import runner as runner_module
    from kubeline.commands import run_document
    from kubeline.commands.run_document import RunDocumentWriter
    from kubeline.engine.plan import build, load_spec
    from kubeline.engine.run import bind_arguments
    from kubeline.store.local import LocalStore

    timers = Timers()
    timers.wrap(runner_module, "decide", "decide")
    timers.wrap(RunDocumentWriter, "_flush", "run document: build, write")
    timers.wrap(LocalRunner, "_spawn", "start steps")
    timers.wrap(LocalRunner, "_collect", "collect steps")
    spec = pipeline(shape, steps, step)
    with tempfile.TemporaryDirectory() as directory:
        run_dir = Path(directory) / "run"
        run_dir.mkdir()
        started = time.perf_counter()
        plan = build(load_spec(spec))
        params = bind_arguments(plan, {})
        store_url = str(run_dir / "store")
        document = RunDocumentWriter(run_dir, "bench", "bench", spec, {}, params, store_url, plan)
        runner = LocalRunner(
            plan,
            params,
            "bench",
            run_dir=run_dir,
            store=LocalStore(run_dir / "store"),
            cache=None,
            on_change=document.update,
            max_parallel=max_parallel,
        )
        result = runner.run()
        document.finish()
        elapsed = time.perf_counter() - started
        document_bytes = (run_dir / run_document.RUN_DOCUMENT).stat().st_size
    assert result.decision.phase == "Succeeded", result.decision.message
    last = f"each[{steps - 1}]" if shape == "fan-out" else f"step-{steps - 1}"
    assert result.state.steps[last].outputs["y"] == str(steps), result.state.steps[last]
    return {
        "shape": shape,
        "steps": steps,
        "step": step,
        "parallel": runner.max_parallel,
        "seconds": elapsed,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "document_kib": document_bytes / 1024,
        "parts": dict(timers.seconds),
        "calls": dict(timers.calls),
    }


def bare_step_seconds(step: str, count: int = 50) -> float:
    """What one step's command costs started bare (``python3`` is this interpreter, as the runner makes it)."""
    argv = [sys.executable if STEPS[step][0] == "python3" else STEPS[step][0], *STEPS[step][1:]]
    with tempfile.TemporaryDirectory() as directory:
        out = str(Path(directory) / "y")
        started = time.perf_counter()
        for i in range(count):
            subprocess.run([*argv, str(i), out], check=True)
        return (time.perf_counter() - started) / count


def report(figures: dict[str, Any], bare: float) -> None:
    steps, seconds = figures["steps"], figures["seconds"]
    print(
        f"{figures['shape']} of {steps} {figures['step']} steps ({figures['parallel']} at once): "
        f"{seconds:.1f} s, {seconds / steps * 1000:.1f} ms a step (a bare step {bare * 1000:.1f} ms), "
        f"peak RSS {figures['peak_rss_mib']:.0f} MiB, run document {figures['document_kib']:.0f} KiB"
    )
    for part, spent in figures["parts"].items():
        calls = figures["calls"][part]
        print(f"  {part:34} {spent:7.2f} s  {calls:6} calls  {spent / calls * 1000:8.2f} ms each")
    waiting = seconds - sum(figures["parts"].values())
    print(f"  {'the rest (waiting for steps, loop)':34} {waiting:7.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fan-out", type=int, action="append", default=[], metavar="N", help="a forEach of N items")
    parser.add_argument("--chain", type=int, action="append", default=[], metavar="N", help="a chain of N steps")
    parser.add_argument("--step", choices=sorted(STEPS), default="python", help="what each step runs")
    parser.add_argument("--max-parallel", type=int, default=None, help="processes at once (the runner's default)")
    parser.add_argument("--case", nargs=2, metavar=("SHAPE", "N"), help=argparse.SUPPRESS)  # one run, JSON out
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), args.step, args.max_parallel)))
        return
    cases = [("fan-out", n) for n in args.fan_out] + [("chain", n) for n in args.chain]
    if not cases:
        parser.error("name at least one case: --fan-out N or --chain N")
    bare = bare_step_seconds(args.step)
    for shape, steps in cases:
        command = [sys.executable, __file__, "--case", shape, str(steps), "--step", args.step]
        if args.max_parallel:
            command += ["--max-parallel", str(args.max_parallel)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        report(json.loads(output.splitlines()[-1]), bare)


if __name__ == "__main__":
    main()
