"""The ``vggt-py`` command line: one module per command, parsing and printing only.

Each command module (``vggt_py.cli.reconstruct``, ``track``, ``info``, ``check``, ``demo``, ``synth``,
``eval``, ``train``, ``view``) exposes ``register(subparsers)``, which adds its parser and sets ``func`` (a
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
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

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
    "vggt_py.cli.view",
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
    previous = _on_sigterm(_raise_terminated)
    try:
        return int(args.func(args) or 0)
    except VGGTError as err:  # CLIError, and the library's errors a person can act on
        print(f"vggt-py {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: the library's cleanup (finally blocks) has run
        print(f"vggt-py {args.command}: interrupted; nothing half-written was left in place", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated:
        print(f"vggt-py {args.command}: terminated; nothing half-written was left in place", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        _on_sigterm(previous)


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so that cleanup runs as for Ctrl-C."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def _on_sigterm(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM (main thread only); returns the previous one."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)
