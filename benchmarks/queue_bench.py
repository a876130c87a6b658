"""What one admission decision costs: engine.queueing.admit over a namespace of many waiting Runs.

    python benchmarks/queue_bench.py [--runs 1000 10000] [--queues 10] [--repeat 20]

The operator decides once per Run that asks to start and once per change in a namespace (a Run starts or ends,
a Queue changes), so this time bounds how many decisions a second one namespace can take. Prints, for each
size: Runs, Queues, median and p99 milliseconds per decision.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from kubeline.engine.queueing import Limits, RunRecord, admit


def namespace(runs: int, queues: int, seed: int = 1) -> tuple[list[RunRecord], dict[str, int]]:
    """``runs`` Runs, a tenth running, spread over ``queues`` Queues (and none), of mixed priorities and ages."""
    rng = random.Random(seed)
    names = [f"q{i}" for i in range(queues)]
    records = [
        RunRecord(
            name=f"run-{i:06d}",
            created=rng.uniform(0, 3600),
            state="running" if rng.random() < 0.1 else "waiting",
            queue=rng.choice([*names, None]),
            priority=rng.randint(-10, 10),
        )
        for i in range(runs)
    ]
    return records, {name: max(1, runs // (queues * 20)) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--queues", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"{'runs':>7} {'queues':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for size in args.runs:
        records, queues = namespace(size, args.queues)
        limits = Limits(runs=size // 5)
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            admit(records, queues, limits, 3600.0)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"{size:>7} {args.queues:>6} {statistics.median(times):>8.2f} {p99:>8.2f}")


if __name__ == "__main__":
    main()
