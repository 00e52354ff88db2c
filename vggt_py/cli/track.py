"""``vggt-py track INPUT --points "x,y;x,y" -o OUT.npz``: track points of the first photo through the others."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vggt_py.cli.common import (
    CLIError,
    add_run_arguments,
    check_input,
    escape,
    infer,
    load_batch,
    load_model,
    make_console,
    make_progress,
    no_track_head_message,
    plural,
    resolve_device,
    stage,
)
from vggt_py.errors import InputError
from vggt_py.inference.queries import check_queries_in_view, parse_points

if TYPE_CHECKING:  # pragma: no cover - typing only
    from vggt_py.inference.images import ImageBatch

__all__ = ["register", "run_track"]


def _query_points(args: argparse.Namespace) -> np.ndarray:
    if (args.points is None) == (args.points_file is None):
        raise CLIError('give the query points with exactly one of --points "x,y;x,y" or --points-file FILE')
    if args.points_file is not None:
        if not args.points_file.is_file():
            raise CLIError(f"--points-file not found: {args.points_file}")
        text = args.points_file.read_text(encoding="utf-8")
    else:
        text = args.points
    try:
        return parse_points(text)
    except ValueError as err:
        raise CLIError(str(err)) from err


def _check_queries_in_view(batch: ImageBatch, queries: np.ndarray) -> None:
    try:
        check_queries_in_view(batch, queries, mode_name="--mode", pad_advice="use --mode pad")
    except InputError as err:
        raise CLIError(str(err)) from err


def run_track(args: argparse.Namespace) -> int:
    from vggt_py.utils.io import atomic_path

    queries = _query_points(args)
    source = check_input(args.input)
    if args.output.suffix.lower() != ".npz":
        raise CLIError(f"-o must name a .npz file, got {args.output}")
    device = resolve_device(args.device)
    console = make_console(stderr=True)
    with make_progress(console) as progress:
        with stage(progress, "Loading model"):
            model, spec = load_model(args.model, device, args.offline, console)
        if model.track_head is None:
            raise CLIError(no_track_head_message(spec))
        with stage(progress, "Loading images"):
            batch = load_batch(source, model, args.mode, args.max_frames, console)
        _check_queries_in_view(batch, queries)
        with stage(progress, f"Tracking ({plural(len(batch), 'frame')})") as task:
            rec = infer(batch, model, device, args, query_points=queries, bar=(progress, task))
        with stage(progress, "Writing"):
            assert rec.tracks is not None and rec.track_visibility is not None and rec.track_confidence is not None
            arrays = {
                "tracks": rec.tracks_original(),  # [S, N, 2] original pixels of each frame
                "visibility": rec.track_visibility.astype(np.float32),
                "confidence": rec.track_confidence.astype(np.float32),
                "query_points": queries.astype(np.float32),
                "tracks_model": rec.tracks.astype(np.float32),
                "names": np.asarray(rec.names, dtype=np.str_),
                "original_sizes": rec.original_sizes,
            }
            with atomic_path(args.output) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
    _print_tracks(arrays, args.output, args.visibility_threshold)
    return 0


def _print_tracks(arrays: dict[str, np.ndarray], output: Path, threshold: float, max_rows: int = 20) -> None:
    from rich.table import Table

    tracks, visibility, confidence = arrays["tracks"], arrays["visibility"], arrays["confidence"]
    frames, count = visibility.shape
    table = Table(title=f"vggt-py track: {count} point(s) over {frames} frame(s) -> {escape(str(output))}")
    for name in ("#", "query (x, y)", f"visible (> {threshold:g})", "mean confidence", "last frame (x, y)"):
        table.add_column(name, justify="right")
    for n in range(min(count, max_rows)):
        qx, qy = arrays["query_points"][n]
        lx, ly = tracks[-1, n]
        table.add_row(
            str(n),
            f"{qx:.1f}, {qy:.1f}",
            f"{int((visibility[:, n] > threshold).sum())}/{frames}",
            f"{confidence[:, n].mean():.3f}",
            f"{lx:.1f}, {ly:.1f}",
        )
    if count > max_rows:
        table.add_row("...", f"{count - max_rows} more", "", "", "")
    make_console().print(table)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vggt-py track``."""
    parser = subparsers.add_parser(
        "track",
        help="track points of the first photo through the others",
        description=(
            "Track query points, given in the first photo's original pixels (integer = pixel centre), through "
            "every frame. OUT.npz holds tracks [S, N, 2] in each frame's original pixels, visibility and "
            "confidence [S, N], query_points [N, 2], tracks_model [S, N, 2], names and original_sizes."
        ),
    )
    parser.add_argument("input", nargs="+", type=Path, metavar="INPUT", help="image folder, image files or a video")
    parser.add_argument("--points", metavar='"x,y;x,y"', help="query points in the first photo's pixels")
    parser.add_argument("--points-file", type=Path, metavar="FILE", help="text file, one 'x y' or 'x,y' per line")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.npz", help="output file")
    parser.add_argument(
        "--visibility-threshold",
        type=float,
        default=0.5,
        metavar="V",
        help="visibility above which the table counts a frame as visible (default: 0.5)",
    )
    add_run_arguments(parser)
    parser.set_defaults(func=run_track)


# ---------------------------------------------------------------------------------------------
