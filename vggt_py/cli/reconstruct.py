"""``vggt-py reconstruct INPUT -o OUT``: cameras, depth and a point cloud from photos, written as GLB, PLY, COLMAP, NPZ
and a visual report (``report/report.html``)."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

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
    positive_int,
    resolve_device,
    stage,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pycolmap
    import torch

    from vggt_py.inference.images import ImageBatch
    from vggt_py.inference.reconstruction import Reconstruction
    from vggt_py.parallel import DistributedContext

__all__ = ["register", "run_reconstruct"]

_DEFAULT_PERCENTILE = 50.0
_COLMAP_MAX_POINTS = 100_000
# --refine-intrinsics: what bundle adjustment may change in the intrinsics (refine() keyword arguments).
_INTRINSICS = {
    "none": {"refine_focal_length": False, "shared_camera": False, "camera_model": "PINHOLE"},
    "shared": {"refine_focal_length": True, "shared_camera": True, "camera_model": "SIMPLE_PINHOLE"},
    "per-frame": {"refine_focal_length": True, "shared_camera": False, "camera_model": "PINHOLE"},
}


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
    """Run the command; under ``torchrun --nproc-per-node=N`` the frames are split across the N processes
    (exact global attention, see :mod:`vggt_py.parallel`) and rank 0 writes the one reconstruction."""
    from vggt_py.inference.export import check_output_dir

    formats = _parse_formats(args.formats)
    if args.no_report:
        formats = tuple(f for f in formats if f != "report")
        if not formats:
            raise CLIError("--no-report leaves no format to write; add formats to --formats")
    threshold, percentile, filter_text = _confidence_filter(args)
    if not (args.colmap_max_error > 0 and args.colmap_max_error < float("inf")):
        raise CLIError(f"--colmap-max-error must be a positive number of pixels, got {args.colmap_max_error}")
    source = check_input(args.input)
    out_dir: Path = args.output
    if out_dir.exists() and not out_dir.is_dir():
        raise CLIError(f"-o {out_dir}: exists and is not a folder")
    try:  # before the model runs: a folder holding another run needs --overwrite
        check_output_dir(out_dir, overwrite=args.overwrite)
    except (ValueError, FileExistsError) as err:
        raise CLIError(f"-o {out_dir}: " + str(err).replace("overwrite=True (--overwrite)", "--overwrite")) from err
    context = _join_group(args.device)
    try:
        if context is not None and not context.is_main:
            return _compute_share(args, source, context.device)
        device = context.device if context is not None else resolve_device(args.device)
        return _reconstruct_and_write(args, formats, threshold, percentile, filter_text, source, device, context)
    finally:
        if context is not None:
            context.shutdown()


def _join_group(device: str) -> DistributedContext | None:
    """Under ``torchrun`` with several processes: join the group (``None`` for a single process)."""
    from vggt_py.parallel import init_from_env, launched_by_torchrun

    try:
        return init_from_env(device) if launched_by_torchrun() else None
    except ValueError as err:
        raise CLIError(f"torchrun: {err}") from err


def _compute_share(args: argparse.Namespace, source: str | Path | list[Path], device: torch.device) -> int:
    """A process other than rank 0 of a torchrun group: compute its share of the frames, print and write nothing."""
    console = make_console(stderr=True)
    console.quiet = True
    model, _ = load_model(args.model, device, args.offline, console)
    batch = load_batch(source, model, args.mode, args.max_frames, console)
    infer(batch, model, device, args, point_source=args.points, distributed=True, **_read_priors(args, batch).options)
    return 0


def _reconstruct_and_write(
    args: argparse.Namespace,
    formats: tuple[str, ...],
    threshold: float | None,
    percentile: float | None,
    filter_text: str,
    source: str | Path | list[Path],
    device: torch.device,
    context: DistributedContext | None,
) -> int:
    """Rank 0 (or the only process): infer, post-process, export and print the summary."""
    from vggt_py.inference.export import OUTPUT_NAMES, export, select_points

    out_dir: Path = args.output
    console = make_console(stderr=True)
    times: dict[str, float] = {}
    written: dict[str, Path] = {}
    with make_progress(console) as progress:
        with stage(progress, "Loading model", times=times, key="model"):
            model, _ = load_model(args.model, device, args.offline, console)
        with stage(progress, "Loading images", times=times, key="images"):
            batch = load_batch(source, model, args.mode, args.max_frames, console)
        priors = _read_priors(args, batch)  # before the model runs: bad files fail at once
        label = f"Inference ({plural(len(batch), 'frame')}"
        label += f", {context.world_size} processes)" if context is not None else ")"
        with stage(progress, label, times=times, key="inference") as task:
            rec = infer(
                batch, model, device, args, point_source=args.points, distributed=context is not None, bar=(progress, task),
                **priors.options,
            )
        assert rec is not None  # rank 0 holds the whole reconstruction
        notes: list[tuple[str, str]] = []  # (summary row label, text)
        refined = True
        colmap_tracks = None
        if args.refine:
            with stage(progress, "Refining (bundle adjustment)", times=times, key="refine"):
                rec, refined, note, adjusted = _refine(rec, _refine_intrinsics(args))
            notes.append(("bundle adjustment", note))
            if adjusted is not None and "colmap" in formats and args.colmap_points == "tracks":
                from vggt_py.inference.colmap_tracks import tracks_from_refinement

                # the COLMAP model gets the adjusted multi-view tracks, not tracks rebuilt from the predictions
                colmap_tracks = tracks_from_refinement(rec, adjusted, max_reprojection_error=None)
        before_priors = rec
        rec, camera_notes = _apply_priors(rec, priors, list(batch.names))
        notes.extend(camera_notes)
        if colmap_tracks is not None:
            from vggt_py.inference.colmap_tracks import filter_tracks, moved_with

            # known poses or a metric anchor moved the world: the adjusted points move with it
            colmap_tracks = filter_tracks(rec, moved_with(colmap_tracks, before_priors, rec), args.colmap_max_error)
        mask = None
        consistency = None
        if "report" in formats:  # the report shows the checks; their depth check also gives --filter's mask
            with stage(progress, "Consistency checks", times=times, key="consistency"):
                try:
                    consistency = rec.check()
                except ValueError as err:  # the report is written without the checks
                    notes.append(("consistency", f"the checks failed: {err}; the report has none"))
            if consistency is not None and args.filter == "consistent":
                mask = consistency.mask
        if args.filter == "consistent":
            if mask is None:
                from vggt_py.inference.consistency import consistent_mask

                with stage(progress, "Multi-view consistency", times=times, key="consistent mask"):
                    mask = consistent_mask(rec)
            filter_text += " and multi-view consistent"
        report_options = {
            "consistency": consistency,
            "check_consistency": False,
            "settings": _settings(args, formats, filter_text),
            "timings": times,
        }
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
                    colmap_points="auto" if args.colmap_points == "tracks" else "dense",
                    colmap_tracks=colmap_tracks,
                    colmap_max_error=args.colmap_max_error,
                    glb_axes=args.glb_axes,
                    image_paths=[p if f is None else None for p, f in zip(batch.paths, batch.frame_indices)],
                    load_image=batch.load_original,  # video frames: written into OUT/images/ for transforms.json
                    transforms_depth=args.transforms_depth,
                    overwrite=args.overwrite,
                    on_format=on_format,
                    report_options=report_options if "report" in formats else None,
                )
            except (ImportError, ValueError) as err:
                raise CLIError(f"export failed: {err}; {out_dir} was left unchanged") from err
            progress.advance(task)
            progress.update(task, description="Exporting")
    kept = len(select_points(rec, threshold, percentile, mask=mask))
    _print_summary(rec, written, kept, int(rec.content_mask().sum()), filter_text, times, source, notes, out_dir)
    if args.strict and not refined:
        make_console(stderr=True).print(
            "error: --strict: the cameras were not refined (see 'bundle adjustment' above); "
            "the feed-forward cameras were written"
        )
        return 1
    return 0


def _settings(args: argparse.Namespace, formats: tuple[str, ...], filter_text: str) -> dict[str, object]:
    """The run's settings as the report lists them."""
    inputs = [str(p) for p in args.input]
    return {
        "input": inputs[0] if len(inputs) == 1 else f"{len(inputs)} files ({inputs[0]} ...)",
        "output": str(args.output),
        "model": args.model or "(default)",
        "device / dtype (requested)": f"{args.device} / {args.dtype}",
        "preprocessing": args.mode,
        "max frames": args.max_frames or "all",
        "frames per dense-head pass": args.chunk or "model default",
        "point source": args.points,
        "points kept": filter_text,
        "refine": f"yes ({args.refine_intrinsics} intrinsics)" if args.refine else "no",
        "formats": list(formats),
    }


