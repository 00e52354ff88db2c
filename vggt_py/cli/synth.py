"""``vggt-py synth``: write procedural scenes with exact ground truth as scene folders."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vggt_py.cli.common import CLIError

__all__ = ["register", "run_synth"]


def register(subparsers: Any) -> None:
    """Add the ``synth`` sub-command to an argparse sub-parser collection."""
    parser = subparsers.add_parser(
        "synth",
        help="render synthetic multi-view scenes with exact depth, cameras and tracks",
        description=(
            "Render K procedural scenes (textured room + objects, exact CPU ray casting) and write "
            "each as a scene folder OUT/scene_000000, OUT/scene_000001, ... (images/, depth/, "
            "cameras.json, tracks.npz). Scene i uses seed SEED + i."
        ),
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="output folder (created if missing)")
    parser.add_argument("--frames", type=int, default=8, metavar="S", help="frames per scene (default 8)")
    parser.add_argument("--height", type=int, default=392, metavar="H", help="image height (default 392)")
    parser.add_argument("--width", type=int, default=518, metavar="W", help="image width (default 518)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the first scene (default 0)")
    parser.add_argument("--num-scenes", type=int, default=1, metavar="K", help="number of scenes (default 1)")
    parser.add_argument(
        "--difficulty", choices=("easy", "default", "hard"), default="default", help="preset (default: default)"
    )
    parser.add_argument("--objects", type=int, default=None, metavar="N", help="objects per scene (preset)")
    parser.add_argument(
        "--trajectory", choices=("orbit", "forward", "random"), default=None, help="camera path (preset)"
    )
    parser.add_argument("--baseline", type=float, default=None, help="camera path length in metres (preset)")
    parser.add_argument("--tracks", type=int, default=None, metavar="N", help="GT tracks per scene (default 256)")
    parser.add_argument("--supersample", type=int, default=None, help="colour rays per pixel side (default 1)")
    parser.add_argument("--depth-format", choices=("npy", "png16"), default="npy", help="depth files (default npy)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing scene folders")
    parser.set_defaults(func=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    """Generate and write the scenes described by parsed ``synth`` arguments; returns 0."""
    from vggt_py.data.scene_folder import write_scene_folder
    from vggt_py.data.synthetic import SceneConfig, generate_scene

    if args.num_scenes < 1:
        raise CLIError(f"--num-scenes must be >= 1, got {args.num_scenes}")
    if args.seed < 0:
        raise CLIError(f"--seed must be >= 0, got {args.seed}")
    overrides = {
        "num_frames": args.frames,
        "height": args.height,
        "width": args.width,
        "num_objects": args.objects,
        "trajectory": args.trajectory,
        "baseline": args.baseline,
        "num_tracks": args.tracks,
        "supersample": args.supersample,
    }
    try:
        config = SceneConfig.preset(args.difficulty, **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as err:
        raise CLIError(str(err)) from err
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise CLIError(f"{out} exists and is not a folder")
    targets = [out / f"scene_{i:06d}" for i in range(args.num_scenes)]
    existing = [t for t in targets if t.exists()]
    if existing and not args.overwrite:
        raise CLIError(f"{existing[0]} already exists (use --overwrite to replace)")
    for i, target in enumerate(tqdm(targets, desc="synth", unit="scene")):
        scene = generate_scene(config, args.seed + i)
        write_scene_folder(scene, target, depth_format=args.depth_format, overwrite=args.overwrite)
    print(
        f"wrote {len(targets)} scene(s) of {config.num_frames} frames {config.width}x{config.height} to {out}"
        f" ({config.trajectory} trajectory, difficulty {args.difficulty})"
    )
    return 0
