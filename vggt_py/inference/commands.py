"""``vggt-py reconstruct``, ``vggt-py track`` and ``vggt-py info``; plus the inference memory model.

Memory model (:func:`estimate_memory`), for ``S`` frames of ``H x W`` pixels, patch size ``p``,
``P = 1 + registers + (H/p)(W/p)`` tokens per frame of width ``C``, ``L`` aggregator layers kept for
the heads, ``c`` bytes per value of the compute dtype (4 fp32, 2 bf16/fp16)::

    weights     = params * 2 (bf16/fp16 storage), else params * (4 + c if c < 4 else 4)  # + autocast copies
    base/frame  = images 24HW + kept L*P*2C*c + streams 3*P*C*4
    attn/frame  = P*C*(8 + 3c)                                 # one block's live attention tensors
    mlp         = min(S*P, T) * C * (4 + mlp_ratio*c)          # the MLP runs on slices of T tokens
    head/frame  = base + outputs 36HW                          # depth, points, confidences, unprojection
    dense/frame = 4*HW*(F/2 + 64 + out) + 6*(8/p)^2*HW*F       # one DPT head pass at feature width F
    total(S)    = weights + runtime + max(S*base + max(S*attn, mlp), S*head + min(S, chunk)*dense)

with ``T = MLP_TOKEN_CHUNK`` (``vggt_py.layers.block``), ``chunk`` the dense heads'
``frames_chunk_size`` and ``runtime`` a fixed 256 MiB of allocator caches and kernel workspaces.
Kept layers are stored in the compute dtype (autocast's, or bf16 weights'). Attention kernels are
assumed memory-efficient (no S*P x S*P matrix), as PyTorch's fused SDPA is on CUDA and CPU. For one
of ``R`` context-parallel processes, ``S`` is its largest share ``ceil(S/R)`` and the trunk adds one
global block's keys and values of every frame, ``2*S*P*C*c``. :func:`frames_that_fit` keeps a
further 10 % margin.

Calibrated on CPU with ``benchmarks/memory_breakdown.py`` (VGGT-1B architecture, 518x392, fp32,
4 frames, dense-head chunk 1, peak RSS above the loaded weights): measured 458 MiB (trunk 293, dense
heads 458), estimated 474 MiB. Not yet checked on a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from vggt_py.cli import CLIError
from vggt_py.config import VGGTConfig
from vggt_py.layers.block import MLP_TOKEN_CHUNK

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rich.console import Console
    from rich.progress import Progress

    from vggt_py.inference.images import ImageBatch
    from vggt_py.inference.reconstruction import Reconstruction
    from vggt_py.model import VGGT

__all__ = [
    "INFO_HEIGHT",
    "INFO_WIDTH",
    "MemoryEstimate",
    "available_memory",
    "estimate_memory",
    "frames_that_fit",
    "parse_points",
    "register",
    "run_info",
    "run_reconstruct",
    "run_track",
]

# The reference resolution of `info`'s estimate: a 4:3 landscape photo in crop mode.
INFO_HEIGHT, INFO_WIDTH = 392, 518
_MEMORY_MARGIN = 0.9
_DPT_HIDDEN = 32  # channels of the DPT output convolution
_RUNTIME_OVERHEAD = 256 * 2**20  # allocator caches, kernel workspaces
_DEFAULT_PERCENTILE = 50.0
_COLMAP_MAX_POINTS = 100_000


# ---------------------------------------------------------------------------------------------
# Memory model


class MemoryEstimate(NamedTuple):
    """Bytes of one inference pass (see the module docstring for the formulas)."""

    weights: int  # parameters, plus their low-precision autocast copies
    aggregator_per_frame: int  # live per frame while the trunk runs
    heads_per_frame: int  # live per frame while the dense heads run (besides the chunk)
    dense_per_frame: int  # one dense-head pass, per frame of the chunk
    chunk_frames: int  # frames per dense-head pass: min(S, frames_chunk_size)
    total: int  # peak for the given number of frames


def _dtype_bytes(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _count_parameters(config: VGGTConfig) -> int:
    from vggt_py.model import VGGT

    with torch.device("meta"):
        return sum(p.numel() for p in VGGT(config).parameters())


def estimate_memory(
    config: VGGTConfig,
    frames: int,
    height: int = INFO_HEIGHT,
    width: int = INFO_WIDTH,
    *,
    compute_dtype: torch.dtype = torch.float32,
    frames_chunk_size: int | None = 8,
    num_params: int | None = None,
    tracking: bool = False,
    weight_dtype: torch.dtype = torch.float32,
    ranks: int = 1,
) -> MemoryEstimate:
    """Peak memory (bytes) of reconstructing ``frames`` frames of ``height x width`` model pixels.

    ``num_params`` defaults to the parameter count of ``config`` (built on the meta device). With
    ``tracking`` the track head's feature maps are added (its correlation volumes, which grow with the
    number of query points, are not). ``weight_dtype`` is the storage dtype of the weights (bf16:
    2 bytes each, no autocast copies). ``ranks`` > 1: the peak of one process of a context-parallel
    run (``vggt_py.parallel``), which holds its share of the frames plus every frame's keys and
    values of one global block.
    """
    if frames < 0:
        raise ValueError(f"frames must be >= 0, got {frames}")
    if ranks < 1:
        raise ValueError(f"ranks must be >= 1, got {ranks}")
    patch = config.patch_size
    if height <= 0 or width <= 0 or height % patch or width % patch:
        raise ValueError(f"height and width must be positive multiples of the patch size {patch}, got {height}x{width}")
    if frames_chunk_size is not None and frames_chunk_size < 1:
        raise ValueError(f"frames_chunk_size must be None or >= 1, got {frames_chunk_size}")
    c = _dtype_bytes(compute_dtype)
    params = _count_parameters(config) if num_params is None else num_params
    if _dtype_bytes(weight_dtype) < 4:
        weights = params * _dtype_bytes(weight_dtype)
    else:
        weights = params * (4 + c if c < 4 else 4)

    pixels = height * width
    tokens = config.patch_start_idx + (height // patch) * (width // patch)
    dim = config.embed_dim
    kept = len(config.layers_needed()) * tokens * 2 * dim * c  # stored in the compute dtype
    base = 2 * 3 * pixels * 4 + kept + 3 * tokens * dim * 4  # images, kept layers, residual streams
    attention = tokens * dim * (8 + 3 * c)  # one block's live attention tensors, per frame
    aggregator = base + attention
    heads = base + 36 * pixels

    dense = 0
    for head in (config.depth_head, config.point_head):
        if head.enabled:
            features = head.features
            full_res = features // 2 + 2 * _DPT_HIDDEN + 4
            dense = max(dense, 4 * pixels * full_res + int(6 * (8 / patch) ** 2 * pixels * features))
    if tracking and config.track_head.enabled:
        heads += int(4 * config.track_head.features * pixels / 4 * 4 / 3)  # H/2 x W/2 maps and their pyramid
    local = -(-frames // ranks)  # the largest share of the frames
    # the MLP half of a block runs on slices of at most MLP_TOKEN_CHUNK tokens, after the attention half
    mlp = min(local * tokens, MLP_TOKEN_CHUNK) * dim * (4 + int(config.aggregator.mlp_ratio * c))
    gathered = 2 * frames * tokens * dim * c if ranks > 1 else 0  # one global block's keys and values
    chunk = local if frames_chunk_size is None else min(local, frames_chunk_size)
    trunk = local * base + max(local * attention + gathered, mlp)
    total = weights + _RUNTIME_OVERHEAD + max(trunk, local * heads + chunk * dense)
    return MemoryEstimate(weights, aggregator, heads, dense, chunk, total)


def frames_that_fit(
    config: VGGTConfig,
    available: int,
    height: int = INFO_HEIGHT,
    width: int = INFO_WIDTH,
    *,
    compute_dtype: torch.dtype = torch.float32,
    frames_chunk_size: int | None = 8,
    num_params: int | None = None,
    tracking: bool = False,
    weight_dtype: torch.dtype = torch.float32,
    ranks: int = 1,
) -> int:
    """Largest frame count whose :func:`estimate_memory` stays within 90 % of ``available`` bytes (0 if none).

    With ``ranks`` > 1, ``available`` is one process's memory and the count is for the whole scene.
    """
    params = _count_parameters(config) if num_params is None else num_params
    budget = _MEMORY_MARGIN * available

    def fits(frames: int) -> bool:
        estimate = estimate_memory(
            config,
            frames,
            height,
            width,
            compute_dtype=compute_dtype,
            frames_chunk_size=frames_chunk_size,
            num_params=params,
            tracking=tracking,
            weight_dtype=weight_dtype,
            ranks=ranks,
        )
        return estimate.total <= budget

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while fits(hi) and hi < 10**7:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # fits(lo) and not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def available_memory(device: torch.device) -> int:
    """Free bytes: ``torch.cuda.mem_get_info`` on CUDA, ``MemAvailable`` of /proc/meminfo on CPU."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    available = _meminfo_available()
    if available is None:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(available)


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _escape(text: str) -> str:
    """``text`` with rich markup escaped (file names may hold square brackets)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _progress(console: Console) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@contextlib.contextmanager
def _stage(
    progress: Progress, description: str, total: int = 1, times: dict[str, float] | None = None, key: str = ""
) -> Iterator[int]:
    """A progress task that shows as complete when the block ends (its duration goes to ``times[key]``)."""
    start = time.perf_counter()
    task = progress.add_task(description, total=total)
    yield task
    progress.update(task, completed=total)
    if times is not None:
        times[key] = time.perf_counter() - start


def _resolve_device(name: str) -> torch.device:
    from vggt_py.inference.api import resolve_device

    if name == "cuda" and not torch.cuda.is_available():
        raise CLIError("--device cuda was requested but PyTorch sees no CUDA device; use --device cpu or auto")
    return resolve_device(name)


def _load_model(spec: str | None, device: torch.device, offline: bool, console: Console) -> tuple[VGGT, str]:
    """Load ``--model`` (``None``: the default model) and return it with the spec it was loaded from.

    Without ``--model``, :data:`~vggt_py.inference.api.DEFAULT_MODEL` is used when it is available and
    the bundled model otherwise, with a one-line notice on ``console`` saying why. Errors a person can
    act on become :class:`CLIError`.
    """
    from vggt_py.hub import WeightsNotAvailableError
    from vggt_py.inference.api import load_default_model, load_model

    try:
        if spec is None:
            model, choice = load_default_model(device, offline=offline)
            if choice.is_fallback:
                console.print(f"[bold yellow]note:[/bold yellow] {_escape(choice.notice())}", soft_wrap=True)
            return model, choice.spec
        return load_model(spec, device, offline=offline), spec
    except WeightsNotAvailableError as err:
        raise CLIError(
            f"{err}\nWith vggt-py, pass local weights as --model PATH (a folder holding config.json and "
            "model.safetensors, e.g. written by VGGT.save_pretrained, or a single weights file)."
        ) from err
    except (FileNotFoundError, ValueError) as err:
        raise CLIError(f"--model {spec if spec is not None else '(default)'}: {err}") from err


def _no_track_head_message(spec: str) -> str:
    from vggt_py.bundled import parse_bundled_spec
    from vggt_py.inference.api import DEFAULT_MODEL

    bundled = parse_bundled_spec(spec)
    what = f"the bundled model {bundled}" if bundled is not None else f"the model {spec}"
    return (
        f"{what} has no track head (its config disables it); use --model {DEFAULT_MODEL} (from the Hugging Face "
        "hub or its local cache) or another model with a track head"
    )


def _check_input(paths: Sequence[Path]) -> str | Path | list[Path]:
    """The image source for ``load_images``; missing paths fail here, before any model is loaded."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise CLIError(f"input not found: {', '.join(str(p) for p in missing)}")
    if len(paths) == 1:
        return paths[0]
    folders = [p for p in paths if p.is_dir()]
    if folders:
        raise CLIError(f"give one folder or video, or several image files; {folders[0]} is a folder")
    return list(paths)


