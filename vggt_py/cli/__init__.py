"""The ``vggt-py`` command line: one module per command, parsing and printing only.

Each command module (``vggt_py.cli.reconstruct``, ``track``, ``info``, ``check``, ``demo``, ``synth``,
``eval``, ``train``) exposes ``register(subparsers)``, which adds its parser and sets ``func`` (a
callable taking the parsed ``argparse.Namespace`` and returning an exit code). The modules are
imported when the parser is built, and each imports the heavy parts of the library (torch models,
the trainer, trimesh) only when its command runs, so ``vggt-py --help`` stays fast.

Errors a person can act on -- :class:`~vggt_py.cli.common.CLIError` raised here, any
:class:`~vggt_py.errors.VGGTError` raised by the library -- are printed as
``vggt-py COMMAND: error: MESSAGE`` with exit code 2. The library never imports this package.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from vggt_py.cli.common import CLIError
from vggt_py.errors import VGGTError

__all__ = ["COMMAND_MODULES", "CLIError", "build_parser", "main"]

# The command modules, in the order their commands are listed by ``vggt-py --help``.
COMMAND_MODULES: tuple[str, ...] = (
    "vggt_py.cli.eval",
    "vggt_py.cli.synth",
    "vggt_py.cli.reconstruct",
    "vggt_py.cli.track",
    "vggt_py.cli.info",
    "vggt_py.cli.train",
    "vggt_py.cli.check",
    "vggt_py.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``vggt-py`` parser with every command of :data:`COMMAND_MODULES` registered."""
    parser = argparse.ArgumentParser(
        prog="vggt-py",
        description="VGGT: cameras, depth, point maps and tracks from photos.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vggt-py`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except VGGTError as err:  # CLIError, and the library's errors a person can act on
        print(f"vggt-py {args.command}: error: {err}", file=sys.stderr)
        return 2
