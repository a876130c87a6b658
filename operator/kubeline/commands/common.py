"""What the commands share: exit statuses, `-p NAME=VALUE`, reading a pipeline file, printing problems."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeline.api.problems import Issue, PipelineInvalid

if TYPE_CHECKING:  # the engine and YAML modules load when a command reads a file: `kubeline --help` starts fast
    from kubeline.engine.documents import LoadedPipeline

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_SOFTWARE = 70  # sysexits.h EX_SOFTWARE: kubeline itself failed


def add_command(
    subparsers: Any, name: str, handler: Callable[[argparse.Namespace], int], *, help: str, description: str
) -> argparse.ArgumentParser:
    """The subcommand's parser, its handler set for `kubeline` to call."""
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help, description=description)
    parser.set_defaults(handler=handler)
    return parser


def add_file_arguments(
    parser: argparse.ArgumentParser, file_help: str, *, function_help: str | None = None, output: bool = False
) -> None:
    """The input file, with `--function` for a Python file with several pipelines and `-o` for a YAML result."""
    parser.add_argument("file", type=Path, help=file_help)
    if function_help:
        parser.add_argument("--function", help=function_help)
    if output:
        parser.add_argument("-o", "--output", type=Path, help="output YAML file (default: standard output)")


def add_param_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help=help)


def add_namespace_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--namespace", help="namespace (default: the kube context's)")


def print_problems(invalid: PipelineInvalid, source: str = "") -> None:
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


def bind_or_explain(plan: Any, arguments: dict[str, Any], run: dict[str, str] | None = None) -> dict[str, Any]:
    """The run's typed parameters (``run``: the run's name, namespace and uid, for placeholders in defaults);
    bad arguments become problems the CLI prints (exit status 2)."""
    from kubeline.engine.run import bind_arguments

    try:
        return bind_arguments(plan, arguments, run)
    except ValueError as error:
        raise PipelineInvalid([Issue("", line) for line in str(error).splitlines()]) from None


def load_pipeline_file(path: Path, function: str | None = None) -> LoadedPipeline:
    """A pipeline from YAML, or from a Python file with ``@dsl.pipeline`` functions (compiled on the fly)."""
    from kubeline.engine.documents import pipeline_from_documents

    if path.suffix == ".py":
        from kubeline.sdk.loader import pipeline_document_from_python

        documents = [pipeline_document_from_python(path, function)]
    else:
        from kubeline.api.yamlio import read_documents

        documents = read_documents(path)
    return pipeline_from_documents(documents, str(path), path.stem)


def write_output(document: Any, output: Path | None, summary: str = "") -> None:
    """A command's YAML result (``-o FILE``), its missing parent folders created as `mkdir -p` would:
    the user named the place; a write that still fails is a problem with that path, not a crash."""
    from kubeline.api import yamlio

    try:
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
        yamlio.write(document, output, summary)
    except OSError as error:
        reason = error.strerror or str(error)
        if isinstance(error, (FileExistsError, NotADirectoryError)):
            reason = "a part of the path is a file, not a folder"
        raise PipelineInvalid(
            [
                Issue(
                    f"-o {output}",
                    f"cannot write the result there ({reason}): choose a file path in a folder you can write to",
                )
            ]
        ) from None


def cluster_client(args: argparse.Namespace) -> Any:
    """The SDK's client for the namespace asked for (imported here: it pulls in the Kubernetes client)."""
    from kubeline.sdk.client import Client

    return Client(namespace=args.namespace)


def wait_and_report(client: Any, run: str) -> int:
    """`--wait`: the Run's outcome and outputs once it finished; the exit status 0 only when it succeeded."""
    finished = client.wait_for_run_completion(run).run
    print(f"{finished.phase}: {finished.run_status.get('message', '')}")
    for name, value in finished.outputs.items():
        print(f"  {name} = {value}")
    return 0 if finished.phase == "Succeeded" else EXIT_FAILED


def local_run_dir(name: str, namespace: str | None) -> Path | None:
    """The folder of the local run ``name`` (`kubeline run` made it), when there is one and no namespace asks
    for a cluster's Run of that name."""
    from kubeline.api.names import name_problem
    from kubeline.backends.local import is_local_run, kubeline_home

    if namespace or name_problem(name):
        return None
    run_dir = kubeline_home() / "runs" / name
    return run_dir if is_local_run(run_dir) else None


def names_user_path(error: OSError, args: argparse.Namespace) -> bool:
    """Whether an OSError is about a path the user gave (an argument, or $KUBELINE_HOME), or lies inside one."""
    given = [value for value in vars(args).values() if isinstance(value, Path)]
    given += [
        path for value in vars(args).values() if isinstance(value, list) for path in value if isinstance(path, Path)
    ]
    if os.environ.get("KUBELINE_HOME"):
        given.append(Path(os.environ["KUBELINE_HOME"]))
    named = (error.filename, error.filename2)
    failed = [Path(os.fsdecode(name)) for name in named if isinstance(name, (str, bytes, os.PathLike))]
    roots = [Path(os.path.abspath(path)) for path in given]
    return any(
        Path(os.path.abspath(path)) == root or root in Path(os.path.abspath(path)).parents
        for path in failed
        for root in roots
    )
