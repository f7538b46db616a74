"""``python -m core <command> ...``: the worker's command line.

Each command lives in ``core/commands/<name>.py`` (dashes become underscores) and
defines ``HELP: str``, ``add_arguments(parser)`` and ``run(args, progress) -> int``.
This file only dispatches and turns errors into clear messages and exit codes:

* 0 success, 1 internal error, 2 bad input, 3 model file problem, 4 output problem,
  130 cancelled (SIGINT/SIGTERM).

``--progress json`` switches progress and errors to JSON lines on stdout
(the protocol the Blender add-on reads; docs/formats.md).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import traceback
from types import ModuleType

from core.errors import Cancelled, MocapError
from core.progress import Progress

COMMANDS = ("detect", "overlay", "capture", "inspect", "evaluate", "export-mesh")


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"core.commands.{name.replace('-', '_')}")
    except ModuleNotFoundError as exc:
        if exc.name == f"core.commands.{name.replace('-', '_')}":
            return None  # command not built yet
        raise


def _raise_cancelled(signum: int, _frame: object) -> None:
    raise Cancelled(f"cancelled by signal {signal.Signals(signum).name}")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__.split("\n")[0])
    parser.add_argument("--progress", choices=("text", "json", "quiet"), default="text",
                        help="progress as a bar on stderr (text), JSON lines on stdout (json), or none")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules: dict[str, ModuleType] = {}
    for name in COMMANDS:
        module = _load(name)
        if module is None:
            continue
        modules[name] = module
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        command_parser.add_argument("--progress", choices=("text", "json", "quiet"),
                                    default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        module.add_arguments(command_parser)
    return parser, modules


def _report_out_of_memory(progress: Progress) -> None:
    """Say 'out of memory' even when memory is still short: formatting the traceback (a long
    chain when an import failed) can raise MemoryError again, which would escape as a bare
    traceback; then the message goes without it, and as a plain line as a last resort."""
    message = "out of memory: try a smaller frame range, --stride, or fewer people"
    try:
        details = traceback.format_exc()
    except MemoryError:
        details = ""
    try:
        progress.error(message, "MemoryError", 1, details)
    except MemoryError:
        os.write(2, f"error: {message}\n".encode())


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    progress = Progress(args.progress)
    signal.signal(signal.SIGTERM, _raise_cancelled)
    signal.signal(signal.SIGINT, _raise_cancelled)
    try:
        code = modules[args.command].run(args, progress)
        return int(code or 0)
    except MocapError as exc:
        progress.error(str(exc), type(exc).__name__, exc.exit_code)
        return exc.exit_code
    except MemoryError:
        _report_out_of_memory(progress)
        return 1
    except Exception as exc:  # noqa: BLE001 - last line of defence: report, never a bare traceback
        progress.error(f"internal error: {type(exc).__name__}: {exc} (please report this with the "
                       "traceback shown by --progress json)", type(exc).__name__, 1,
                       traceback.format_exc())
        return 1


if __name__ == "__main__":
    sys.exit(main())
