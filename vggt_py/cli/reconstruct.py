"""``vggt-py reconstruct INPUT -o OUT``: cameras, depth and a point cloud from photos, written as GLB, PLY, COLMAP, NPZ."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from vggt_py.cli.common import (
    CLIError,
    add_run_arguments,
    check_input,
    escape,
    file_size,
    human_bytes,
    infer,
    load_batch,
    load_model,
    make_console,
    make_progress,
    plural,
    resolve_device,
    stage,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from vggt_py.inference.reconstruction import Reconstruction

__all__ = ["register", "run_reconstruct"]

_DEFAULT_PERCENTILE = 50.0
_COLMAP_MAX_POINTS = 100_000


def _parse_formats(text: str) -> tuple[str, ...]:
    from vggt_py.inference.export import FORMATS

    formats = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise CLIError(f"--formats: unknown format(s) {unknown or [text]}; choose from {','.join(FORMATS)}")
    return formats


def _confidence_filter(args: argparse.Namespace) -> tuple[float | None, float | None, str]:
    """(threshold, percentile, description); the percentile defaults to 50 when no bound is given."""
    threshold, percentile = args.conf_threshold, args.conf_percentile
    if percentile is not None and not 0 <= percentile <= 100:
        raise CLIError(f"--conf-percentile must be in [0, 100], got {percentile}")
    if threshold is None and percentile is None:
        percentile = _DEFAULT_PERCENTILE
    parts = ([f"conf >= {threshold:g}"] if threshold is not None else []) + (
        [f"conf >= percentile {percentile:g}"] if percentile is not None else []
    )
    return threshold, percentile, " and ".join(parts)


def run_reconstruct(args: argparse.Namespace) -> int:
    from vggt_py.inference.export import OUTPUT_NAMES, check_output_dir, export, select_points

    formats = _parse_formats(args.formats)
    threshold, percentile, filter_text = _confidence_filter(args)
    source = check_input(args.input)
    out_dir: Path = args.output
    if out_dir.exists() and not out_dir.is_dir():
        raise CLIError(f"-o {out_dir}: exists and is not a folder")
    try:  # before the model runs: a folder holding another run needs --overwrite
        check_output_dir(out_dir, overwrite=args.overwrite)
    except (ValueError, FileExistsError) as err:
        raise CLIError(f"-o {out_dir}: " + str(err).replace("overwrite=True (--overwrite)", "--overwrite")) from err
    device = resolve_device(args.device)
    console = make_console(stderr=True)
    times: dict[str, float] = {}
    written: dict[str, Path] = {}
    with make_progress(console) as progress:
        with stage(progress, "Loading model", times=times, key="model"):
            model, _ = load_model(args.model, device, args.offline, console)
        with stage(progress, "Loading images", times=times, key="images"):
            batch = load_batch(source, model, args.mode, args.max_frames, console)
        with stage(progress, f"Inference ({plural(len(batch), 'frame')})", times=times, key="inference"):
            rec = infer(batch, model, device, args, point_source=args.points)
        notes: list[str] = []
        if args.refine:
            with stage(progress, "Refining (bundle adjustment)", times=times, key="refine"):
                rec, note = _refine(rec)
            notes.append(note)
        mask = None
        if args.filter == "consistent":
            from vggt_py.inference.consistency import consistent_mask

            with stage(progress, "Multi-view consistency", times=times, key="consistency"):
                mask = consistent_mask(rec)
            filter_text += " and multi-view consistent"
        with stage(progress, "Exporting", total=len(formats), times=times, key="export") as task:

            def on_format(fmt: str) -> None:
                if fmt != formats[0]:
                    progress.advance(task)
                progress.update(task, description=f"Writing {OUTPUT_NAMES[fmt]}")

            try:  # one transaction: all formats or none, verified, then swapped in
                written = export(
                    rec,
                    out_dir,
                    formats,
                    conf_threshold=threshold,
                    conf_percentile=percentile,
                    mask=mask,
                    colmap_max_points=_COLMAP_MAX_POINTS,
                    overwrite=args.overwrite,
                    on_format=on_format,
                )
            except (ImportError, ValueError) as err:
                raise CLIError(f"export failed: {err}; {out_dir} was left unchanged") from err
            progress.advance(task)
            progress.update(task, description="Exporting")
    kept = len(select_points(rec, threshold, percentile, mask=mask))
    _print_summary(rec, written, kept, int(rec.content_mask().sum()), filter_text, times, source, notes)
    return 0


def _refine(rec: Reconstruction) -> tuple[Reconstruction, str]:
    """Bundle-adjust ``rec``; on failure keep the feed-forward result and say why."""
    from vggt_py.inference.refine import refine

    try:
        result = refine(rec)
    except ImportError as err:
        raise CLIError(str(err)) from err
    report = result.report
    failed = getattr(report, "failed_frames", [])
    if not report.refined:
        return rec, f"not refined: {report.message}"
    note = f"refined: {report.message}"
    if failed:
        note += f" (kept the feed-forward camera of frames {list(failed)})"
    return result.reconstruction, note


def _print_summary(
    rec: Reconstruction,
    written: dict[str, Path],
    kept: int,
    candidates: int,
    filter_text: str,
    times: dict[str, float],
    source: str | Path | list[Path],
    notes: list[str] | None = None,
) -> None:
    from rich.table import Table

    height, width = rec.image_size
    sizes: dict[tuple[int, int], int] = {}
    for w, h in rec.original_sizes.tolist():
        sizes[(w, h)] = sizes.get((w, h), 0) + 1
    table = Table(title="vggt-py reconstruct", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    label = source if not isinstance(source, list) else f"{len(source)} files"
    table.add_row("frames", f"{len(rec)} from {escape(str(label))}")
    if rec.model_name is not None:
        table.add_row("model", escape(rec.model_name))
    table.add_row("model input", f"{width} x {height} ({rec.metadata.get('mode', '?')})")
    table.add_row("original sizes", ", ".join(f"{w} x {h} ({n})" for (w, h), n in sizes.items()))
    table.add_row("device / dtype", f"{rec.metadata.get('device', '?')} / {rec.metadata.get('dtype', '?')}")
    share = f" ({100 * kept / candidates:.0f} %)" if candidates else ""
    table.add_row("points kept", f"{kept:,} of {candidates:,}{share}, {filter_text}")
    if "colmap" in written and kept > _COLMAP_MAX_POINTS:
        table.add_row("COLMAP points", f"{_COLMAP_MAX_POINTS:,} (a random subset)")
    for note in notes or []:
        table.add_row("bundle adjustment", escape(note))
    for fmt, path in written.items():
        table.add_row(f"wrote {fmt}", f"{escape(str(path))} ({human_bytes(file_size(path))})")
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items())
    table.add_row("time", f"{sum(times.values()):.1f} s ({steps})")
    make_console().print(table)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vggt-py reconstruct``."""
    from vggt_py.inference.export import FORMATS

    parser = subparsers.add_parser(
        "reconstruct",
        help="cameras, depth and a point cloud from photos (GLB, PLY, COLMAP, NPZ)",
        description=(
            "Reconstruct a scene from photos: a folder of images, several image files or a video. Writes "
            "scene.glb (points + cameras), points.ply, sparse/ (COLMAP model in original image pixels) and "
            "reconstruction.npz (every array) into OUT."
        ),
    )
    parser.add_argument("input", nargs="+", type=Path, metavar="INPUT", help="image folder, image files or a video")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="output folder")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the export already in OUT (without it a folder holding one is refused)",
    )
    parser.add_argument(
        "--formats",
        default=",".join(FORMATS),
        help=f"comma-separated subset of {','.join(FORMATS)} (default: all)",
    )
    parser.add_argument(
        "--conf-percentile",
        type=float,
        metavar="P",
        help=f"keep points at or above this confidence percentile (default: {_DEFAULT_PERCENTILE:g} "
        "unless --conf-threshold is given; 0 keeps all)",
    )
    parser.add_argument("--conf-threshold", type=float, metavar="T", help="keep points with confidence >= T")
    parser.add_argument(
        "--points",
        choices=("depth", "head"),
        default="depth",
        help="point source: depth unprojected with the cameras (default) or the point head",
    )
    parser.add_argument(
        "--refine",
        action="store_true",
        help="refine cameras by bundle adjustment (pycolmap) on the model's own correspondences; "
        "frames that cannot be refined keep their feed-forward camera",
    )
    parser.add_argument(
        "--filter",
        choices=("none", "consistent"),
        default="none",
        help="'consistent': export only points whose depth neighbouring views confirm",
    )
    add_run_arguments(parser)
    parser.set_defaults(func=run_reconstruct)
