"""The local runner: every step is a process on this machine, independent steps run side by side.

The container image is not used: the component's command runs on the host, with ``python``/``python3``
meaning the interpreter running kubeline (so the steps see the same installed packages). Outputs are
files under the run's directory; artifacts go to an artifact store (``kubeline.store``: a local
directory by default, or an S3 bucket) and pass between steps as objects there, downloaded into each
consumer's folder; results are cached as the store's cache records, under the same keys and staleness
rules as the cluster's CacheEntry resources, and each step's log is stored there too.

A run's folder is ``$KUBELINE_HOME/runs/NAME``, NAME a valid name (api/names.py), created new for each
run and checked to lie inside ``runs``: the runner writes only under it and the cache, and deletes only
what it created there. On Linux every step runs under a guard process (see ``stepguard``), so no process
a step starts outlives the step, a cancelled run, or kubeline itself.

Whatever a step leaves behind is read defensively: only regular files, never more than a cap (the
values' limit, the tail of a log), never blocking on a FIFO; artifacts are stored by streaming.

Modules: ``runner`` (the loop), ``attempts`` (a step's folder, command and outputs), ``processes`` (starting,
stopping and awaiting steps), ``guard`` (the launcher of ``backends/stepguard.py``), ``cache`` (the store's
cache records), ``logs`` (a run's logs read back from its store), ``files``.
"""

from kubeline.backends.local.cache import StoreCache
from kubeline.backends.local.files import create_run_dir, default_run_name, kubeline_home, runs_root
from kubeline.backends.local.logs import is_local_run, record_store, recorded_store, reused_steps, stored_logs
from kubeline.backends.local.runner import LocalRunner, RunResult, local_identity

__all__ = [
    "LocalRunner",
    "RunResult",
    "StoreCache",
    "create_run_dir",
    "default_run_name",
    "is_local_run",
    "kubeline_home",
    "local_identity",
    "record_store",
    "recorded_store",
    "runs_root",
    "reused_steps",
    "stored_logs",
]