@dataclass
class _Priors:
    """What the command line says about the cameras, resolved against the input frames (before the model)."""

    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of reconstruct()
    intrinsics_source: str | None = None
    poses: dict[int, np.ndarray] | None = None  # input frame -> camera-from-world
    poses_source: str | None = None
    distance: tuple[int, tuple[float, float], tuple[float, float], float] | None = None  # input frame, pixels, m
    depth: tuple[int, float | np.ndarray, str] | None = None  # input frame, value or map, what was given


def _read_priors(args: argparse.Namespace, batch: ImageBatch) -> _Priors:
    from vggt_py.cli import camera_priors as cp
    from vggt_py.inference.anchors import check_poses
    from vggt_py.inference.known_intrinsics import check_intrinsics

    names = list(batch.names)
    priors = _Priors()
    if args.refine:
        _refine_intrinsics(args)  # a conflict with known intrinsics fails before the model runs
    for key in ("window", "overlap", "keyframes"):
        if getattr(args, key) is not None:
            priors.options[key] = getattr(args, key)
    if args.loop_closure is not None:
        if args.loop_closure == "auto":
            priors.options["loop_closure"] = True
        else:
            pairs = _loop_pairs(args.loop_closure, names)
            if args.keyframes is not None:  # reconstruct() numbers loop pairs among the kept frames
                from vggt_py.inference.windowed import select_keyframes

                position = {f: i for i, f in enumerate(select_keyframes(batch.images, args.keyframes))}
                skipped = sorted({names[f] for pair in pairs for f in pair if f not in position})
                if skipped:
                    raise CLIError(f"--loop-closure: frame(s) {', '.join(skipped)} are skipped by --keyframes")
                pairs = [(position[a], position[b]) for a, b in pairs]
            priors.options["loop_closure"] = pairs
    if args.intrinsics is not None or args.focal_from_exif:
        if args.intrinsics is not None:
            matrices = cp.read_intrinsics(args.intrinsics, names, strict=args.max_frames is None)
            priors.intrinsics_source = f"given ({args.intrinsics})"
            flag = f"--intrinsics {args.intrinsics}"
        else:
            sizes = [tuple(int(v) for v in size) for size in batch.original_sizes]
            matrices = cp.focal_from_exif(list(batch.paths), list(batch.frame_indices), sizes)
            priors.intrinsics_source = "EXIF focal length, principal point at the centre"
            flag = "--focal-from-exif"
        try:
            priors.options["intrinsics"] = check_intrinsics(matrices, len(names))
        except ValueError as err:
            raise CLIError(f"{flag}: {err}") from err
    if args.poses is not None:
        poses = cp.read_poses(args.poses, names, strict=args.max_frames is None)
        for index, pose in poses.items():
            try:
                check_poses({index: pose})
            except ValueError as err:
                raise CLIError(f"--poses {args.poses}: frame {names[index]!r}: {err}") from err
        priors.poses, priors.poses_source = poses, str(args.poses)
    if args.scale_distance is not None:
        frame_key, *numbers = args.scale_distance
        try:
            x1, y1, x2, y2, metres = (float(v) for v in numbers)
        except ValueError:
            raise CLIError(f"--scale-distance: expected FRAME X1 Y1 X2 Y2 METRES with numbers, got {numbers!r}") from None
        if not (math.isfinite(metres) and metres > 0):
            raise CLIError(f"--scale-distance: distance: expected a positive finite number of metres, got {metres!r}")
        frame = cp.resolve_frame("--scale-distance", frame_key, names)
        priors.distance = (frame, (x1, y1), (x2, y2), metres)
    if args.scale_depth is not None:
        frame_key, value = args.scale_depth
        frame = cp.resolve_frame("--scale-depth", frame_key, names)
        priors.depth = (frame, cp.read_depth("--scale-depth", value), value)
    return priors


