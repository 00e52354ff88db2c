"""``vggt-py eval PRED GT``: compare a reconstruction with ground truth, both stored as ``.npz``."""

from __future__ import annotations

import argparse
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from vggt_py.cli.common import NPZ_NAME, CLIError
from vggt_py.evaluation.reconstruction import RECONSTRUCTION_KEYS, evaluate_reconstruction, print_metrics
from vggt_py.utils.io import atomic_write_text

__all__ = ["register", "run_eval"]

_SCENE_FILE = "cameras.json"  # marks a scene folder (vggt_py.data.scene_folder)
_KEYS_HELP = "\n".join(f"      {key:<17} {shape}" for key, shape in RECONSTRUCTION_KEYS.items())
_EPILOG = f"""\
PRED and GT are each one of:
  a reconstruction: an output folder of vggt-py reconstruct or demo (its {NPZ_NAME}), or that .npz
      (world points: its default point source; maps resampled to GT's size when GT holds the
      original photos' size);
  a scene folder (cameras.json, images/, depth/; as written by vggt-py synth, or the scene/ of a
      vggt-py demo folder, which GT uses when given the demo folder);
  an .npz file (numpy.savez) holding any of these arrays:
{_KEYS_HELP}
A metric group is computed when both hold its inputs: camera (extrinsics, S >= 2), depth (depth),
points (world_points) and tracks (tracks). valid_mask and track_visibility are read from GT only.
Other keys are ignored.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vggt-py eval``."""
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a reconstruction against ground truth (npz, reconstruction or scene folder)",
        description="Camera AUC / RRA / RTA, depth AbsRel / delta, point-map Chamfer and track EPE / delta_avg.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pred", type=Path, metavar="PRED", help="prediction: reconstruction folder or .npz")
    parser.add_argument("gt", type=Path, metavar="GT", help="ground truth: scene folder, demo folder or .npz")
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
            if "points_from_depth" in data.files and "format_version" in data.files:
                return {"__reconstruction__": np.asarray(True)}  # a vggt-py reconstruction: read whole
            return {key: data[key] for key in data.files if key in RECONSTRUCTION_KEYS}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise CLIError(f"cannot read {role} file {path} as .npz: {err}") from err


def _resolve(path: Path, role: str) -> tuple[str, Path]:
    """What ``path`` is: ``("scene", folder)``, ``("reconstruction", npz)`` or ``("npz", file)``.

    A demo folder holds both a reconstruction and its ``scene/``: GT reads the scene, PRED the reconstruction.
    """
    if not path.exists():
        raise CLIError(f"{role} file not found: {path}")
    if path.is_file():
        return "npz", path
    candidates = [("scene", path)] if (path / _SCENE_FILE).is_file() else []
    npz = [("reconstruction", path / NPZ_NAME)] if (path / NPZ_NAME).is_file() else []
    scene = [("scene", path / "scene")] if (path / "scene" / _SCENE_FILE).is_file() else []
    candidates += scene + npz if role == "GT" else npz + scene
    if not candidates:
        raise CLIError(
            f"{role} {path} is a folder without {_SCENE_FILE} (a scene folder), scene/{_SCENE_FILE} (a demo folder) "
            f"or {NPZ_NAME} (a reconstruction); pass one of those or an .npz file"
        )
    return candidates[0]


def _from_scene(folder: Path, role: str) -> dict[str, np.ndarray]:
    from vggt_py.data.scene_folder import SceneFolderError, read_scene_folder

    try:
        scene = read_scene_folder(folder)
    except SceneFolderError as err:
        raise CLIError(f"{role}: {err}") from err
    out = {
        "extrinsics": scene.extrinsics,
        "depth": scene.depths,
        "world_points": scene.world_points,
        "valid_mask": scene.valid_masks,
    }
    if scene.tracks.shape[1] > 0:
        out["tracks"], out["track_visibility"] = scene.tracks, scene.track_visibility
    return out


def _from_reconstruction(path: Path, role: str, size_hw: tuple[int, int] | None) -> dict[str, np.ndarray]:
    """A vggt-py reconstruction's arrays; with ``size_hw`` (GT's maps are the original photos' size) resampled."""
    from vggt_py.inference.export import load_npz

    try:
        rec = load_npz(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise CLIError(f"cannot read {role} reconstruction {path}: {err}") from err
    sizes = {(int(w), int(h)) for w, h in rec.original_sizes}
    out: dict[str, np.ndarray] = {"extrinsics": rec.extrinsics}
    if size_hw is not None and size_hw != rec.image_size and sizes == {(size_hw[1], size_hw[0])}:
        out["depth"] = np.stack([rec.depth_original(i) for i in range(len(rec))])  # NaN outside the model's view
        out["world_points"] = np.stack([rec.points_original(i) for i in range(len(rec))])
    else:
        out["depth"], out["world_points"] = rec.depth, rec.points()
        out["valid_mask"] = rec.content_mask()
    if rec.tracks is not None:
        out["tracks"] = rec.tracks_original()
    return out


def _load(path: Path, role: str, gt_size_hw: tuple[int, int] | None = None) -> tuple[dict[str, np.ndarray], Path]:
    """The arrays of PRED or GT, and the file or folder they were read from."""
    kind, target = _resolve(path, role)
    if kind == "scene":
        return _from_scene(target, role), target
    data = _load_npz(target, role) if kind == "npz" else {"__reconstruction__": np.asarray(True)}
    return (_from_reconstruction(target, role, gt_size_hw) if "__reconstruction__" in data else data), target


def _short(path: Path) -> str:
    """``demo/reconstruction.npz``, ``demo/scene``: the name with its folder."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def _dense_hw(data: dict[str, np.ndarray]) -> tuple[int, int] | None:
    for key in ("depth", "world_points", "valid_mask"):
        if key in data and data[key].ndim >= 3:
            return int(data[key].shape[1]), int(data[key].shape[2])
    return None


def _json_ready(metrics: dict[str, float]) -> dict[str, float | None]:
    """Non-finite values become null: JSON has no NaN or Infinity."""
    return {key: (value if math.isfinite(value) else None) for key, value in metrics.items()}


def run_eval(args: argparse.Namespace) -> int:
    if args.max_points < 0:
        raise CLIError(f"--max-points must be >= 0, got {args.max_points}")
    gt, gt_path = _load(args.gt, "GT")
    pred, pred_path = _load(args.pred, "PRED", _dense_hw(gt))
    content = pred.pop("valid_mask", None)  # a reconstruction's content mask: padding is not scored
    if content is not None and content.shape == gt.get("valid_mask", content).shape:
        gt["valid_mask"] = gt["valid_mask"] & content if "valid_mask" in gt else content
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
    print_metrics(metrics, title=f"{_short(pred_path)} vs {_short(gt_path)}")
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(_json_ready(metrics), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