def _load_batch(
    source: str | Path | list[Path], model: VGGT, mode: str, max_frames: int | None, console: Console
) -> ImageBatch:
    from vggt_py.inference.images import ImageLoadError, load_images

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            batch = load_images(
                source,
                mode=mode,
                target_size=model.config.img_size,
                patch_size=model.config.patch_size,
                max_frames=max_frames,
            )
        except (ImportError, ImageLoadError, ValueError) as err:
            raise CLIError(str(err)) from err
    for warning in caught:
        console.print(f"[yellow]warning:[/yellow] {_escape(str(warning.message))}")
    return batch


def _is_out_of_memory(err: BaseException) -> bool:
    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _out_of_memory_message(
    model: VGGT, device: torch.device, batch: ImageBatch, compute_dtype: torch.dtype, chunk: int | None
) -> str:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        free = available_memory(device) + int(torch.cuda.memory_allocated(device))  # what we hold counts too
    else:
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        free = available_memory(device) + weights
    height, width = batch.images.shape[-2:]
    fit = frames_that_fit(
        model.config,
        free,
        height,
        width,
        compute_dtype=compute_dtype,
        frames_chunk_size=chunk,
        num_params=sum(p.numel() for p in model.parameters()),
        weight_dtype=model.weight_dtype,
    )
    frames, gib = len(batch), free / 2**30
    if fit == 0:
        advice = f"even one frame probably does not fit in the {gib:.1f} GiB available"
    elif fit < frames:
        advice = f"about {fit} frame(s) probably fit in {gib:.1f} GiB; retry with --max-frames {fit}"
    else:
        advice = (
            f"the memory model expects about {fit} frames to fit in the {gib:.1f} GiB available, so other "
            "processes may hold memory; free some, or retry with fewer --max-frames"
        )
    options = ["a smaller --chunk (--chunk 1 runs the dense heads one frame at a time)"]
    if device.type == "cuda":
        if compute_dtype == torch.float32:
            options.append("--dtype bf16")
        options.append("--device cpu")
    return (
        f"out of memory on {device} with {_plural(frames, 'frame')} of {width}x{height}: {advice} (estimate "
        "from the memory model of `vggt-py info`; --max-frames spreads frames evenly over the input). Also try "
        + ", ".join(options)
        + "."
    )


