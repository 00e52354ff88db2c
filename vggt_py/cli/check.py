"""``vggt-py check OUT``: consistency report of a saved reconstruction (see :mod:`vggt_py.inference.consistency`)."""

from __future__ import annotations

import argparse
import json
import os
import zipfile
from pathlib import Path

from vggt_py.cli.common import NPZ_NAME, CLIError, escape, make_console, reconstruction_npz
from vggt_py.inference.consistency import CHECKS, ConsistencyThresholds, check
from vggt_py.utils.io import atomic_write_text

__all__ = ["register", "run_check"]

REPORT_NAME = "consistency.json"

# (flag, metavar, help) of the ConsistencyThresholds fields settable from the command line.
_THRESHOLD_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--point-error", "X", "largest median |X_depth - X_head| / depth"),
    ("--rotation-deg", "DEG", "largest rotation error, camera head vs point map"),
    ("--translation-deg", "DEG", "largest translation-direction error, camera head vs point map"),
    ("--sampson-px", "PX", "largest median Sampson error in pixels"),
    ("--depth-tolerance", "X", "relative depth tolerance of the multi-view check"),
    ("--min-depth-agreement", "X", "smallest multi-view depth agreement"),
)

_EPILOG = f"""\
OUT is a reconstruction output folder holding {NPZ_NAME} (vggt-py reconstruct --formats ...,npz)
or such an .npz file. A summary is printed (the verdict, which checks ran, one line per check, the
suspect frames); --verbose adds the per-frame table and every reason. The full report is written to
{REPORT_NAME} next to the npz.
Exit codes: 0 (no suspect frame; or --fail-on none), 1 (suspect frames or an issue with the whole
reconstruction), 2 (error).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vggt-py check``."""
    parser = subparsers.add_parser(
        "check",
        help="check that cameras, depth, point map and tracks of a reconstruction agree",
        description=(
            "Per-frame consistency of a reconstruction's redundant outputs: depth vs point-head points, "
            "camera head vs the pose the point map implies, epipolar (Sampson) error of correspondences, "
            "and multi-view depth agreement."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", type=Path, metavar="OUT", help=f"output folder (with {NPZ_NAME}) or .npz file")
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help=f"report path (default: {REPORT_NAME} next to OUT's npz)"
    )
    parser.add_argument("--no-json", action="store_true", help="print the table only")
    parser.add_argument(
        "--checks",
        default=",".join(CHECKS),
        metavar="LIST",
        help="comma-separated subset of points,camera,epipolar,depth (default: all)",
    )
    defaults = ConsistencyThresholds()
    for flag, metavar, help_text in _THRESHOLD_FLAGS:
        default = getattr(defaults, _field(flag))
        parser.add_argument(flag, type=float, metavar=metavar, help=f"{help_text} (default {default:g})")
    parser.add_argument(
        "--max-points", type=int, default=512, metavar="N", help="pixels sampled per frame (default 512)"
    )
    parser.add_argument("--neighbours", type=int, default=4, metavar="N", help="neighbour frames per frame (default 4)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="sampling seed (default 0)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also print the per-frame table and reasons")
    parser.add_argument(
        "--fail-on",
        choices=("suspect", "none"),
        default="suspect",
        help="exit with 1 when a frame is suspect (default), or never (none: 0 whenever the report was made)",
    )
    parser.add_argument("--strict", action="store_true", help=argparse.SUPPRESS)  # the default since --fail-on
    parser.set_defaults(func=run_check)



def _field(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _thresholds(args: argparse.Namespace) -> ConsistencyThresholds:
    fields = {_field(flag): flag for flag, _, _ in _THRESHOLD_FLAGS}
    overrides = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    try:
        return ConsistencyThresholds(**overrides)
    except ValueError as err:
        message = str(err)
        for name, flag in fields.items():
            message = message.replace(f"ConsistencyThresholds.{name}:", f"{flag}:")
        raise CLIError(message) from None


def run_check(args: argparse.Namespace) -> int:
    from vggt_py.inference.export import load_npz  # trimesh: imported only when the command runs

    checks = [c.strip() for c in args.checks.split(",") if c.strip()]
    unknown = [c for c in checks if c not in CHECKS]
    if unknown or not checks:
        raise CLIError(f"--checks: unknown check(s) {unknown or [args.checks]}; choose from {','.join(CHECKS)}")
    for flag, value in (("--max-points", args.max_points), ("--neighbours", args.neighbours)):
        if value < 1:
            raise CLIError(f"{flag} must be >= 1, got {value}")
    thresholds = _thresholds(args)
    path = reconstruction_npz(args.target)
    try:
        rec = load_npz(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise CLIError(f"cannot read {path}: {err}") from err
    try:
        report = check(
            rec, thresholds, checks=checks, max_points=args.max_points, num_neighbours=args.neighbours, seed=args.seed
        )
    except ValueError as err:
        raise CLIError(f"{path}: {err}") from err
    console = make_console()
    if args.verbose:
        report.print_table(console)
    else:
        report.print_summary(console)
    if not args.no_json:
        out = args.json if args.json is not None else path.parent / REPORT_NAME
        try:
            atomic_write_text(out, json.dumps(report.to_dict(), indent=2) + "\n")
        except OSError as err:  # a folder, a path under a file, read-only, full disk
            reason = os.strerror(err.errno).lower() if err.errno else str(err)
            raise CLIError(f"cannot write the report {out}: {reason} ({err.filename or out}); expected a writable file path") from err
        console.print(f"wrote {escape(str(out))}" + ("" if args.verbose else " (per frame: --verbose)"))
    elif not args.verbose:
        console.print("per-frame table and reasons: --verbose")
    fail = args.fail_on == "suspect" or args.strict
    return 1 if fail and not report.ok else 0
