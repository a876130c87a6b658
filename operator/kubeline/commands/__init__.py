"""The ``kubeline`` command: one module per subcommand, each adding its own parser; errors become exit statuses here."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from kubeline.api.problems import PipelineInvalid
from kubeline.commands import (
    common,
    compile,
    crds,
    gc,
    get,
    graph,
    import_,
    logs,
    operator,
    retry,
    run,
    schedule,
    submit,
    ui,
    validate,
)

_DESCRIPTION = """\
kubeline runs ML pipelines: on this machine (kubeline run), or on Kubernetes as Pipeline and Run
resources reconciled by the kubeline operator.

Try it:
  kubeline run examples/add-subtract-multiply.yaml -p value_1=7 -p value_2=3
  kubeline validate examples/*.yaml
"""

#: In the order `kubeline --help` lists them.
_COMMANDS = (run, validate, compile, import_, submit, schedule, retry, get, logs, graph, ui, gc, operator, crds)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubeline", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.add_to(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except PipelineInvalid as invalid:
        common.print_problems(invalid)
        return common.EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `kubeline crds | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except OSError as error:
        if not common.names_user_path(error, args):
            return _bug(error)
        print(f"kubeline: {error.filename}: {error.strerror or error}", file=sys.stderr)
        return common.EXIT_INVALID
    except Exception as error:  # noqa: BLE001 - the last resort: one line, and a request to report it
        return _bug(error)


def _bug(error: BaseException) -> int:
    print(f"kubeline: internal error: {type(error).__name__}: {error}", file=sys.stderr)
    print("this is a bug in kubeline, please report it (with the command and input that caused it)", file=sys.stderr)
    return common.EXIT_SOFTWARE