def _infer(
    batch: ImageBatch,
    model: VGGT,
    device: torch.device,
    args: argparse.Namespace,
    query_points: np.ndarray | None = None,
    point_source: str = "depth",
) -> Reconstruction:
    from vggt_py.inference.api import autocast_dtype, reconstruct

    try:
        return reconstruct(
            batch,
            model,
            mode=batch.mode,
            query_points=query_points,
            point_source=point_source,  # type: ignore[arg-type]
            device=device,
            dtype=args.dtype,
            frames_chunk_size=args.chunk,
        )
    except (torch.OutOfMemoryError, RuntimeError) as err:
        if not _is_out_of_memory(err):
            raise
        compute = autocast_dtype(device, args.dtype)
        chunk = args.chunk if args.chunk is not None else model.config.depth_head.frames_chunk_size
        raise CLIError(_out_of_memory_message(model, device, batch, compute, chunk)) from err
    except ValueError as err:
        raise CLIError(str(err)) from err


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="ID|PATH",
        default=None,
        help="hub repo id, local folder, weights file, or 'bundled' (the small model shipped with vggt-py); "
        "default: facebook/VGGT-1B, or the bundled model (with a notice) when VGGT-1B is not available",
    )
    parser.add_argument(
        "--offline", action="store_true", help="never contact the Hugging Face hub (use the local cache only)"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: CUDA if available")


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    _add_model_arguments(parser)
    parser.add_argument(
        "--dtype",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="compute dtype (auto: bf16 on Ampere+ GPUs, fp16 on older GPUs, fp32 on CPU)",
    )
    parser.add_argument("--mode", choices=("crop", "pad"), default="crop", help="preprocessing (default: crop)")
    parser.add_argument(
        "--max-frames", type=_positive_int, metavar="K", help="use at most K frames, spread evenly over the input"
    )
    parser.add_argument(
        "--chunk", type=_positive_int, metavar="N", help="frames per dense-head pass (default: the model's, 8)"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _file_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def _human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------
# vggt-py reconstruct


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
    from vggt_py.inference.export import OUTPUT_NAMES, export, select_points

    formats = _parse_formats(args.formats)
    threshold, percentile, filter_text = _confidence_filter(args)
    source = _check_input(args.input)
    out_dir: Path = args.output
    if out_dir.exists() and not out_dir.is_dir():
        raise CLIError(f"-o {out_dir}: exists and is not a folder")
    device = _resolve_device(args.device)
    console = _console(stderr=True)
    times: dict[str, float] = {}
    written: dict[str, Path] = {}
    with _progress(console) as progress:
        with _stage(progress, "Loading model", times=times, key="model"):
            model, _ = _load_model(args.model, device, args.offline, console)
        with _stage(progress, "Loading images", times=times, key="images"):
            batch = _load_batch(source, model, args.mode, args.max_frames, console)
        with _stage(progress, f"Inference ({_plural(len(batch), 'frame')})", times=times, key="inference"):
            rec = _infer(batch, model, device, args, point_source=args.points)
        notes: list[str] = []
        if args.refine:
            with _stage(progress, "Refining (bundle adjustment)", times=times, key="refine"):
                rec, note = _refine(rec)
            notes.append(note)
        mask = None
        if args.filter == "consistent":
            from vggt_py.inference.consistency import consistent_mask

            with _stage(progress, "Multi-view consistency", times=times, key="consistency"):
                mask = consistent_mask(rec)
            filter_text += " and multi-view consistent"
        with _stage(progress, "Exporting", total=len(formats), times=times, key="export") as task:
            for fmt in formats:
                progress.update(task, description=f"Writing {OUTPUT_NAMES[fmt]}")
                try:
                    written.update(
                        export(
                            rec,
                            out_dir,
                            (fmt,),
                            conf_threshold=threshold,
                            conf_percentile=percentile,
                            mask=mask,
                            colmap_max_points=_COLMAP_MAX_POINTS,
                        )
                    )
                except (ImportError, ValueError) as err:
                    raise CLIError(f"{fmt} export failed: {err}") from err
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
    table.add_row("frames", f"{len(rec)} from {_escape(str(label))}")
    if rec.model_name is not None:
        table.add_row("model", _escape(rec.model_name))
    table.add_row("model input", f"{width} x {height} ({rec.metadata.get('mode', '?')})")
    table.add_row("original sizes", ", ".join(f"{w} x {h} ({n})" for (w, h), n in sizes.items()))
    table.add_row("device / dtype", f"{rec.metadata.get('device', '?')} / {rec.metadata.get('dtype', '?')}")
    share = f" ({100 * kept / candidates:.0f} %)" if candidates else ""
    table.add_row("points kept", f"{kept:,} of {candidates:,}{share}, {filter_text}")
    if "colmap" in written and kept > _COLMAP_MAX_POINTS:
        table.add_row("COLMAP points", f"{_COLMAP_MAX_POINTS:,} (a random subset)")
    for note in notes or []:
        table.add_row("bundle adjustment", _escape(note))
    for fmt, path in written.items():
        table.add_row(f"wrote {fmt}", f"{_escape(str(path))} ({_human_bytes(_file_size(path))})")
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items())
    table.add_row("time", f"{sum(times.values()):.1f} s ({steps})")
    _console().print(table)


def _register_reconstruct(subparsers: argparse._SubParsersAction) -> None:
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
    _add_run_arguments(parser)
    parser.set_defaults(func=run_reconstruct)


# ---------------------------------------------------------------------------------------------
# vggt-py track


def parse_points(text: str) -> np.ndarray:
    """``"x,y;x,y"`` (or one ``x y`` / ``x,y`` per line; ``#`` starts a comment) -> [N, 2] float64."""
    rows: list[list[float]] = []
    for line in text.replace(";", "\n").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"cannot read point {line!r}: expected two numbers x,y") from None
        if len(values) != 2 or not all(np.isfinite(values)):
            raise ValueError(f"cannot read point {line!r}: expected two finite numbers x,y")
        rows.append(values)
    if not rows:
        raise ValueError("no query points given")
    return np.asarray(rows, dtype=np.float64)


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
    width, height = batch.original_sizes[0]
    outside = [f"({x:g}, {y:g})" for x, y in queries if not (-0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5)]
    if outside:
        raise CLIError(
            f"query point(s) {', '.join(outside[:3])} lie outside the first image ({width} x {height} pixels, "
            "x in [0, width - 1], y in [0, height - 1])"
        )
    x0, y0, x1, y1 = batch.valid_regions[0].tolist()
    model_xy = batch.to_model(queries, 0)
    cropped = [
        f"({x:g}, {y:g})"
        for (x, y), (mx, my) in zip(queries, model_xy, strict=True)
        if not (x0 - 0.5 <= mx <= x1 - 0.5 and y0 - 0.5 <= my <= y1 - 0.5)
    ]
    if cropped:
        raise CLIError(
            f"query point(s) {', '.join(cropped[:3])} are cropped away by --mode {batch.mode}; use --mode pad"
        )


