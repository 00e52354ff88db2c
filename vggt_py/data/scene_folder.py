"""Scene folders: multi-view images with cameras, depth and optional tracks on disk.

Format (version 1), shared by the synthetic generator and fine-tuning::

    SCENE/
      cameras.json          cameras and the list of frames (required)
      images/000000.png     RGB images, 8-bit PNG (any name listed in cameras.json)
      depth/000000.npy      per-frame depth, float32 [H,W], same stem as the image;
                            camera-frame z in scene units, 0 (or non-finite) = invalid
      depth/000000.png      alternative to .npy: 16-bit grayscale PNG, depth in millimetres
                            (metres * 1000, rounded), 0 = invalid; .npy wins if both exist
      tracks.npz            optional: "tracks" float32 [S,N,2] pixel (u, v) of N points in
                            every frame (frame 0 holds the queries) and "track_visibility"
                            bool [S,N]

``cameras.json``::

    {
      "format": "vggt-py-scene",
      "version": 1,
      "frames": [
        {"file": "000000.png", "width": 518, "height": 392,
         "intrinsics": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],
         "extrinsics": [[r11, r12, r13, t1], [r21, r22, r23, t2], [r31, r32, r33, t3]]},
        ...
      ]
    }

Conventions: ``intrinsics`` is the OpenCV K where the integer pixel (u, v) is the centre of
column u / row v (docs/architecture.md, "Conventions"); ``extrinsics`` is camera-from-world [R | t] with OpenCV
camera axes (x right, y down, z forward); frames are in the order listed. All frames of one
folder share one image size. :func:`write_scene_folder` writes atomically (a temporary sibling
folder renamed into place); :func:`read_scene_folder` checks every file and raises
:class:`SceneFolderError` naming the scene and the file at fault.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from vggt_py.data.scene import rotation_problem
from vggt_py.data.synthetic import SyntheticScene
from vggt_py.errors import InputError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SceneFolderError",
    "read_scene_folder",
    "unproject_depths",
    "write_scene_folder",
]

FORMAT_NAME = "vggt-py-scene"
FORMAT_VERSION = 1
_MM_PER_UNIT = 1000.0


class SceneFolderError(InputError):
    """A scene folder is missing a file or holds inconsistent data."""


def _frame_name(index: int) -> str:
    return f"{index:06d}.png"


# ----------------------------------------------------------------------------- writing


def _cameras_json(scene: SyntheticScene) -> dict[str, object]:
    frames = [
        {
            "file": _frame_name(i),
            "width": scene.width,
            "height": scene.height,
            "intrinsics": np.asarray(scene.intrinsics[i], dtype=np.float64).tolist(),
            "extrinsics": np.asarray(scene.extrinsics[i], dtype=np.float64).tolist(),
        }
        for i in range(scene.num_frames)
    ]
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "frames": frames}


def _write_contents(scene: SyntheticScene, root: Path, depth_format: str) -> None:
    (root / "images").mkdir()
    (root / "depth").mkdir()
    for i in range(scene.num_frames):
        name = _frame_name(i)
        Image.fromarray(scene.images[i]).save(root / "images" / name)
        depth = np.where(scene.valid_masks[i], scene.depths[i], 0.0).astype(np.float32)
        stem = Path(name).stem
        if depth_format == "npy":
            np.save(root / "depth" / f"{stem}.npy", depth)
        else:
            mm = np.clip(np.round(depth.astype(np.float64) * _MM_PER_UNIT), 0, 65535).astype(np.uint16)
            Image.fromarray(mm).save(root / "depth" / f"{stem}.png")
    with open(root / "cameras.json", "w", encoding="utf-8") as f:
        json.dump(_cameras_json(scene), f, indent=1)
    if scene.num_tracks > 0:
        np.savez_compressed(
            root / "tracks.npz",
            tracks=scene.tracks.astype(np.float32),
            track_visibility=scene.track_visibility.astype(bool),
        )


def write_scene_folder(
    scene: SyntheticScene,
    path: str | os.PathLike[str],
    *,
    depth_format: Literal["npy", "png16"] = "npy",
    overwrite: bool = False,
) -> Path:
    """Write ``scene`` as a scene folder at ``path`` (format in the module docstring).

    The folder is assembled under a temporary sibling name and renamed into place, so
    readers never see a half-written scene.

    Args:
        scene: the scene to write.
        path: destination folder; its parent is created if needed.
        depth_format: "npy" (float32, exact) or "png16" (uint16 millimetres).
        overwrite: replace an existing folder at ``path`` (otherwise FileExistsError).

    Returns:
        The destination path.
    """
    if depth_format not in ("npy", "png16"):
        raise ValueError(f"depth_format must be 'npy' or 'png16', got {depth_format!r}")
    dest = Path(path)
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest} already exists (pass overwrite=True to replace it)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir()
    try:
        _write_contents(scene, tmp, depth_format)
        if dest.exists():  # swap: move the old folder aside, rename the new one in, delete the old
            old = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.old"
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


# ----------------------------------------------------------------------------- reading


def unproject_depths(depths: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """World points [S,H,W,3] float32 from depths [S,H,W], K [S,3,3], camera-from-world [S,3,4].

    Conventions: docs/architecture.md, "Conventions".

    Pixels with depth <= 0 give 0.
    """
    s, h, w = depths.shape
    v, u = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    out = np.zeros((s, h, w, 3), dtype=np.float32)
    for i in range(s):
        k = np.asarray(intrinsics[i], dtype=np.float64)
        rot = np.asarray(extrinsics[i, :, :3], dtype=np.float64)
        trans = np.asarray(extrinsics[i, :, 3], dtype=np.float64)
        d = depths[i].astype(np.float64)
        y = (v - k[1, 2]) / k[1, 1]
        x = (u - k[0, 2] - k[0, 1] * y) / k[0, 0]
        cam = np.stack([x * d, y * d, d], axis=-1)  # [H,W,3]
        world = np.einsum("hwj,jk->hwk", cam - trans, rot)  # R^T (X_c - t), row-vector form
        out[i] = np.where((d > 0)[..., None], world, 0.0)
    return out


def _fail(root: Path, what: str, message: str) -> SceneFolderError:
    return SceneFolderError(f"scene {str(root)!r}: {what}: {message}")


def _load_cameras(root: Path) -> list[dict[str, object]]:
    path = root / "cameras.json"
    if not path.is_file():
        raise _fail(root, "cameras.json", "missing")
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _fail(root, "cameras.json", f"not valid JSON ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _fail(root, "cameras.json", f'expected an object with "format": "{FORMAT_NAME}"')
    if meta.get("version") != FORMAT_VERSION:
        raise _fail(root, "cameras.json", f"unsupported version {meta.get('version')!r} (expected {FORMAT_VERSION})")
    frames = meta.get("frames")
    if not isinstance(frames, list) or not frames:
        raise _fail(root, "cameras.json", '"frames" must be a non-empty list')
    return frames


def _parse_frame(root: Path, index: int, frame: object) -> tuple[str, int, int, np.ndarray, np.ndarray]:
    where = f"cameras.json frame {index}"
    if not isinstance(frame, dict):
        raise _fail(root, where, "must be an object")
    missing = [k for k in ("file", "width", "height", "intrinsics", "extrinsics") if k not in frame]
    if missing:
        raise _fail(root, where, f"missing keys {missing}")
    try:
        K = np.asarray(frame["intrinsics"], dtype=np.float64)
        E = np.asarray(frame["extrinsics"], dtype=np.float64)
        width, height = int(frame["width"]), int(frame["height"])
    except (TypeError, ValueError) as err:
        raise _fail(root, where, f"bad numbers ({err})") from err
    if K.shape != (3, 3) or E.shape != (3, 4):
        raise _fail(root, where, f"intrinsics must be 3x3 and extrinsics 3x4, got {K.shape} and {E.shape}")
    if not (np.isfinite(K).all() and np.isfinite(E).all()):
        raise _fail(root, where, "intrinsics and extrinsics must be finite")
    if not (K[0, 0] > 0 and K[1, 1] > 0 and np.allclose(K[2], [0.0, 0.0, 1.0])):
        raise _fail(root, where, "intrinsics need positive focal lengths and last row [0, 0, 1]")
    problem = rotation_problem(E[:, :3])
    if problem:
        raise _fail(root, where, f"the extrinsics' 3x3 part is not a rotation ({problem})")
    if width < 1 or height < 1:
        raise _fail(root, where, f"width and height must be positive, got {width}x{height}")
    if not isinstance(frame["file"], str) or not frame["file"]:
        raise _fail(root, where, '"file" must be a non-empty string')
    return frame["file"], width, height, K, E


def _load_image(root: Path, name: str, width: int, height: int) -> np.ndarray:
    path = root / "images" / name
    if not path.is_file():
        raise _fail(root, f"images/{name}", "missing image")
    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"))
    except OSError as err:
        raise _fail(root, f"images/{name}", f"unreadable image ({err})") from err
    if rgb.shape[:2] != (height, width):
        raise _fail(root, f"images/{name}", f"size {rgb.shape[1]}x{rgb.shape[0]} != cameras.json {width}x{height}")
    return rgb


def _load_depth(root: Path, name: str, width: int, height: int) -> np.ndarray:
    stem = Path(name).stem
    npy, png = root / "depth" / f"{stem}.npy", root / "depth" / f"{stem}.png"
    if npy.is_file():
        rel = f"depth/{stem}.npy"
        try:
            depth = np.load(npy, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise _fail(root, rel, f"unreadable .npy ({err})") from err
        depth = np.asarray(depth, dtype=np.float32)
    elif png.is_file():
        rel = f"depth/{stem}.png"
        try:
            with Image.open(png) as img:
                raw = np.asarray(img)
        except OSError as err:
            raise _fail(root, rel, f"unreadable PNG ({err})") from err
        if raw.ndim != 2 or not np.issubdtype(raw.dtype, np.integer):
            raise _fail(root, rel, f"expected a single-channel 16-bit PNG, got {raw.dtype} {raw.shape}")
        depth = (raw.astype(np.float64) / _MM_PER_UNIT).astype(np.float32)
    else:
        raise _fail(root, f"depth/{stem}.npy", "missing depth (neither .npy nor .png)")
    if depth.shape != (height, width):
        raise _fail(root, rel, f"shape {depth.shape} != image size (H, W) = ({height}, {width})")
    return np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)


def _load_tracks(root: Path, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    path = root / "tracks.npz"
    if not path.is_file():
        return np.zeros((num_frames, 0, 2), dtype=np.float32), np.zeros((num_frames, 0), dtype=bool)
    try:
        with np.load(path, allow_pickle=False) as data:
            tracks = np.asarray(data["tracks"], dtype=np.float32)
            visibility = np.asarray(data["track_visibility"]).astype(bool)
    except (OSError, ValueError, KeyError) as err:
        raise _fail(root, "tracks.npz", f"expected arrays 'tracks' and 'track_visibility' ({err})") from err
    if tracks.ndim != 3 or tracks.shape[0] != num_frames or tracks.shape[2] != 2:
        raise _fail(root, "tracks.npz", f"tracks must be [{num_frames},N,2], got {tracks.shape}")
    if visibility.shape != tracks.shape[:2]:
        raise _fail(root, "tracks.npz", f"track_visibility must be {tracks.shape[:2]}, got {visibility.shape}")
    return tracks, visibility


def read_scene_folder(path: str | os.PathLike[str]) -> SyntheticScene:
    """Read a scene folder (format in the module docstring) into a :class:`SyntheticScene`.

    World points are unprojected from depth with the stored cameras (docs/architecture.md,
    "Conventions"); the valid mask is depth > 0. Without ``tracks.npz`` the tracks have N = 0.

    Raises:
        SceneFolderError: naming the scene and file, for a missing folder or file, bad JSON,
            inconsistent sizes or shapes.
    """
    root = Path(path)
    if not root.is_dir():
        raise SceneFolderError(f"scene {str(root)!r}: not a folder")
    frames = [_parse_frame(root, i, f) for i, f in enumerate(_load_cameras(root))]
    sizes = {(w, h) for _, w, h, _, _ in frames}
    if len(sizes) != 1:
        raise _fail(root, "cameras.json", f"all frames must share one image size, got {sorted(sizes)}")
    images, depths = [], []
    for name, width, height, _, _ in frames:
        images.append(_load_image(root, name, width, height))
        depths.append(_load_depth(root, name, width, height))
    intrinsics = np.stack([f[3] for f in frames]).astype(np.float32)
    extrinsics = np.stack([f[4] for f in frames]).astype(np.float32)
    depth = np.stack(depths)
    tracks, visibility = _load_tracks(root, len(frames))
    return SyntheticScene(
        images=np.stack(images),
        depths=depth,
        intrinsics=intrinsics,
        extrinsics=extrinsics,
        world_points=unproject_depths(depth, intrinsics, extrinsics),
        valid_masks=depth > 0,
        tracks=tracks,
        track_visibility=visibility,
    )
