"""Helpers shared by the ``vggt-py`` commands: errors, consoles and progress, model and image loading, arguments.

Only the command modules of :mod:`vggt_py.cli` use these; the library never imports them.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from vggt_py.errors import VGGTError
from vggt_py.inference.memory import available_memory, frames_that_fit, is_out_of_memory

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from vggt_py.inference.images import ImageBatch
    from vggt_py.inference.reconstruction import Reconstruction
    from vggt_py.model import VGGT

__all__ = [
    "CLIError",
    "NPZ_NAME",
    "reconstruction_npz",
    "add_model_arguments",
    "add_run_arguments",
    "check_input",
    "make_console",
    "make_progress",
    "escape",
    "file_size",
    "human_bytes",
    "infer",
    "load_batch",
    "load_model",
    "no_track_head_message",
    "out_of_memory_message",
    "plural",
    "positive_int",
    "resolve_device",
    "stage",
]


class CLIError(VGGTError):
    """An error a person can act on, worded for the command line: printed without a traceback, exit code 2."""


NPZ_NAME = "reconstruction.npz"  # what `vggt-py reconstruct` and `vggt-py demo` write for the npz format


def reconstruction_npz(target: Path) -> Path:
    """The reconstruction file that ``check`` and ``view`` read: OUT/reconstruction.npz, or an .npz given directly."""
    if target.is_dir():
        path = target / NPZ_NAME
        if not path.is_file():
            raise CLIError(
                f"{target} holds no {NPZ_NAME}; write one with vggt-py reconstruct ... --formats npz "
                "(or pass the .npz file itself)"
            )
        return path
    if not target.is_file():
        raise CLIError(f"no such file or folder: {target}")
    if target.suffix.lower() != ".npz":
        raise CLIError(f"expected a reconstruction folder or an .npz file, got {target}")
    return target


def escape(text: str) -> str:
    """``text`` with rich markup escaped (file names may hold square brackets)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def make_console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def make_progress(console: Console) -> Progress:
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
def stage(
    progress: Progress, description: str, total: int = 1, times: dict[str, float] | None = None, key: str = ""
) -> Iterator[int]:
    """A progress task that shows as complete when the block ends (its duration goes to ``times[key]``).

    The block may change the task's total (the forward pass counts its blocks); complete means that total.
    """
    start = time.perf_counter()
    task = progress.add_task(description, total=total)
    yield task
    progress.update(task, completed=next(t.total for t in progress.tasks if t.id == task))
    if times is not None:
        times[key] = time.perf_counter() - start


def resolve_device(name: str) -> torch.device:
    """``--device`` as a torch device (``auto``: CUDA when available); ``cuda`` without a CUDA device fails."""
    from vggt_py.inference import api

    if name == "cuda" and not torch.cuda.is_available():
        raise CLIError("--device cuda was requested but PyTorch sees no CUDA device; use --device cpu or auto")
    return api.resolve_device(name)


def load_model(spec: str | None, device: torch.device, offline: bool, console: Console) -> tuple[VGGT, str]:
    """Load ``--model`` (``None``: the default model) and return it with the spec it was loaded from.

    Without ``--model``, :data:`~vggt_py.inference.api.DEFAULT_MODEL` is used when it is available and
    the bundled model otherwise, with a one-line notice on ``console`` saying why. Errors a person can
    act on become :class:`CLIError`.
    """
    from vggt_py.hub import WeightsNotAvailableError
    from vggt_py.inference import api

    try:
        if spec is None:
            model, choice = api.load_default_model(device, offline=offline)
            if choice.is_fallback:
                console.print(f"[bold yellow]note:[/bold yellow] {escape(choice.notice())}", soft_wrap=True)
            return model, choice.spec
        return api.load_model(spec, device, offline=offline), spec
    except WeightsNotAvailableError as err:
        raise CLIError(
            f"{err}\nWith vggt-py, pass local weights as --model PATH (a folder holding config.json and "
            "model.safetensors, e.g. written by VGGT.save_pretrained, or a single weights file)."
        ) from err
    except (FileNotFoundError, ValueError) as err:
        raise CLIError(f"--model {spec if spec is not None else '(default)'}: {err}") from err


