"""nerfstudio ``transforms.json`` export of a :class:`Reconstruction` (for NeRF and Gaussian-splat trainers).

The file follows nerfstudio's documented dataset format (docs.nerf.studio, "Data conventions"):

* top level: ``camera_model`` (``"OPENCV"`` with zero distortion, or ``"PINHOLE"``), ``frames`` and,
  when a point cloud is exported beside it, ``ply_file_path`` (relative to the file's folder; the
  PLY's points are in the same world frame as the cameras, for splat initialisation);
* per frame: ``file_path`` (the photo, relative to the file's folder where possible), intrinsics in the
  ORIGINAL photo's pixels ``fl_x, fl_y, cx, cy, w, h`` (plus ``k1, k2, p1, p2 = 0`` for OPENCV),
  ``transform_matrix`` (4 x 4 camera-to-world) and, optionally, ``depth_file_path``.

Conventions (docs/architecture.md, Conventions):

* nerfstudio cameras use OpenGL axes (x right, y up, z back, looking down -z): the camera-to-world
  matrix is the inverse of ``rec.extrinsics`` with the camera's y and z axes negated,
  ``transform_matrix = inverse([R | t]) @ diag(1, -1, -1, 1)`` (:func:`nerfstudio_camera_to_world`).
  The world frame is the reconstruction's (frame 0's camera, OpenCV world axes), the one the PLY uses;
  nerfstudio re-orients and re-centres the poses and the PLY points together when it loads them.
* nerfstudio puts pixel centres at half-integers (a ray of pixel (0, 0) goes through (0.5, 0.5)), as
  COLMAP does, so ``cx, cy`` are the original-pixel principal point (integer = pixel centre) + 0.5.
  A world point ``X`` thus lands at ``u = cx + fl_x * x / -z``, ``v = cy - fl_y * y / -z`` with
  ``(x, y, z) = inverse(transform_matrix) X``, and ``(u - 0.5, v - 0.5)`` is the pixel in this package's
  convention.
* Depth files (``depth=True``): one ``.npy`` per frame under ``depths/``, float32 at the original
  photo's size, holding camera-frame z times 1000 (0 where the depth is invalid, padded, or filtered
  out by the export's confidence filter and mask), so nerfstudio's default
  ``depth_unit_scale_factor = 1e-3`` turns it back into world units.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vggt_py.geometry.pixels import intrinsics_to_original, resample_to_original
from vggt_py.inference.reconstruction import Reconstruction
from vggt_py.inference.selection import check_exportable
from vggt_py.utils.io import atomic_path, atomic_write_text

__all__ = [
    "DEPTH_FOLDER",
    "DEPTH_SCALE",
    "IMAGE_FOLDER",
    "TRANSFORMS_CAMERA_MODELS",
    "frame_file_names",
    "nerfstudio_camera_to_world",
    "opencv_extrinsic_from_nerfstudio",
    "to_nerfstudio",
    "write_transforms",
]

TRANSFORMS_CAMERA_MODELS: tuple[str, ...] = ("OPENCV", "PINHOLE")
DEPTH_FOLDER = "depths"
IMAGE_FOLDER = "images"
DEPTH_SCALE = 1000.0  # stored depth = world depth x 1000 (nerfstudio's default depth_unit_scale_factor is 1e-3)
_OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])  # camera axes: negate y and z


def nerfstudio_camera_to_world(extrinsic: np.ndarray) -> np.ndarray:
    """[4, 4] nerfstudio ``transform_matrix`` (camera-to-world, OpenGL camera axes) of a camera-from-world [3, 4]."""
    rot = np.asarray(extrinsic[:, :3], dtype=np.float64)
    trans = np.asarray(extrinsic[:, 3], dtype=np.float64)
    pose = np.eye(4)
    pose[:3, :3] = rot.T
    pose[:3, 3] = -rot.T @ trans
    return pose @ _OPENGL_FROM_OPENCV


def opencv_extrinsic_from_nerfstudio(transform_matrix: np.ndarray) -> np.ndarray:
    """The inverse of :func:`nerfstudio_camera_to_world`: camera-from-world ``[3, 4]`` with OpenCV camera axes."""
    pose = np.asarray(transform_matrix, dtype=np.float64) @ _OPENGL_FROM_OPENCV
    return np.linalg.inv(pose)[:3]


def frame_file_names(names: Sequence[str], suffix: str) -> list[str]:
    """File names derived from frame names (``video.mp4#frame=12`` -> ``video_frame12``), unique, with ``suffix``."""
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        base, _, frame = name.partition("#frame=")
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(base).stem + (f"_frame{frame}" if frame else "")) or "frame"
        candidate, k = stem + suffix, 2
        while candidate in taken:
            candidate, k = f"{stem}~{k}{suffix}", k + 1
        taken.add(candidate)
        out.append(candidate)
    return out