def run_track(args: argparse.Namespace) -> int:
    from vggt_py.utils.io import atomic_path

    queries = _query_points(args)
    source = _check_input(args.input)
    if args.output.suffix.lower() != ".npz":
        raise CLIError(f"-o must name a .npz file, got {args.output}")
    device = _resolve_device(args.device)
    console = _console(stderr=True)
    with _progress(console) as progress:
        with _stage(progress, "Loading model"):
            model, spec = _load_model(args.model, device, args.offline, console)
        if model.track_head is None:
            raise CLIError(_no_track_head_message(spec))
        with _stage(progress, "Loading images"):
            batch = _load_batch(source, model, args.mode, args.max_frames, console)
        _check_queries_in_view(batch, queries)
        with _stage(progress, f"Tracking ({_plural(len(batch), 'frame')})"):
            rec = _infer(batch, model, device, args, query_points=queries)
        with _stage(progress, "Writing"):
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
    table = Table(title=f"vggt-py track: {count} point(s) over {frames} frame(s) -> {_escape(str(output))}")
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
    _console().print(table)


def _register_track(subparsers: argparse._SubParsersAction) -> None:
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
    _add_run_arguments(parser)
    parser.set_defaults(func=run_track)


# ---------------------------------------------------------------------------------------------
# vggt-py info


