"""What reading steps' metrics adds to the controller's work on a large loop.

    python benchmarks/metrics_bench.py [--steps 2000] [--repeat 5]

A finished loop of STEPS steps, each with one output: a plain value, or KFP's mlpipeline-metrics JSON. Prints
the time of one decision plus one status document (what the controller computes on each pass), the first pass
and the best later one, with and without metrics outputs, and the status's size in bytes (it must stay well
under etcd's 1.5 MiB; a run shows the metrics of its first 100 steps).
"""

from __future__ import annotations

import argparse
import json
import time

from kubeline.api.models import RunStatus
from kubeline.controller.status import status_document, timestamp
from kubeline.engine.plan import build, load_spec
from kubeline.engine.run import decide
from kubeline.engine.state import RunState, StepState


def finished_loop(steps: int, output_type: str) -> tuple[object, RunState]:
    component = {
        "name": "score",
        "inputs": [{"name": "i"}],
        "outputs": [{"name": "mlpipeline-metrics", "type": output_type}],
        "container": {"image": "x", "command": ["score", "{{inputs.i}}", "{{outputs.mlpipeline-metrics.path}}"]},
    }
    task = {"name": "each", "component": "score", "forEach": list(range(steps)), "arguments": {"i": "{{item}}"}}
    plan = build(load_spec({"components": [component], "tasks": [task]}))
    state = RunState(started_at=0)
    for i in range(steps):
        text = json.dumps({"metrics": [{"name": "accuracy", "numberValue": i / steps, "format": "RAW"}]})
        state.steps[f"each[{i}]"] = StepState("Succeeded", outputs={"mlpipeline-metrics": text})
    return plan, state


def one_pass(plan: object, state: RunState) -> int:
    decision = decide(plan, {}, state, 3)  # type: ignore[arg-type]  # a Plan, built above
    document = status_document(plan, decision, state, RunStatus(started_at=timestamp(0)), 3)  # type: ignore[arg-type]
    return len(json.dumps(document.to_dict()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="passes (at least 2)")
    args = parser.parse_args()
    for output_type in ("string", "metrics"):
        plan, state = finished_loop(args.steps, output_type)
        times, size = [], 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            size = one_pass(plan, state)
            times.append(time.perf_counter() - started)
        print(
            f"{args.steps} steps, output type {output_type:8}: decide + status first {times[0] * 1000:6.1f} ms, "
            f"then best {min(times[1:]) * 1000:6.1f} ms (metrics parsed once), status {size:,} bytes"
        )


if __name__ == "__main__":
    main()