def _relative_path(target: Path, base: Path) -> str:
    """``target`` relative to ``base`` (POSIX separators); absolute when they share only the root (or a drive)."""
    target, base = Path(os.path.abspath(target)), Path(os.path.abspath(base))
    try:
        common = Path(os.path.commonpath([target, base]))
    except ValueError:  # another drive (Windows)
        return target.as_posix()
    if common == Path(common.anchor):
        return target.as_posix()
    return Path(os.path.relpath(target, base)).as_posix()


def _check_camera_model(camera_model: str) -> None:
    if camera_model not in TRANSFORMS_CAMERA_MODELS:
        raise ValueError(f"camera_model must be one of {TRANSFORMS_CAMERA_MODELS}, got {camera_model!r}")


def to_nerfstudio(
    rec: Reconstruction,
    file_paths: Sequence[str],
    camera_model: str = "OPENCV",
    ply_file_path: str | None = None,
    depth_file_paths: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``transforms.json`` content (a JSON-able dict) for ``rec``; paths are written as given.

    Raises:
        ValueError: an unknown ``camera_model``, a wrong number of paths, or frames with non-finite
            or non-positive intrinsics or non-finite poses (named).
    """
    check_exportable(rec)
    _check_camera_model(camera_model)
    if len(file_paths) != len(rec):
        raise ValueError(f"file_paths: expected {len(rec)} paths (one per frame), got {len(file_paths)}")
    if depth_file_paths is not None and len(depth_file_paths) != len(rec):
        raise ValueError(f"depth_file_paths: expected {len(rec)} paths (one per frame), got {len(depth_file_paths)}")
    # float64, integer = pixel centre; the user's camera matrices exactly when they were given
    k_orig = np.asarray(rec.intrinsics_original, dtype=np.float64) if rec.known_intrinsics is not None else (
        intrinsics_to_original(rec.transforms, rec.intrinsics)
    )
    focal = k_orig[:, [0, 1], [0, 1]]
    bad = [i for i in range(len(rec)) if not (np.isfinite(k_orig[i]).all() and (focal[i] > 0).all())]
    if bad:
        raise ValueError(f"frames {bad} have degenerate intrinsics (focal lengths {focal[bad[0]].tolist()})")
    bad = [i for i in range(len(rec)) if not np.isfinite(rec.extrinsics[i]).all()]
    if bad:
        raise ValueError(f"frames {bad} have non-finite camera poses")
    frames = []
    for i in range(len(rec)):
        width, height = (int(v) for v in rec.original_sizes[i])
        frame: dict[str, Any] = {
            "file_path": str(file_paths[i]),
            "fl_x": float(k_orig[i, 0, 0]),
            "fl_y": float(k_orig[i, 1, 1]),
            "cx": float(k_orig[i, 0, 2]) + 0.5,  # nerfstudio: pixel centres at half-integers
            "cy": float(k_orig[i, 1, 2]) + 0.5,
            "w": width,
            "h": height,
        }
        if camera_model == "OPENCV":
            frame.update({"k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0})
        frame["transform_matrix"] = nerfstudio_camera_to_world(rec.extrinsics[i]).tolist()
        if depth_file_paths is not None:
            frame["depth_file_path"] = str(depth_file_paths[i])
        frames.append(frame)
    content: dict[str, Any] = {"camera_model": camera_model}
    if ply_file_path is not None:
        content["ply_file_path"] = ply_file_path
    content["frames"] = frames
    return content


def _depth_for_nerfstudio(rec: Reconstruction, index: int, keep: np.ndarray | None) -> np.ndarray:
    """Frame ``index``'s depth at its original size x :data:`DEPTH_SCALE`, float32, 0 where invalid or not kept."""
    depth = np.asarray(rec.depth[index], dtype=np.float32)
    valid = rec.content_mask()[index] & np.isfinite(depth) & (depth > 0)
    if keep is not None:
        valid &= keep[index]
    # NaN where not kept: bilinear resampling then marks every original pixel that touches one invalid
    size = tuple(rec.original_sizes[index])
    original = resample_to_original(np.where(valid, depth, np.nan), rec.transforms[index], size)
    return np.nan_to_num(original * DEPTH_SCALE, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def write_transforms(
    rec: Reconstruction,
    folder: str | os.PathLike[str],
    *,
    image_paths: Sequence[str | os.PathLike[str] | None] | None = None,
    load_image: Callable[[int], np.ndarray] | None = None,
    paths_relative_to: str | os.PathLike[str] | None = None,
    camera_model: str = "OPENCV",
    ply_file_path: str | None = None,
    depth: bool = False,
    depth_mask: np.ndarray | None = None,
) -> list[Path]:
    """Write ``folder/transforms.json`` (and ``depths/``, ``images/`` when needed); returns the entries written.

    Args:
        image_paths: each frame's photo; ``file_path`` is written relative to ``paths_relative_to``
            (default ``folder``: where ``transforms.json`` will live), or absolute when the two share
            no folder but the root. A frame without a path (None, or
            ``image_paths`` None) points at ``images/<name>``; with ``load_image`` (frame index ->
            uint8 ``[h, w, 3]`` original image, e.g. ``ImageBatch.load_original`` for video frames)
            that image is written there as PNG, otherwise the photos must be copied there by hand.
        ply_file_path: the PLY point cloud to reference (relative to ``folder``), or None.
        depth: also write the depth maps (module docstring), ``depth_mask`` ``[S, H, W]`` bool (model
            pixels) zeroing what the export filtered out.
    """
    check_exportable(rec)
    _check_camera_model(camera_model)
    folder = Path(folder)
    base = Path(paths_relative_to) if paths_relative_to is not None else folder
    paths = list(image_paths) if image_paths is not None else [None] * len(rec)
    if len(paths) != len(rec):
        raise ValueError(f"image_paths: expected {len(rec)} paths (one per frame), got {len(paths)}")
    if depth_mask is not None and (depth_mask.shape != rec.depth.shape or depth_mask.dtype != np.bool_):
        raise ValueError(
            f"depth_mask must be a bool array of shape {rec.depth.shape}, got {depth_mask.dtype} {depth_mask.shape}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    image_names = frame_file_names(rec.names, ".png")
    file_paths: list[str] = []
    for i, path in enumerate(paths):
        if path is not None:
            file_paths.append(_relative_path(Path(path), base))
            continue
        file_paths.append(f"{IMAGE_FOLDER}/{image_names[i]}")
        if load_image is not None:
            from PIL import Image

            target = folder / IMAGE_FOLDER / image_names[i]
            target.parent.mkdir(exist_ok=True)
            with atomic_path(target) as tmp:
                Image.fromarray(np.asarray(load_image(i), dtype=np.uint8)).save(tmp, format="PNG")
            if folder / IMAGE_FOLDER not in written:
                written.append(folder / IMAGE_FOLDER)
    depth_paths = None
    if depth:
        depth_paths = [f"{DEPTH_FOLDER}/{name}" for name in frame_file_names(rec.names, ".npy")]
        (folder / DEPTH_FOLDER).mkdir(exist_ok=True)
        for i, relative in enumerate(depth_paths):
            with atomic_path(folder / relative) as tmp, open(tmp, "wb") as fh:
                np.save(fh, _depth_for_nerfstudio(rec, i, depth_mask))
        written.append(folder / DEPTH_FOLDER)
    content = to_nerfstudio(rec, file_paths, camera_model, ply_file_path, depth_paths)
    atomic_write_text(folder / "transforms.json", json.dumps(content, indent=2) + "\n")
    return [folder / "transforms.json", *written]
