"""`kubeline run`: a pipeline on this machine, each step a local process, with live progress and a summary."""

from __future__ import annotations

import argparse
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.commands.common import (
    EXIT_FAILED,
    add_command,
    add_file_arguments,
    add_param_argument,
    bind_or_explain,
    load_pipeline_file,
    parse_params,
)

if TYPE_CHECKING:  # the local runner loads when a run starts: `kubeline --help` starts fast
    from kubeline.backends.local import LocalRunner, RunResult
    from kubeline.engine.plan import Plan
    from kubeline.engine.state import StepState
    from kubeline.store import ObjectStore


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "run",
        run_command,
        help="run a pipeline on this machine, each step as a local process",
        description=(
            "Run a pipeline on this machine. Each step runs as a local process (the container image is "
            "not used; `python3` in a step is the interpreter running kubeline); independent steps run "
            "side by side; artifacts, step logs and cached results go to an artifact store, by default the "
            "folder store under $KUBELINE_HOME (default ~/.kubeline). "
            "Exit status: 0 when the run succeeded, 1 when it failed or was cancelled, 2 for invalid input."
        ),
    )
    add_file_arguments(
        parser,
        "Pipeline YAML file (a Run in the same file gives its arguments), or a Python file with a @dsl.pipeline function",
        function_help="with a Python file: the @dsl.pipeline function to run (when it has several)",
    )
    add_param_argument(parser, "set a pipeline parameter (repeatable); VALUE is parsed by the parameter's type")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (for scripts) instead of a table")
    parser.add_argument("--no-cache", action="store_true", help="neither reuse nor record cached results")
    parser.add_argument(
        "--artifact-store",
        metavar="URL",
        help=(
            "where artifacts, logs and cached results go: s3://BUCKET[/PREFIX][?endpoint=URL&region=R&pathStyle=true"
            "&caFile=PATH&insecure=true] (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile), "
            "or a folder (/abs/path, ./rel/path); default: $KUBELINE_HOME/store"
        ),
    )
    parser.add_argument("--name", help="run name (default: PIPELINE-TIMESTAMP-RANDOM)")
    parser.add_argument(
        "--max-parallel",
        type=_at_least_one,
        metavar="N",
        help="most steps running at once on this machine (default: twice the CPU count, at least 4)",
    )
    parser.add_argument(
        "--ui", action="store_true", help="serve a live web view of this run on 127.0.0.1 and print its URL"
    )
    parser.add_argument(
        "--ui-port", type=int, default=0, metavar="N", help="port of the --ui view (default: any free port)"
    )


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number; give how many steps may run at once, e.g. 4"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (how many steps may run at once), not {value}")
    return value


def run_command(args: argparse.Namespace) -> int:
    from kubeline.api.names import name_problem
    from kubeline.backends.local import local_identity

    if args.name is not None and (problem := name_problem(args.name)):
        raise PipelineInvalid([Issue("--name", problem)])
    store_url, store = open_run_store(args.artifact_store)
    loaded = load_pipeline_file(args.file, function=args.function)
    arguments = {**loaded.run_arguments, **parse_params(args.param)}
    bind_or_explain(loaded.plan, arguments)  # wrong arguments fail before the run's folder exists
    name, run_dir = new_run_dir(args.name, loaded.name)
    params = bind_or_explain(loaded.plan, arguments, local_identity(name))
    return run_locally(
        LocalRunSetup(
            name,
            run_dir,
            loaded.plan,
            loaded.name,
            loaded.spec.model_dump(by_alias=True, exclude_none=True),
            arguments,
            params,
            store_url,
            store,
        ),
        json_output=args.json,
        use_cache=not args.no_cache,
        ui_port=args.ui_port if args.ui else None,
        max_parallel=args.max_parallel,
    )


@dataclass
class LocalRunSetup:
    """What a local run starts from: its name and new folder, its pipeline and arguments, its store; a retry's
    reused steps (by step id) and the steps it was asked to run again (never served from the cache)."""

    name: str
    run_dir: Path
    plan: Plan
    pipeline: str
    spec: dict[str, Any]
    arguments: dict[str, Any]
    params: dict[str, Any]
    store_url: str
    store: ObjectStore
    reused: dict[str, StepState] = field(default_factory=dict)
    run_again: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)


def run_locally(
    setup: LocalRunSetup, *, json_output: bool, use_cache: bool, ui_port: int | None, max_parallel: int | None
) -> int:
    """Runs ``setup`` with live progress (and a web view on ``ui_port``), then prints the result; the exit status."""
    from rich.text import Text

    from kubeline.backends.local import LocalRunner, StoreCache, record_store
    from kubeline.commands.display import Progress, plain_console, print_result, result_json
    from kubeline.commands.run_document import RunDocumentWriter

    name = setup.name
    record_store(setup.run_dir, setup.store_url)
    console = plain_console(stderr=json_output)
    if not console.is_terminal:  # logs and CI: wide enough for step ids and outputs on one line
        console = plain_console(stderr=json_output, width=140)
    warn = _warn_on_stderr()
    cache = StoreCache(setup.store, warn=warn) if use_cache else None
    if not json_output:
        console.print(
            Text(
                f"running {setup.pipeline} locally as {name} (steps run as local processes; images are not used)",
                style="dim",
            )
        )
    document = RunDocumentWriter(
        setup.run_dir,
        name,
        setup.pipeline,
        setup.spec,
        setup.arguments,
        setup.params,
        setup.store_url,
        setup.plan,
        labels=setup.labels,
        warn=warn,
    )
    with Progress(console, name) as progress:

        def changed(decision: Any, state: Any) -> None:
            progress.update(decision, state)
            document.update(decision, state)

        runner = LocalRunner(
            setup.plan,
            setup.params,
            name,
            run_dir=setup.run_dir,
            store=setup.store,
            cache=cache,
            on_change=changed,
            max_parallel=max_parallel,
            warn=warn,
            reused=setup.reused,
            run_again=setup.run_again,
        )
        server = _serve_ui(runner, name, ui_port) if ui_port is not None else None
        try:
            result = _run_interruptibly(runner, console, name)
        finally:
            document.finish()
    if server is not None:
        _keep_serving(server, console)
    if isinstance(result, int):
        return result
    if json_output:
        print(result_json(result))
    else:
        print_result(console, result)
    return 0 if result.decision.phase == "Succeeded" else EXIT_FAILED


