"""The ``kubeline`` command."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kubeline.engine.errors import Issue, PipelineInvalid

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_SOFTWARE = 70  # sysexits.h EX_SOFTWARE: kubeline itself failed

_DESCRIPTION = """\
kubeline runs ML pipelines: on this machine (kubeline run), or on Kubernetes as Pipeline and Run
resources reconciled by the kubeline operator.

Try it:
  kubeline run examples/add-subtract-multiply.yaml -p value_1=7 -p value_2=3
  kubeline validate examples/*.yaml
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubeline", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run a pipeline on this machine, each step as a local process",
        description=(
            "Run a pipeline on this machine. Each step runs as a local process (the container image is "
            "not used; `python3` in a step is the interpreter running kubeline); independent steps run "
            "side by side; results are cached on disk under $KUBELINE_HOME (default ~/.kubeline). "
            "Exit status: 0 when the run succeeded, 1 when it failed or was cancelled, 2 for invalid input."
        ),
    )
    run.add_argument(
        "file",
        type=Path,
        help="Pipeline YAML file (a Run in the same file gives its arguments), or a Python file with a @dsl.pipeline function",
    )
    run.add_argument("--function", help="with a Python file: the @dsl.pipeline function to run (when it has several)")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a pipeline parameter (repeatable); VALUE is parsed by the parameter's type",
    )
    run.add_argument("--json", action="store_true", help="print the result as JSON (for scripts) instead of a table")
    run.add_argument("--no-cache", action="store_true", help="neither reuse nor record cached results")
    run.add_argument("--name", help="run name (default: PIPELINE-TIMESTAMP-RANDOM)")
    run.add_argument(
        "--max-parallel",
        type=_at_least_one,
        metavar="N",
        help="most steps running at once on this machine (default: twice the CPU count, at least 4)",
    )

    validate = commands.add_parser(
        "validate",
        help="check pipeline files and report every problem, naming the field",
        description="Check Pipeline files without running them. Exit status 2 when any has a problem.",
    )
    validate.add_argument("files", type=Path, nargs="+", help="Pipeline YAML files")

    compile_ = commands.add_parser(
        "compile",
        help="compile a Python pipeline (kubeline.dsl) into Pipeline YAML",
        description="Compile the @dsl.pipeline function of a Python file into a Pipeline resource, like KFP's dsl-compile.",
    )
    compile_.add_argument("file", type=Path, help="Python file defining one or more @dsl.pipeline functions")
    compile_.add_argument("--function", help="the pipeline function to compile (required when the file has several)")
    compile_.add_argument("-o", "--output", type=Path, help="output YAML file (default: standard output)")

    import_ = commands.add_parser(
        "import",
        help="convert a workflow compiled by the KFP v1 SDK into a kubeline Pipeline",
        description="Convert an Argo Workflow compiled by the KFP v1 SDK (kfp.compiler / dsl-compile) into a Pipeline.",
    )
    import_.add_argument("file", type=Path, help="Argo Workflow YAML compiled by the KFP v1 SDK")
    import_.add_argument("-o", "--output", type=Path, help="output YAML file (default: standard output)")
    import_.add_argument("--name", help="name of the Pipeline (default: from the workflow)")
    import_.add_argument(
        "--strict", action="store_true", help="fail when the workflow uses anything kubeline cannot carry over"
    )

    submit = commands.add_parser(
        "submit",
        help="create the Pipeline and a Run on the cluster of the current kube context",
        description="Apply a pipeline (YAML, or Python compiled on the fly) to the cluster and start a Run of it.",
    )
    submit.add_argument("file", type=Path, help="Pipeline YAML file or Python pipeline file")
    submit.add_argument("--function", help="with a Python file: the @dsl.pipeline function")
    submit.add_argument(
        "-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="run argument (repeatable)"
    )
    submit.add_argument("-n", "--namespace", help="namespace (default: the kube context's)")
    submit.add_argument("--experiment", help="experiment name, kept as the label kubeline.dev/experiment")
    submit.add_argument("--name", help="run name (default: generated from the pipeline name)")
    submit.add_argument("--wait", action="store_true", help="wait for the run to finish; exit 0 only when it succeeded")

    get = commands.add_parser(
        "get",
        help="show runs on the cluster, or one run's steps",
        description="List Runs, or show one Run's steps, phases and outputs.",
    )
    get.add_argument("run", nargs="?", help="a Run's name (default: list runs)")
    get.add_argument("-n", "--namespace", help="namespace (default: the kube context's)")
    get.add_argument("--experiment", help="only runs of this experiment")
    get.add_argument("--json", action="store_true", help="print JSON")

    logs = commands.add_parser(
        "logs", help="print the logs of a run's steps", description="Print the logs of a Run's step pods."
    )
    logs.add_argument("run", help="the Run's name")
    logs.add_argument("task", nargs="?", help="a step id (default: every step)")
    logs.add_argument("-n", "--namespace", help="namespace (default: the kube context's)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until the step ends")

    operator = commands.add_parser(
        "operator",
        help="run the operator: reconcile Runs into pods (in a cluster, or from your machine)",
        description="Run the kubeline operator with kopf, against the current kube context or in-cluster config.",
    )
    scope = operator.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)")
    operator.add_argument(
        "--config", type=Path, help="operator settings YAML (scheduling defaults, allowed service accounts…)"
    )
    operator.add_argument("--liveness", metavar="URL", help="serve a health endpoint, e.g. http://0.0.0.0:8080/healthz")
    operator.add_argument("-v", "--verbose", action="store_true", help="log kopf's own work too")

    crds = commands.add_parser(
        "crds",
        help="print the CustomResourceDefinitions (kubectl apply -f -)",
        description="Print the CRDs generated from kubeline's API models.",
    )
    crds.add_argument("--write", type=Path, metavar="DIR", help="write one file per CRD into DIR instead")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {
        "run": _run,
        "validate": _validate,
        "crds": _crds,
        "compile": _delegate("kubeline.sdk.commands", "compile_command"),
        "import": _delegate("kubeline.importers.commands", "import_command"),
        "submit": _delegate("kubeline.sdk.commands", "submit_command"),
        "get": _delegate("kubeline.sdk.commands", "get_command"),
        "logs": _delegate("kubeline.sdk.commands", "logs_command"),
        "operator": _operator,
    }[args.command]
    try:
        return handler(args)
    except PipelineInvalid as invalid:
        _print_issues(invalid)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `kubeline crds | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except OSError as error:
        if not _names_user_path(error, args):
            return _bug(error)
        print(f"kubeline: {error.filename}: {error.strerror or error}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as error:  # noqa: BLE001 - the last resort: one line, and a request to report it
        return _bug(error)


def _names_user_path(error: OSError, args: argparse.Namespace) -> bool:
    """Whether an OSError is about a path the user gave (an argument, or $KUBELINE_HOME), or lies inside one."""
    import os

    given = [value for value in vars(args).values() if isinstance(value, Path)]
    given += [
        path for value in vars(args).values() if isinstance(value, list) for path in value if isinstance(path, Path)
    ]
    if os.environ.get("KUBELINE_HOME"):
        given.append(Path(os.environ["KUBELINE_HOME"]))
    failed = [Path(name) for name in (error.filename, error.filename2) if isinstance(name, (str, bytes, os.PathLike))]
    roots = [Path(os.path.abspath(path)) for path in given]
    return any(
        Path(os.path.abspath(path)) == root or root in Path(os.path.abspath(path)).parents
        for path in failed
        for root in roots
    )


def _bug(error: BaseException) -> int:
    print(f"kubeline: internal error: {type(error).__name__}: {error}", file=sys.stderr)
    print("this is a bug in kubeline, please report it (with the command and input that caused it)", file=sys.stderr)
    return EXIT_SOFTWARE


def _delegate(module: str, function: str) -> Any:
    """Commands living beside their feature; imported only when used, so `kubeline run` starts fast."""

    def handler(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), function)(args))

    return handler


def _print_issues(invalid: PipelineInvalid, source: str = "") -> None:
    count = len(invalid.issues)
    print(f"{source + ': ' if source else ''}{count} problem{'s' if count != 1 else ''}:", file=sys.stderr)
    for issue in invalid.issues:
        print(f"  {issue}", file=sys.stderr)


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise PipelineInvalid([Issue(f"-p {pair}", "write parameters as NAME=VALUE")])
        params[name.strip()] = value
    return params


def bind_or_explain(plan: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    """The run's typed parameters; bad arguments become problems the CLI prints (exit status 2)."""
    from kubeline.engine.run import bind_arguments

    try:
        return bind_arguments(plan, arguments)
    except ValueError as error:
        raise PipelineInvalid([Issue("", line) for line in str(error).splitlines()]) from None


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


def _run(args: argparse.Namespace) -> int:
    from rich.text import Text

    from kubeline.api.names import name_problem
    from kubeline.backends.local import LocalCache, LocalRunner, kubeline_home
    from kubeline.display import Progress, plain_console, print_result, result_json
    from kubeline.loading import load_pipeline_file

    if args.name is not None and (problem := name_problem(args.name)):
        raise PipelineInvalid([Issue("--name", problem)])
    loaded = load_pipeline_file(args.file, function=args.function)
    params = bind_or_explain(loaded.plan, {**loaded.run_arguments, **parse_params(args.param)})
    name, run_dir = _new_run_dir(args.name, loaded.name)
    console = plain_console(stderr=args.json)
    if not console.is_terminal:  # logs and CI: wide enough for step ids and outputs on one line
        console = plain_console(stderr=args.json, width=140)
    warnings = plain_console(stderr=True, soft_wrap=True)
    cache = (
        None
        if args.no_cache
        else LocalCache(
            kubeline_home() / "cache", warn=lambda message: warnings.print(Text(f"warning: {message}", style="yellow"))
        )
    )
    if not args.json:
        console.print(
            Text(
                f"running {loaded.name} locally as {name} (steps run as local processes; images are not used)",
                style="dim",
            )
        )
    with Progress(console, name) as progress:
        runner = LocalRunner(
            loaded.plan,
            params,
            name,
            run_dir=run_dir,
            cache=cache,
            on_change=progress.update,
            max_parallel=args.max_parallel,
        )
        interrupts = _Interrupts(runner, console)
        previous = {
            signum: signal.signal(signum, interrupts) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        try:
            result = runner.run()
        except _StopNow as stop:
            console.print(Text(f"stopped {name}: every step's processes were killed", style="red"))
            return 128 + stop.signum
        except OSError as error:  # e.g. the disk filled up, or the run's folder was removed
            console.print(Text(f"the run {name} stopped, its steps killed: {error}", style="red"))
            return EXIT_FAILED
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    if args.json:
        print(result_json(result))
    else:
        print_result(console, result)
    return 0 if result.decision.phase == "Succeeded" else EXIT_FAILED


def _new_run_dir(requested: str | None, pipeline: str) -> tuple[str, Path]:
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


def _validate(args: argparse.Namespace) -> int:
    from kubeline.loading import load_pipeline_file, run_argument_problems

    status = 0
    for path in args.files:
        try:
            loaded = load_pipeline_file(path)
            problems = run_argument_problems(loaded)
            if problems:
                raise PipelineInvalid(problems)
        except PipelineInvalid as invalid:
            _print_issues(invalid, str(path))
            status = EXIT_INVALID
            continue
        steps = loaded.plan.steps()
        print(f"{path}: pipeline {loaded.name!r} is valid ({steps} step{'s' if steps != 1 else ''})")
    return status


def _operator(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import os

    import kopf

    if args.config:
        os.environ["KUBELINE_CONFIG"] = str(args.config)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        logging.getLogger("kopf").setLevel(logging.WARNING)
    import kubeline.controller.handlers  # noqa: F401 - registers the handlers

    asyncio.run(
        kopf.operator(
            standalone=True,
            namespaces=args.namespace or None,
            clusterwide=not args.namespace,
            liveness_endpoint=args.liveness,
        )
    )
    return 0


def _crds(args: argparse.Namespace) -> int:
    from kubeline.api.crdgen import crds, render

    documents = crds()
    if args.write:
        if args.write.exists() and not args.write.is_dir():
            raise PipelineInvalid(
                [Issue(f"--write {args.write}", "is a file: give a directory to write the CRDs into")]
            )
        args.write.mkdir(parents=True, exist_ok=True)
        for file_name, crd in documents.items():
            (args.write / file_name).write_text(render(crd))
            print(f"wrote {args.write / file_name}")
        return 0
    print("\n---\n".join(render(crd) for crd in documents.values()), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