def _loop_pairs(text: str, names: list[str]) -> list[tuple[int, int]]:
    """``--loop-closure A:B,C:D`` as input-frame pairs (frame names or indices)."""
    from vggt_py.cli.camera_priors import resolve_frame

    pairs = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part.count(":") != 1:
            raise CLIError(f"--loop-closure: expected 'auto' or pairs A:B,C:D of frames, got {text!r}")
        a, b = (resolve_frame("--loop-closure", key.strip(), names) for key in part.split(":"))
        pairs.append((a, b))
    if not pairs:
        raise CLIError(f"--loop-closure: expected 'auto' or pairs A:B,C:D of frames, got {text!r}")
    return pairs


def _refine_intrinsics(args: argparse.Namespace) -> str:
    """``--refine-intrinsics``, defaulting to 'none' (K held fixed) when the cameras are known."""
    known = args.intrinsics is not None or args.focal_from_exif
    if args.refine_intrinsics is None:
        return "none" if known else "shared"
    if known and args.refine_intrinsics != "none":
        raise CLIError(
            f"--refine-intrinsics {args.refine_intrinsics} would change the known intrinsics "
            "(--intrinsics/--focal-from-exif); leave it out (the known K is held fixed)"
        )
    return str(args.refine_intrinsics)


def _apply_priors(rec: Reconstruction, priors: _Priors, names: list[str]) -> tuple[Reconstruction, list[tuple[str, str]]]:
    """Known poses, then a metric anchor, on the result (input frames mapped to its frames); summary notes."""
    from vggt_py.inference.anchors import align_to_poses, scale_by_depth, scale_by_distance
    from vggt_py.inference.api import input_frame_indices

    notes: list[tuple[str, str]] = []
    if priors.intrinsics_source is not None:
        info = rec.metadata.get("known_intrinsics", {})
        reposed = len(info.get("pnp_frames", []))
        refined = "bundle-adjusted with K fixed" if info.get("refined") else "not bundle-adjusted"
        notes.append(("intrinsics", f"{priors.intrinsics_source}; PnP re-posed {reposed} of {len(rec)} frames, {refined}"))
    result_of = {frame: i for i, frame in enumerate(input_frame_indices(rec))}

    def result_frame(flag: str, frame: int) -> int:
        if frame not in result_of:
            raise CLIError(f"{flag}: frame {names[frame]!r} is not in the reconstruction (skipped by --keyframes "
                           "or dropped by the windowed stitching)")
        return result_of[frame]

    if priors.poses is not None:
        kept = {result_of[f]: pose for f, pose in priors.poses.items() if f in result_of}
        skipped = [names[f] for f in priors.poses if f not in result_of]
        if not kept:
            raise CLIError(f"--poses {priors.poses_source}: none of its frames is in the reconstruction "
                           f"(skipped: {', '.join(skipped[:5])})")
        try:
            rec = align_to_poses(rec, kept)
        except ValueError as err:
            raise CLIError(f"--poses {priors.poses_source}: {err}") from err
        note = f"aligned to {len(kept)} known camera(s) from {priors.poses_source}"
        if skipped:
            note += f"; not in the reconstruction, ignored: {', '.join(skipped[:5])}"
        notes.append(("poses", note))
    try:
        if priors.distance is not None:
            frame, a, b, metres = priors.distance
            rec = scale_by_distance(rec, result_frame("--scale-distance", frame), a, b, metres)
            notes.append(("metric anchor", f"{metres:g} m between {a} and {b} of {names[frame]}"))
        if priors.depth is not None:
            frame, depth, given = priors.depth
            rec = scale_by_depth(rec, result_frame("--scale-depth", frame), depth)
            notes.append(("metric anchor", f"depth {given} of {names[frame]}"))
    except ValueError as err:
        flag = "--scale-distance" if priors.distance is not None else "--scale-depth"
        raise CLIError(f"{flag}: {err}") from err
    return rec, notes