def _serve_ui(runner: LocalRunner, name: str, port: int) -> Any:
    """The local UI in a background thread, able to cancel this run; its URL printed on stdout."""
    from kubeline.backends.local.pod import LOCAL_NAMESPACE
    from kubeline.ui.local import LocalSource
    from kubeline.ui.server import BackgroundServer

    server = BackgroundServer(LocalSource(cancellers={name: runner.cancel}), "127.0.0.1", port)
    try:
        url = server.start()
    except OSError as error:
        raise PipelineInvalid(
            [Issue("--ui-port", f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}")]
        ) from None
    print(f"kubeline UI: {url}runs/{LOCAL_NAMESPACE}/{name}", flush=True)
    return server


def _keep_serving(server: Any, console: Any) -> None:
    """After the run, the view stays until Ctrl-C (or SIGTERM, SIGHUP), so its last state can be read."""
    import threading

    from rich.text import Text

    console.print(Text("the run ended; its web view stays open until Ctrl-C", style="dim"))
    done = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: done.set())
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        while not done.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.stop()


def _run_interruptibly(runner: LocalRunner, console: Any, name: str) -> RunResult | int:
    """The run's result; or, when it was stopped at once or broke off, the exit status to leave with."""
    from rich.text import Text

    interrupts = _Interrupts(runner, console)
    previous = {signum: signal.signal(signum, interrupts) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        return runner.run()
    except _StopNow as stop:
        console.print(Text(f"stopped {name}: every step's processes were killed", style="red"))
        return 128 + stop.signum
    except OSError as error:  # e.g. the disk filled up, or the run's folder was removed
        console.print(Text(f"the run {name} stopped, its steps killed: {error}", style="red"))
        return EXIT_FAILED
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def open_run_store(url: str | None) -> tuple[str, Any]:
    """The artifact store's URL and the store: ``--artifact-store``, or the folder store under $KUBELINE_HOME."""
    from kubeline.backends.local import kubeline_home
    from kubeline.store import open_store

    text = url or str(kubeline_home() / "store")
    try:
        return text, open_store(text)
    except ValueError as error:
        raise PipelineInvalid([Issue("--artifact-store", str(error))]) from None


def _warn_on_stderr() -> Any:
    """Warnings (a damaged cache record, a log not stored) on stderr; the run goes on."""
    from rich.text import Text

    from kubeline.commands.display import plain_console

    warnings = plain_console(stderr=True, soft_wrap=True)
    return lambda message: warnings.print(Text(f"warning: {message}", style="yellow"))


def new_run_dir(requested: str | None, pipeline: str) -> tuple[str, Path]:
    """The run's name and its new folder. A requested name whose folder exists is refused rather than
    renamed, since a script passing --name expects to find its run under that name; a generated name that
    happens to exist is simply drawn again."""
    import os

    from kubeline.backends.local import create_run_dir, default_run_name, kubeline_home, runs_root

    try:
        root = runs_root()
        while True:
            name = requested or default_run_name(pipeline)
            try:
                return name, create_run_dir(name, root)
            except FileExistsError:
                if requested:
                    raise PipelineInvalid(
                        [
                            Issue(
                                "--name",
                                (
                                    f"a run named {name!r} already exists ({root / name}); choose another name, "
                                    "or delete that folder to reuse the name"
                                ),
                            )
                        ]
                    ) from None
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise PipelineInvalid(
            [
                Issue(
                    "KUBELINE_HOME",
                    (
                        f"kubeline cannot keep its runs in {kubeline_home()} ({reason}: {error.filename}); "
                        "set KUBELINE_HOME to a folder you can write to"
                    ),
                )
            ]
        ) from None


class _StopNow(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class _Interrupts:
    """First Ctrl-C, SIGTERM or SIGHUP (terminal closed) cancels the run (running steps stop, the exit handler
    runs); a second one stops everything at once (the runner still kills every step's process tree on the way out)."""

    def __init__(self, runner: Any, console: Any):
        self.runner, self.console, self.cancelled = runner, console, False

    def __call__(self, signum: int, frame: Any) -> None:
        from rich.text import Text

        if not self.cancelled:
            self.cancelled = True
            self.console.print(
                Text(
                    "cancelling: stopping running steps, then the exit handler runs (Ctrl-C again to stop at once)",
                    style="yellow",
                )
            )
            self.runner.cancel()
            return
        for other in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(other, signal.SIG_IGN)  # let the kill finish
        raise _StopNow(signum)
