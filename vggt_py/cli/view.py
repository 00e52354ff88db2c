"""``vggt-py view OUT``: the interactive 3-D viewer of a saved reconstruction (see :mod:`vggt_py.inference.viewer`)."""

from __future__ import annotations

import argparse
import signal
import sys
import zipfile
from pathlib import Path

from vggt_py.cli.common import NPZ_NAME, CLIError, reconstruction_npz

__all__ = ["register", "run_view"]


_EPILOG = f"""\
OUT is a reconstruction output folder holding {NPZ_NAME} (vggt-py reconstruct --formats ...,npz)
or such an .npz file. Frame verdicts come from consistency.json (vggt-py check) or
report/consistency.json (the visual report) in that folder; without either the checks run in the
background after the page is up (--no-check skips them). The viewer serves until Ctrl-C (exit 130).
Needs viser: pip install 'vggt-py[view]'.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vggt-py view``."""
    parser = subparsers.add_parser(
        "view",
        help="interactive 3-D viewer of a reconstruction in the browser (viser)",
        description=(
            "Serve a reconstruction in the browser: the point cloud with a live confidence-percentile slider "
            "and a consistent-points toggle, camera frusta textured with their photos and coloured by their "
            "consistency verdict (click one for its photo, depth and confidence), and a scale bar when the "
            "scale is known."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", type=Path, metavar="OUT", help=f"output folder (with {NPZ_NAME}) or .npz file")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: all)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free port)")
    parser.add_argument(
        "--conf-percentile", type=float, default=50.0, metavar="P", help="initial confidence percentile (default 50)"
    )
    parser.add_argument(
        "--max-points", type=int, default=300_000, metavar="N", help="most points sent to the browser (default 300000)"
    )
    parser.add_argument("--no-check", action="store_true", help="do not run the consistency checks")
    parser.set_defaults(func=run_view)



def run_view(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be in [0, 65535], got {args.port}")
    if not 0 <= args.conf_percentile <= 100:
        raise CLIError(f"--conf-percentile must be in [0, 100], got {args.conf_percentile}")
    if args.max_points < 1:
        raise CLIError(f"--max-points must be >= 1, got {args.max_points}")
    from vggt_py.inference.export import load_npz
    from vggt_py.inference.viewer import find_consistency, import_viser, start_viewer

    try:
        import_viser()
    except ImportError as err:
        raise CLIError(str(err)) from err
    path = reconstruction_npz(args.target)
    try:
        rec = load_npz(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise CLIError(f"cannot read {path}: {err}") from err
    consistency = find_consistency(path.parent, len(rec))
    try:
        viewer = start_viewer(
            rec,
            consistency=consistency,
            check_consistency=not args.no_check,
            host=args.host,
            port=args.port,
            conf_percentile=args.conf_percentile,
            max_points=args.max_points,
        )
    except OSError as err:  # the address cannot be bound
        raise CLIError(f"cannot serve on {args.host}:{args.port}: {err}") from err
    try:
        source = "consistency report found" if consistency is not None else (
            "no consistency checks" if args.no_check else "consistency checks running in the background"
        )
        print(f"vggt-py view: {len(rec)} frames from {path} ({source})")
        print(f"vggt-py view: open {viewer.url} in a browser; Ctrl-C stops", flush=True)
        viewer.wait()
    except KeyboardInterrupt:
        viewer.stop()
        print("vggt-py view: stopped", file=sys.stderr)
        return 128 + signal.SIGINT
    finally:
        viewer.stop()
    return 0