def _refine(rec: Reconstruction, intrinsics: str) -> tuple[Reconstruction, bool, str, pycolmap.Reconstruction | None]:
    """Bundle-adjust ``rec``: (reconstruction, whether it was refined, a note with the solver's termination,
    the adjusted pycolmap model or None)."""
    from vggt_py.inference.refine import refine

    try:
        result = refine(rec, **_INTRINSICS[intrinsics])
    except ImportError as err:
        raise CLIError(str(err)) from err
    report = result.report
    solver = report.solver
    termination = ""
    if solver:
        termination = f"solver {solver.get('termination', '?')}"
        if solver.get("iterations") is not None:
            termination += f" after {solver['iterations']} iterations"
        termination += "; "
    if report.accepted is False:
        return rec, False, f"{termination}rejected: {report.rejection_reason}; kept the feed-forward cameras", None
    if not report.refined:
        return rec, False, f"not refined: {report.message}", None
    note = f"{termination}refined ({intrinsics} intrinsics): {report.message}"
    if report.failed_frames:
        note += f" (kept the feed-forward camera of frames {list(report.failed_frames)})"
    return result.reconstruction, True, note, result.colmap_model


def _print_summary(
    rec: Reconstruction,
    written: dict[str, Path],
    kept: int,
    candidates: int,
    filter_text: str,
    times: dict[str, float],
    source: str | Path | list[Path],
    notes: list[tuple[str, str]] | None = None,
    out_dir: Path | None = None,
) -> None:
    from rich.table import Table

    from vggt_py.inference.export_transaction import read_manifest

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
    manifest = read_manifest(out_dir) if out_dir is not None and "colmap" in written else None
    if manifest is not None and isinstance(manifest.get("colmap"), dict):
        table.add_row("COLMAP points", escape(_colmap_text(manifest["colmap"])))
    for label, note in notes or []:
        table.add_row(label, escape(note))
    table.add_row("scale", rec.scale_source)
    for fmt, path in written.items():
        shown = path / "report.html" if fmt == "report" else path
        table.add_row(f"wrote {fmt}", f"{escape(str(shown))} ({human_bytes(file_size(path))})")
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items())
    table.add_row("time", f"{sum(times.values()):.1f} s ({steps})")
    make_console().print(table)


