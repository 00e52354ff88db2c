"""``vggt-py eval PRED GT``: compare a reconstruction with ground truth, both stored as ``.npz``."""

from __future__ import annotations

import argparse
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from vggt_py.cli.common import CLIError
from vggt_py.evaluation.reconstruction import RECONSTRUCTION_KEYS, evaluate_reconstruction, print_metrics
from vggt_py.utils.io import atomic_write_text

__all__ = ["register", "run_eval"]

_KEYS_HELP = "\n".join(f"  {key:<17} {shape}" for key, shape in RECONSTRUCTION_KEYS.items())
_EPILOG = f"""\
PRED and GT are .npz files (numpy.savez) holding any of these arrays:
{_KEYS_HELP}
A metric group is computed when both files hold its inputs: camera (extrinsics, S >= 2), depth (depth),
points (world_points) and tracks (tracks). valid_mask and track_visibility are read from GT only.
Other keys are ignored.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vggt-py eval``."""
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a reconstruction against ground truth (.npz files)",
        description="Camera AUC / RRA / RTA, depth AbsRel / delta, point-map Chamfer and track EPE / delta_avg.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pred", type=Path, metavar="PRED", help="prediction .npz")
    parser.add_argument("gt", type=Path, metavar="GT", help="ground-truth .npz")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the metrics to this JSON file")
    parser.add_argument(
        "--depth-alignment",
        choices=("frame", "scene", "none"),
        default="frame",
        help="median scale alignment of depth: per frame (default), per scene, or none",
    )
    parser.add_argument(
        "--max-points",
        type=int,
        default=100_000,
        help="subsample to at most this many points for Chamfer distances (default: 100000; 0 = all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the point subsampling (default: 0)")
    parser.add_argument(
        "--sign-ambiguous",
        action="store_true",
        help="fold translation angles to min(a, 180 - a), like the released VGGT Co3D script",
    )
    parser.set_defaults(func=run_eval)


def _load_npz(path: Path, role: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise CLIError(f"{role} file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files if key in RECONSTRUCTION_KEYS}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise CLIError(f"cannot read {role} file {path} as .npz: {err}") from err


def _json_ready(metrics: dict[str, float]) -> dict[str, float | None]:
    """Non-finite values become null: JSON has no NaN or Infinity."""
    return {key: (value if math.isfinite(value) else None) for key, value in metrics.items()}


def run_eval(args: argparse.Namespace) -> int:
    if args.max_points < 0:
        raise CLIError(f"--max-points must be >= 0, got {args.max_points}")
    pred = _load_npz(args.pred, "PRED")
    gt = _load_npz(args.gt, "GT")
    try:
        metrics = evaluate_reconstruction(
            pred,
            gt,
            sign_ambiguous=args.sign_ambiguous,
            depth_alignment=args.depth_alignment,
            max_points=args.max_points or None,
            seed=args.seed,
        )
    except ValueError as err:
        raise CLIError(str(err)) from err
    print_metrics(metrics, title=f"{args.pred.name} vs {args.gt.name}")
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(_json_ready(metrics), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
