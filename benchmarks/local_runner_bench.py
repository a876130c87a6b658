"""Per-step overhead of the local runner on a chain of trivial Python steps.

    python benchmarks/local_runner_bench.py [--steps 50] [--repeat 3]

Prints the wall time per step of a chain (each step waits for the one before, so nothing overlaps),
the cost of starting the same Python process bare, and the difference: what kubeline adds per step.
Caching is off so every step really runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local_scale_bench import STEPS, pipeline

from kubeline.backends.local import LocalRunner
from kubeline.engine.plan import build, load_spec
from kubeline.engine.run import bind_arguments

STEP_CODE = STEPS["python"][2]  # the step's own Python, also timed bare


def time_chain(steps: int) -> float:
    plan = build(load_spec(pipeline("chain", steps, "python")))
    with tempfile.TemporaryDirectory() as directory:
        runner = LocalRunner(plan, bind_arguments(plan, {}), "bench", run_dir=Path(directory), cache=None)
        started = time.perf_counter()
        result = runner.run()
        elapsed = time.perf_counter() - started
    assert result.decision.phase == "Succeeded", result.decision.message
    assert result.state.steps[f"step-{steps - 1}"].outputs["y"] == str(steps)
    return elapsed


def time_bare_process(count: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        out = str(Path(directory) / "y")
        started = time.perf_counter()
        for i in range(count):
            subprocess.run([sys.executable, "-c", STEP_CODE, str(i), out], check=True)
        return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    per_step = [time_chain(args.steps) / args.steps for _ in range(args.repeat)]
    bare = statistics.median(time_bare_process(args.steps) for _ in range(args.repeat))
    best, median = min(per_step), statistics.median(per_step)
    print(f"chain of {args.steps} trivial Python steps, {args.repeat} runs")
    print(f"  wall time per step:      median {median * 1000:6.1f} ms   best {best * 1000:6.1f} ms")
    print(f"  bare python3 -c per run: median {bare * 1000:6.1f} ms")
    print(f"  kubeline overhead/step:  median {(median - bare) * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