class _ModelInfo(NamedTuple):
    config: VGGTConfig
    config_note: str
    weights: str


def _describe_model(spec: str, offline: bool) -> _ModelInfo:
    """The model's config and where its weights are, without loading (or downloading) the weights."""
    from vggt_py.bundled import bundled_model_dir, parse_bundled_spec
    from vggt_py.hub import WeightsNotAvailableError, resolve_pretrained
    from vggt_py.inference.api import hub_reachable

    def read_config(path: Path | None, note: str) -> tuple[VGGTConfig, str]:
        if path is None:
            return VGGTConfig(), "no config.json; the VGGT-1B default"
        try:
            return VGGTConfig.from_json(path), note
        except (OSError, ValueError) as err:
            raise CLIError(f"--model {spec}: {err}") from err

    bundled = parse_bundled_spec(spec)
    try:
        local = bundled_model_dir(bundled) if bundled is not None else Path(os.path.expanduser(spec))
    except FileNotFoundError as err:
        raise CLIError(f"--model {spec}: {err}") from err
    if local.exists():
        try:
            config_path, weights = resolve_pretrained(local)
        except FileNotFoundError as err:
            raise CLIError(f"--model {spec}: {err}") from err
        config, note = read_config(config_path, str(config_path))
        return _ModelInfo(config, note, f"{weights} ({_human_bytes(weights.stat().st_size)})")
    try:
        config_path, weights = resolve_pretrained(spec, local_files_only=True)
        config, note = read_config(config_path, f"{spec} (cached)")
        return _ModelInfo(config, note, f"{weights} (in the local cache)")
    except FileNotFoundError as err:
        if not isinstance(err, WeightsNotAvailableError):
            raise CLIError(f"--model {spec}: {err}") from err
    status = "not in the local cache; downloaded on first use" + (" (needs a network)" if offline else "")
    if offline:
        return _ModelInfo(VGGTConfig(), "not cached; showing the VGGT-1B default", status)
    if not hub_reachable():
        status = "not in the local cache, and the Hugging Face hub cannot be reached"
        return _ModelInfo(VGGTConfig(), "hub unreachable; showing the VGGT-1B default", status)
    try:
        from huggingface_hub import hf_hub_download

        config, note = read_config(Path(hf_hub_download(spec, "config.json")), f"{spec} (hub)")
    except Exception as err:  # any hub failure: show the default architecture instead
        config, note = VGGTConfig(), f"config.json unavailable ({type(err).__name__}); the VGGT-1B default"
    return _ModelInfo(config, note, status)


