"""The ``vggt-py`` command line.

Each sub-command lives next to the code it drives, in a module exposing
``register(subparsers)``; that function adds its parser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit code). This file only
lists those modules, so adding a command never touches another command's code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# "module:function" entries, imported lazily so ``vggt-py --help`` stays fast.
COMMAND_MODULES: tuple[str, ...] = (
    "vggt_py.evaluation.commands:register",
    "vggt_py.data.commands:register",
    "vggt_py.inference.commands:register",
    "vggt_py.training.commands:register",
    "vggt_py.inference.check_commands:register",
    "vggt_py.inference.demo:register",
)


class CLIError(Exception):
    """An error a person can act on: printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vggt-py",
        description="VGGT: cameras, depth, point maps and tracks from photos.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for entry in COMMAND_MODULES:
        module_name, _, func_name = entry.partition(":")
        register = getattr(importlib.import_module(module_name), func_name or "register")
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as err:
        print(f"vggt-py {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    # Run through the package module, so sub-commands and this entry point share one CLIError class.
    from vggt_py.cli import main as package_main

    sys.exit(package_main())
