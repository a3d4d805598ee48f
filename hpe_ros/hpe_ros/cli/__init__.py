"""The ``hpe`` command line: every module of this package is one sub-command.

A command module defines ``register(subparsers)``, which adds its parser and sets ``func`` (called with
the parsed arguments, returning an exit code). Registration imports nothing heavy; the work's imports live
in ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from hpe_ros import __version__
from hpe_ros.errors import HpeError
from hpe_ros.logs import quiet_third_party


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help texts that end with ``(default: X)`` where an option has a default worth showing (not for
    unset options, switches or empty lists)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, [], argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The ``hpe`` parser with every command module of :mod:`hpe_ros.cli` registered."""
    parser = argparse.ArgumentParser(prog="hpe", description="hpe_ros: relative head-pose tracking tools")
    parser.add_argument("--version", action="version", version=f"hpe_ros {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the log lines of MediaPipe, TensorFlow Lite, absl and OpenCV (silenced by default)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hpe`` console script."""
    args = build_parser().parse_args(argv)
    try:
        with quiet_third_party(args.verbose):
            return int(args.func(args) or 0)
    except HpeError as error:
        print(f"hpe {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