def _colmap_text(entry: dict) -> str:
    """The summary's COLMAP row, from the manifest's ``colmap`` entry."""
    if entry.get("points_kind") == "tracks":
        sources = {
            "point_map": "point-map matches",
            "tracks": "track-head tracks",
            "refined": "bundle-adjusted tracks",
        }
        source = " + ".join(sources.get(part, part) for part in str(entry.get("source", "?")).split("+"))
        error = entry.get("mean_reprojection_error")
        limit = entry.get("max_reprojection_error")
        return (
            f"{entry.get('points', 0):,} multi-view points from {source}, "
            f"{entry.get('observations_per_point', 0):.2f} observations per point, mean reprojection error "
            + (f"{error:.2f} px" if error is not None else "-")
            + (f" (observations within {limit:g} px kept)" if limit is not None else "")
        )
    text = f"{entry.get('points', 0):,} dense points, each seen by one image"
    if entry.get("fallback_reason"):
        text += f" (no multi-view tracks: {entry['fallback_reason']})"
    return text


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vggt-py reconstruct``."""
    from vggt_py.inference.export import FORMATS

    parser = subparsers.add_parser(
        "reconstruct",
        help="cameras, depth and a point cloud from photos (GLB, PLY, COLMAP, NPZ, an HTML report)",
        description=(
            "Reconstruct a scene from photos: a folder of images, several image files or a video. Writes "
            "scene.glb (points + cameras, glTF's y-up axes), points.ply, sparse/ (COLMAP model in original image "
            "pixels), reconstruction.npz (every array), transforms.json (nerfstudio cameras, pointing at the "
            "photos and points.ply) and report/report.html (pictures of every frame, views, consistency checks, "
            "settings and timings; opens offline) into OUT. Under `torchrun --nproc-per-node=N -m vggt_py.cli "
            "reconstruct ...` the frames are split across the N processes (one GPU each with NCCL, or gloo on "
            "CPU) with exact global attention; rank 0 writes the result."
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
        "--no-report",
        action="store_true",
        help="do not write the visual report (report/; it runs the consistency checks, which take a while on "
        "many frames)",
    )
    parser.add_argument(
        "--colmap-points",
        choices=("tracks", "dense"),
        default="tracks",
        help="points of sparse/: 'tracks' (default) multi-view points from the model's own correspondences "
        "(after --refine: the bundle-adjusted tracks), each seen by several images with its real reprojection "
        "error, what splat trainers and bundle adjusters need (dense points are used when no track can be "
        f"built, e.g. one photo); 'dense' {_COLMAP_MAX_POINTS:,} random kept pixels, each seen by one image",
    )
    parser.add_argument(
        "--colmap-max-error",
        type=float,
        default=4.0,
        metavar="PX",
        help="with --colmap-points tracks: drop observations further than PX original-image pixels from their "
        "point's projection (default 4, COLMAP's own filter), then points seen by fewer than 2 images",
    )
    parser.add_argument(
        "--transforms-depth",
        action="store_true",
        help="with the transforms format: also write OUT/depths/*.npy (depth x 1000 at the photos' size, "
        "0 where filtered out; nerfstudio's default depth unit scale 1e-3 reads it back) and name them in "
        "transforms.json",
    )
    parser.add_argument(
        "--glb-axes",
        choices=("gltf", "opencv"),
        default="gltf",
        help="world axes of scene.glb: 'gltf' (default) +Y up as glTF viewers expect (the OpenCV world "
        "rotated by 180 degrees about x); 'opencv' keeps the reconstruction's axes (x right, y down, z forward)",
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
        "frames that cannot be refined keep their feed-forward camera; a refinement that does not converge, "
        "does not lower the reprojection error or has no baseline (e.g. copies of one photo) is rejected "
        "and the feed-forward cameras are kept",
    )
    parser.add_argument(
        "--refine-intrinsics",
        choices=tuple(_INTRINSICS),
        default=None,
        help="with --refine: what bundle adjustment may change in the intrinsics: 'shared' (default) one "
        "focal length for all frames, which cannot drift frame by frame; 'none' holds every frame's "
        "intrinsics fixed (the default, and the only choice, with --intrinsics/--focal-from-exif); "
        "'per-frame' adjusts f_x and f_y of each frame (photos from different cameras or zooms; can diverge "
        "on weak tracks)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="with --refine: exit with status 1 when the cameras were not refined (rejected or declined); "
        "the outputs are still written, with the feed-forward cameras",
    )
    parser.add_argument(
        "--filter",
        choices=("none", "consistent"),
        default="none",
        help="'consistent': export only points whose depth neighbouring views confirm",
    )
    _add_sequence_arguments(parser)
    _add_camera_arguments(parser)
    add_run_arguments(parser)
    parser.set_defaults(func=run_reconstruct)


def _window(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}") from None


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value:g}")
    return value


def _add_sequence_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("long sequences (README: Long sequences, known cameras, metric scale)")
    group.add_argument(
        "--window",
        type=_window,
        metavar="W|auto",
        help="reconstruct in overlapping windows of W frames joined by robust Sim(3) fits (peak memory depends "
        "on W, not on the sequence length); 'auto': the largest window the device's free memory holds",
    )
    group.add_argument(
        "--overlap", type=positive_int, metavar="O", help="with --window: frames shared by consecutive windows "
        "(default max(2, W/4))"
    )
    group.add_argument(
        "--loop-closure",
        nargs="?",
        const="auto",
        metavar="A:B,...",
        help="with --window: close loops by a pose graph over the windows; alone, loops are found with a "
        "thumbnail descriptor; or give frame pairs (names or input indices) that show the same place",
    )
    group.add_argument(
        "--keyframes",
        nargs="?",
        const=0.02,
        type=_fraction,
        metavar="CHANGE",
        help="skip near-duplicate frames first (mean grey change below CHANGE in [0, 1], default 0.02); the "
        "chosen frames are listed in the NPZ metadata",
    )


def _add_camera_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("known cameras and metric scale (pixels: ORIGINAL photo pixels, centres at integers)")
    known = group.add_mutually_exclusive_group()
    known.add_argument(
        "--intrinsics",
        type=Path,
        metavar="FILE",
        help="JSON camera matrices: one [[fx,0,cx],[0,fy,cy],[0,0,1]] or {\"fx\",\"fy\",\"cx\",\"cy\"} for all "
        "frames, a list (one per input frame) or {frame: camera}; depth is unprojected with them, poses are "
        "re-solved (PnP + bundle adjustment with K fixed) and the exports write them exactly",
    )
    known.add_argument(
        "--focal-from-exif",
        action="store_true",
        help="known intrinsics from each photo's EXIF (FocalLengthIn35mmFilm, or FocalLength with the sensor's "
        "FocalPlaneXResolution), principal point at the centre",
    )
    group.add_argument(
        "--poses",
        type=Path,
        metavar="FILE",
        help="JSON {frame: 4x4 camera-from-world} for some frames (names or input indices): the result is moved "
        "into their world by a similarity; two or more fix the scale",
    )
    anchor = group.add_mutually_exclusive_group()
    anchor.add_argument(
        "--scale-distance",
        nargs=6,
        metavar=("FRAME", "X1", "Y1", "X2", "Y2", "METRES"),
        help="metric scale: the points of two pixels of one photo are METRES apart",
    )
    anchor.add_argument(
        "--scale-depth",
        nargs=2,
        metavar=("FRAME", "DEPTH"),
        help="metric scale: the median depth of FRAME in metres, or a .npy depth map (original pixels, metres; "
        "pixels <= 0 ignored)",
    )
