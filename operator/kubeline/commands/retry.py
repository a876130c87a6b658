"""`kubeline retry`: a new Run of a finished Run's pipeline and arguments that reuses the steps that succeeded."""

from __future__ import annotations

import argparse
from typing import Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.commands.common import (
    add_command,
    add_namespace_argument,
    bind_or_explain,
    cluster_client,
    local_run_dir,
    wait_and_report,
)


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "retry",
        retry_command,
        help="retry a finished run from its failed steps, reusing the steps that succeeded",
        description=(
            "Create a Run that retries RUN (spec.retryOf): the same frozen pipeline and arguments; the steps that "
            "succeeded in RUN are reused (even with caching off), the failed, cancelled and skipped ones run again. "
            "--from STEP runs STEP again with everything downstream of it. RUN itself is left as it was."
        ),
    )
    parser.add_argument("run", help="the finished Run's name (or id)")
    parser.add_argument(
        "--from",
        dest="from_steps",
        action="append",
        default=[],
        metavar="STEP",
        help="run this task again (every loop instance; cond.train inside a group) or step id (loop[2].train), "
        "and everything downstream of it, even where it succeeded (repeatable)",
    )
    parser.add_argument("--name", help="the new Run's name (default: RUN-retry-XXXXX)")
    add_namespace_argument(parser)
    parser.add_argument("--wait", action="store_true", help="wait for the run to finish; exit 0 only when it succeeded")
    parser.add_argument(
        "--local",
        action="store_true",
        help="retry a run `kubeline run` made on this machine (under $KUBELINE_HOME/runs), here, as kubeline run does",
    )


def retry_command(args: argparse.Namespace) -> int:
    from kubeline.api.names import name_problem

    if args.name is not None and (problem := name_problem(args.name)):
        raise PipelineInvalid([Issue("--name", problem)])
    if args.local:
        return _retry_locally(args)
    client = cluster_client(args)
    try:
        run = client.retry_run(args.run, args.from_steps, args.name)
    except PipelineInvalid as refused:  # the new Run's name taken, or the API server's refusal
        raise PipelineInvalid(
            [Issue("--name", issue.message) if issue.path == "run_name" else issue for issue in refused.issues]
        ) from None
    except ValueError as refused:  # not found, not finished, never started, an unknown step
        raise PipelineInvalid([Issue(args.run, str(refused))]) from None
    print(f"run {run.resource_name} retrying {args.run} created in namespace {run.namespace}")
    print(f"  follow it: kubeline get {run.resource_name} -n {run.namespace}")
    return wait_and_report(client, run.resource_name) if args.wait else 0


def _retry_locally(args: argparse.Namespace) -> int:
    """A new local run of the local run's pipeline and arguments, in its artifact store, reusing its succeeded steps."""
    from kubeline.api.constants import PIPELINE_LABEL, RETRY_OF_LABEL
    from kubeline.api.models import RunStatus
    from kubeline.backends.local import recorded_store, runs_root
    from kubeline.commands.run import LocalRunSetup, new_run_dir, open_run_store, run_locally
    from kubeline.engine import retry
    from kubeline.engine.plan import build, load_spec
    from kubeline.engine.state import recorded_state
    from kubeline.ui.local import RUN_DOCUMENT, read_document

    if args.namespace:
        raise PipelineInvalid([Issue("--local", "a local run has no namespace: leave out -n (or --local)")])
    run_dir = local_run_dir(args.run, None)
    document = read_document(run_dir / RUN_DOCUMENT) if run_dir is not None else None
    if run_dir is None or document is None:
        raise PipelineInvalid(
            [Issue(args.run, f"no local run of that name with a readable {RUN_DOCUMENT} in {runs_root()}")]
        )
    try:
        status = RunStatus.model_validate(document.get("status") or {})
        store_url = recorded_store(run_dir)
    except ValueError as error:  # pydantic's ValidationError is one
        raise PipelineInvalid([Issue(args.run, f"cannot read the local run: {error}")]) from None
    problem = retry.source_problem(args.run, status)
    if problem is not None:
        raise PipelineInvalid([Issue(args.run, problem)])
    plan = build(load_spec(status.pipeline_spec, "status.pipelineSpec"))
    try:
        selection = retry.select(plan, args.run, status.tasks or {}, args.from_steps)
    except retry.RetryInvalid as error:
        raise PipelineInvalid([Issue("--from", str(error))]) from None
    print(f"retrying {args.run}{retry.note(args.run, selection)}")
    arguments = status.arguments or {}
    labels = (document.get("metadata") or {}).get("labels") or {}
    pipeline = str(labels.get(PIPELINE_LABEL) or args.run)
    _, store = open_run_store(store_url)
    name, new_dir = new_run_dir(args.name, pipeline)
    setup = LocalRunSetup(
        name,
        new_dir,
        plan,
        pipeline,
        status.pipeline_spec or {},
        arguments,
        bind_or_explain(plan, arguments),
        store_url,
        store,
        reused=recorded_state(RunStatus(tasks=selection.reused)).steps,
        run_again=tuple(args.from_steps),
        labels={RETRY_OF_LABEL: args.run},
    )
    return run_locally(setup, json_output=False, use_cache=True, ui_port=None, max_parallel=None)