def _info_spec(args: argparse.Namespace) -> tuple[str, str]:
    """(model to describe, note): ``--model``, else the model a command would use by default."""
    from vggt_py.inference.api import resolve_default_model

    if args.model is not None:
        return args.model, ""
    choice = resolve_default_model(offline=args.offline)
    if choice.is_fallback:
        return choice.spec, f" (used instead of the default, which is not available: {choice.fallback_reason})"
    return choice.spec, " (the default)"


def _bundled_models_text() -> str:
    from vggt_py.bundled import BUNDLED_MODEL, available_bundled_models, bundled_model_dir, bundled_spec

    names = available_bundled_models()
    if not names:
        return "none (the package's assets/models folder holds no model)"
    return "; ".join(
        f"{bundled_spec(name)} at {bundled_model_dir(name)}"
        + (" (--model bundled; the fallback when the default is not available)" if name == BUNDLED_MODEL else "")
        for name in names
    )


def _parameter_counts(config: VGGTConfig) -> dict[str, int]:
    from vggt_py.model import VGGT

    with torch.device("meta"):
        net = VGGT(config)
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in net.named_children()}
    return {name: count for name, count in counts.items() if count}


def run_info(args: argparse.Namespace) -> int:
    from rich.table import Table

    import vggt_py
    from vggt_py.inference.api import autocast_dtype

    device = _resolve_device(args.device)
    spec, spec_note = _info_spec(args)
    described = _describe_model(spec, args.offline)
    config = described.config
    counts = _parameter_counts(config)
    params = sum(counts.values())
    heads = [
        name for name in ("camera_head", "depth_head", "point_head", "track_head") if getattr(config, name).enabled
    ]

    model_table = Table(title="model", show_header=False)
    model_table.add_column(style="bold")
    model_table.add_column()
    model_table.add_row("model", _escape(spec + spec_note))
    model_table.add_row("config", _escape(described.config_note))
    model_table.add_row("weights", _escape(described.weights))
    model_table.add_row(
        "architecture",
        f"img_size {config.img_size}, patch {config.patch_size}, width {config.embed_dim}, "
        f"{config.aggregator.depth} frame+global blocks ({config.aggregator.num_heads} heads), "
        f"patch embedding {config.patch_embed.type}"
        + (f" ({config.patch_embed.depth} blocks)" if config.patch_embed.type == "dinov2" else ""),
    )
    model_table.add_row("heads", ", ".join(heads) or "none")
    model_table.add_row("parameters", f"{params:,} (" + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + ")")
    model_table.add_row("bundled models", _escape(_bundled_models_text()))

    compute = autocast_dtype(device, "auto")
    free = available_memory(device)
    chunk = config.depth_head.frames_chunk_size
    estimate = estimate_memory(
        config, max(chunk or 1, 1), compute_dtype=compute, frames_chunk_size=chunk, num_params=params
    )
    fit = frames_that_fit(config, free, compute_dtype=compute, frames_chunk_size=chunk, num_params=params)
    runtime = Table(title="runtime", show_header=False)
    runtime.add_column(style="bold")
    runtime.add_column()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    runtime.add_row("device", f"{device} ({name}), compute dtype {str(compute).replace('torch.', '')}")
    runtime.add_row("versions", f"vggt-py {vggt_py.__version__}, torch {torch.__version__}")
    source = "free CUDA memory" if device.type == "cuda" else "MemAvailable, /proc/meminfo"
    runtime.add_row("available memory", f"{_human_bytes(free)} ({source})")
    per_frame = max(estimate.aggregator_per_frame, estimate.heads_per_frame)
    runtime.add_row(
        f"frames at {INFO_WIDTH}x{INFO_HEIGHT}",
        f"about {fit} (weights {_human_bytes(estimate.weights)}, ~{_human_bytes(per_frame)} per frame, "
        f"dense heads ~{_human_bytes(estimate.dense_per_frame)} per frame of a chunk of {chunk or 'all'}; "
        "memory model in vggt_py.inference.commands)",
    )
    console = _console()
    console.print(model_table)
    console.print(runtime)
    return 0


def _register_info(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="model, device, versions and how many frames fit in memory",
        description=(
            "Show the model's configuration, parameter count and heads (without loading its weights), the device, "
            f"the torch version and an estimate of how many {INFO_WIDTH}x{INFO_HEIGHT} frames fit in memory."
        ),
    )
    _add_model_arguments(parser)
    parser.set_defaults(func=run_info)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``reconstruct``, ``track`` and ``info`` to the ``vggt-py`` command."""
    _register_reconstruct(subparsers)
    _register_track(subparsers)
    _register_info(subparsers)