def no_track_head_message(spec: str) -> str:
    from vggt_py.bundled import parse_bundled_spec
    from vggt_py.inference.api import DEFAULT_MODEL

    bundled = parse_bundled_spec(spec)
    what = f"the bundled model {bundled}" if bundled is not None else f"the model {spec}"
    return (
        f"{what} has no track head (its config disables it); use --model {DEFAULT_MODEL} (from the Hugging Face "
        "hub or its local cache) or another model with a track head"
    )


def check_input(paths: Sequence[Path]) -> str | Path | list[Path]:
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


def load_batch(
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
        console.print(f"[yellow]warning:[/yellow] {escape(str(warning.message))}")
    return batch


def out_of_memory_message(
    model: VGGT, device: torch.device, batch: ImageBatch, compute_dtype: torch.dtype, chunk: int | None
) -> str:
    """What to say when ``batch`` ran out of memory: how many frames the memory model expects to fit, what to try."""
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
        f"out of memory on {device} with {plural(frames, 'frame')} of {width}x{height}: {advice} (estimate "
        "from the memory model of `vggt-py info`; --max-frames spreads frames evenly over the input). Also try "
        + ", ".join(options)
        + "."
    )


def infer(
    batch: ImageBatch,
    model: VGGT,
    device: torch.device,
    args: argparse.Namespace,
    query_points: np.ndarray | None = None,
    point_source: str = "depth",
    distributed: bool = False,
    bar: tuple[Progress, TaskID] | None = None,
    **options: object,
) -> Reconstruction | None:
    """:func:`~vggt_py.inference.api.reconstruct` with ``--dtype``/``--chunk``; running out of memory says what to try.

    ``distributed``: the frames split across the process group (``torchrun``); ``None`` on ranks other than 0.
    ``bar``: a progress task that follows the forward pass block by block (:mod:`vggt_py.inference.progress`),
    its description naming the step that just finished.
    ``options``: more keyword arguments of ``reconstruct`` (``window``, ``intrinsics``...).
    """
    from vggt_py.inference.api import autocast_dtype, reconstruct
    from vggt_py.inference.progress import forward_progress

    watch: contextlib.AbstractContextManager = contextlib.nullcontext()
    if bar is not None:
        progress, task = bar
        label = next(t.description for t in progress.tasks if t.id == task)

        def on_step(done: int, total: int, step: str) -> None:
            text = label if done in (0, total) else f"{label}: {step}"
            progress.update(task, completed=done, total=total, description=text)

        watch = forward_progress(model, on_step, tracking=query_points is not None)
    try:
        with watch:
            return reconstruct(
                batch,
                model,
                mode=batch.mode,
                query_points=query_points,
                point_source=point_source,  # type: ignore[arg-type]
                device=device,
                dtype=args.dtype,
                frames_chunk_size=args.chunk,
                distributed=distributed,
                **options,  # type: ignore[arg-type]
            )
    except (torch.OutOfMemoryError, RuntimeError) as err:
        if not is_out_of_memory(err):
            raise
        compute = autocast_dtype(device, args.dtype)
        chunk = args.chunk if args.chunk is not None else model.config.depth_head.frames_chunk_size
        raise CLIError(out_of_memory_message(model, device, batch, compute, chunk)) from err
    except ValueError as err:
        raise CLIError(str(err)) from err


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
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


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument(
        "--dtype",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="compute dtype (auto: bf16 on Ampere+ GPUs, fp16 on older GPUs, fp32 on CPU)",
    )
    parser.add_argument("--mode", choices=("crop", "pad"), default="crop", help="preprocessing (default: crop)")
    parser.add_argument(
        "--max-frames", type=positive_int, metavar="K", help="use at most K frames, spread evenly over the input"
    )
    parser.add_argument(
        "--chunk", type=positive_int, metavar="N", help="frames per dense-head pass (default: the model's, 8)"
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def file_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
