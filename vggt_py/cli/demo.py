"""``vggt-py demo``: reconstruct a held-out synthetic scene and score it (:func:`vggt_py.inference.demo.run_demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vggt_py.cli.common import CLIError, resolve_device
from vggt_py.hub import WeightsNotAvailableError
from vggt_py.inference.demo import (
    DEFAULT_FRAMES,
    DEFAULT_OUT,
    DEFAULT_SEED,
    HELD_OUT_SEED_START,
    REPORT_NAME,
    SCENE_DIR,
    check_demo_arguments,
    print_report,
    run_demo,
)

__all__ = ["register", "run_demo_command"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vggt-py demo``."""
    from vggt_py.data.synthetic import DIFFICULTIES

    parser = subparsers.add_parser(
        "demo",
        help="reconstruct a held-out synthetic scene and score it against its ground truth (offline)",
        description=(
            "Render a synthetic scene no training run has seen, reconstruct it (the bundled model by default), "
            "compare cameras, depth and points with the exact ground truth, run the consistency checks, and "
            f"write OUT/{SCENE_DIR}/ (the scene folder), OUT/scene.glb, OUT/reconstruction.npz and OUT/{REPORT_NAME}."
        ),
    )
    parser.add_argument(
        "-o", "--out", type=Path, default=DEFAULT_OUT, metavar="OUT", help=f"output folder (default: ./{DEFAULT_OUT})"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        metavar="N",
        help=f"scene seed, >= {HELD_OUT_SEED_START} (held out from training; default: {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--frames", type=int, default=DEFAULT_FRAMES, metavar="S", help=f"views (default: {DEFAULT_FRAMES})"
    )
    parser.add_argument("--difficulty", choices=DIFFICULTIES, default="default", help="scene preset (default: default)")
    parser.add_argument(
        "--model",
        metavar="ID|PATH",
        default=None,
        help="model to run: hub repo id, local folder, weights file or bundled:NAME (default: the bundled model)",
    )
    parser.add_argument(
        "--offline", action="store_true", help="never contact the Hugging Face hub (for a hub id given as --model)"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: CUDA if available")
    parser.add_argument(
        "--dtype",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="compute dtype (auto: bf16 on Ampere+ GPUs, fp16 on older GPUs, fp32 on CPU)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="write into a non-empty OUT, replacing the demo's files there"
    )
    parser.set_defaults(func=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    """``vggt-py demo``: :func:`run_demo` with the errors a person can act on turned into :class:`CLIError`."""
    from rich.console import Console


    device = resolve_device(args.device)
    try:
        check_demo_arguments(args.seed, args.frames, args.difficulty)
    except ValueError as err:
        raise CLIError(f"--{err}") from err
    model_note = f"--model {args.model}: " if args.model is not None else ""
    with Console(stderr=True, highlight=False).status("Starting") as status:
        try:
            report = run_demo(
                args.out,
                model=args.model,
                seed=args.seed,
                frames=args.frames,
                difficulty=args.difficulty,
                device=device,
                dtype=args.dtype,
                overwrite=args.overwrite,
                offline=args.offline,
                progress=status.update,
            )
        except FileExistsError as err:
            raise CLIError(str(err).replace("overwrite=True (--overwrite)", "--overwrite")) from err
        except FileNotFoundError as err:  # also WeightsNotAvailableError: a hub id that cannot be fetched
            hint = "\nPass local weights as --model PATH, or leave --model out for the bundled model."
            raise CLIError(f"{model_note}{err}" + (hint if isinstance(err, WeightsNotAvailableError) else "")) from err
        except (ValueError, ImportError) as err:
            raise CLIError(str(err)) from err
    print_report(report, Console(highlight=False))
    return 0
