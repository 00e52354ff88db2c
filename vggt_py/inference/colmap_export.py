"""COLMAP sparse-model export of a :class:`Reconstruction` (pycolmap), in the original images' pixels.

COLMAP puts pixel centres at half-integers, so intrinsics and keypoints get ``+0.5`` on top of the
original<->model mapping of :mod:`vggt_py.geometry.pixels` (docs/architecture.md, Conventions).

Points are either multi-view tracks (``tracks``: :class:`~vggt_py.inference.colmap_tracks.SparseTracks`,
points seen by several images with their real reprojection errors stored) or the dense selection
(``selection``: every kept pixel a point seen once, by its source image, error 0).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from vggt_py.geometry.pixels import intrinsics_to_original, model_to_original
from vggt_py.inference.colmap_tracks import SparseTracks
from vggt_py.inference.pycolmap_support import import_pycolmap
from vggt_py.inference.reconstruction import PointSource, Reconstruction
from vggt_py.inference.selection import PointSelection, check_exportable, select_points

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pycolmap

__all__ = ["COLMAP_CAMERA_MODELS", "colmap_camera_params", "export_colmap", "to_colmap", "unique_image_names"]

# Supported COLMAP models; distortion parameters are written as zeros (VGGT predicts pinhole cameras).
COLMAP_CAMERA_MODELS: tuple[str, ...] = ("PINHOLE", "SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV")


def colmap_camera_params(model: str, intrinsics: np.ndarray) -> list[float]:
    """COLMAP parameters of ``model`` for pinhole ``intrinsics [3, 3]``; COLMAP's principal point is ``+0.5``.

    Single-focal models get the mean of ``f_x`` and ``f_y``; distortion parameters are zeros.
    """
    fx, fy = intrinsics[0, 0], intrinsics[1, 1]
    cx, cy = intrinsics[0, 2] + 0.5, intrinsics[1, 2] + 0.5
    f = 0.5 * (fx + fy)
    return {
        "PINHOLE": [fx, fy, cx, cy],
        "SIMPLE_PINHOLE": [f, cx, cy],
        "SIMPLE_RADIAL": [f, cx, cy, 0.0],
        "RADIAL": [f, cx, cy, 0.0, 0.0],
        "OPENCV": [fx, fy, cx, cy, 0.0, 0.0, 0.0, 0.0],
    }[model]


def _check_colmap_inputs(rec: Reconstruction, camera_model: str, shared_camera: bool, k_orig: np.ndarray) -> None:
    if camera_model not in COLMAP_CAMERA_MODELS:
        raise ValueError(f"camera_model must be one of {COLMAP_CAMERA_MODELS}, got {camera_model!r}")
    focal = k_orig[:, [0, 1], [0, 1]]
    bad = [i for i in range(len(rec)) if not (np.isfinite(k_orig[i]).all() and (focal[i] > 0).all())]
    if bad:
        raise ValueError(
            f"frames {bad} have degenerate intrinsics (focal lengths {focal[bad[0]].tolist()}); "
            "COLMAP needs finite, positive focal lengths"
        )
    bad_poses = [i for i in range(len(rec)) if not np.isfinite(rec.extrinsics[i]).all()]
    if bad_poses:
        raise ValueError(f"frames {bad_poses} have non-finite camera poses")
    if shared_camera and len({tuple(size) for size in rec.original_sizes.tolist()}) > 1:
        sizes = sorted({tuple(size) for size in rec.original_sizes.tolist()})
        raise ValueError(f"shared_camera=True needs images of one size, got sizes {sizes}")


def unique_image_names(names: list[str]) -> list[str]:
    """COLMAP image names: ``names`` with repeats renamed ``stem~2.ext``, ``stem~3.ext``... (first kept).

    The same file given twice, or two photos of one name from different folders, would otherwise
    make COLMAP refuse the model; a renamed frame no longer matches a file name in an image folder.
    """
    taken = set(names)
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        if count == 1:
            out.append(name)
            continue
        stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
        k = count
        while (candidate := f"{stem}~{k}{dot}{ext}") in taken:
            k += 1
        taken.add(candidate)
        out.append(candidate)
    return out


def to_colmap(
    rec: Reconstruction,
    conf_threshold: float | None = None,
    conf_percentile: float | None = None,
    source: PointSource | None = None,
    mask: np.ndarray | None = None,
    max_points: int | None = 100_000,
    camera_model: str = "PINHOLE",
    shared_camera: bool = False,
    seed: int = 0,
    selection: PointSelection | None = None,
    tracks: SparseTracks | None = None,
) -> pycolmap.Reconstruction:
    """A ``pycolmap.Reconstruction`` in the ORIGINAL images' pixel coordinates (COLMAP conventions).

    * Cameras: ``camera_model`` with the predicted pinhole intrinsics mapped to original pixels (or the
      user's :attr:`Reconstruction.known_intrinsics`, exactly) and the
      principal point shifted by +0.5 (COLMAP puts pixel centres at half-integers), size = original
      size. One camera per image (ids 1..S), or one shared camera (mean intrinsics) with ``shared_camera``.
    * Images: ids 1..S, names ``rec.names`` (repeats made unique, :func:`unique_image_names`), pose ``cam_from_world = rec.extrinsics`` (one trivial
      rig and frame each, as COLMAP 3.12+ stores poses).
    * Points, with ``tracks`` (:func:`~vggt_py.inference.colmap_tracks.build_tracks`): one 3-D point per
      track, observed in every frame of its track at the original pixel position of its model pixel,
      +0.5; each point's stored error is its mean reprojection error (``update_point_3d_errors``).
    * Points, without ``tracks``: each kept pixel (:func:`select_points`) becomes a 3-D point with one
      observation, in its source frame at the original pixel position of that model pixel, +0.5. With
      ``source="depth"`` the point projects exactly onto its observation (error 0); point-head points need not.

    A precomputed ``selection`` (:func:`select_points`) replaces the filter arguments and ``seed``.
    """
    check_exportable(rec)
    pycolmap = import_pycolmap("The COLMAP export")
    k_orig = (
        np.asarray(rec.known_intrinsics, dtype=np.float64)
        if rec.known_intrinsics is not None
        else intrinsics_to_original(rec.transforms, rec.intrinsics)
    )
    _check_colmap_inputs(rec, camera_model, shared_camera, k_orig)
    names = unique_image_names(list(rec.names))
    model = pycolmap.Reconstruction()
    camera_ids = _add_cameras(pycolmap, model, rec, k_orig, camera_model, shared_camera)
    if tracks is not None:
        _add_tracks(pycolmap, model, rec, tracks, names, camera_ids)
        return model
    if selection is None:
        selection = select_points(rec, conf_threshold, conf_percentile, source, mask, max_points, seed)
    for i in range(len(rec)):
        in_frame = np.flatnonzero(selection.frames == i)
        model_xy = selection.pixels[in_frame].astype(np.float64)
        keypoints = model_to_original(rec.transforms[i], model_xy) + 0.5  # [m, 2] COLMAP pixels
        image = pycolmap.Image(name=names[i], keypoints=keypoints, camera_id=camera_ids[i], image_id=i + 1)
        model.add_image_with_trivial_frame(image, _pose(pycolmap, rec.extrinsics[i]))
        for k, point in enumerate(in_frame):
            track = pycolmap.Track()
            track.add_element(i + 1, k)
            model.add_point3D(selection.xyz[point].astype(np.float64), track, selection.rgb[point])
    return model


def _pose(pycolmap: ModuleType, extrinsic: np.ndarray) -> pycolmap.Rigid3d:
    extrinsic = np.asarray(extrinsic, dtype=np.float64)
    return pycolmap.Rigid3d(pycolmap.Rotation3d(extrinsic[:, :3]), extrinsic[:, 3])


def _add_tracks(
    pycolmap: ModuleType,
    model: pycolmap.Reconstruction,
    rec: Reconstruction,
    tracks: SparseTracks,
    names: list[str],
    camera_ids: list[int],
) -> None:
    """Images with the tracks' observations as keypoints, one 3-D point per track, stored errors updated."""
    bad = np.flatnonzero((tracks.frame < 0) | (tracks.frame >= len(rec)))
    if bad.size:
        frame = int(tracks.frame[bad[0]])
        raise ValueError(f"tracks observe frame {frame}, but the reconstruction has {len(rec)} frames")
    index_in_image = np.zeros(tracks.num_observations, dtype=np.int64)
    for i in range(len(rec)):
        in_frame = np.flatnonzero(tracks.frame == i)
        index_in_image[in_frame] = np.arange(in_frame.size)
        keypoints = model_to_original(rec.transforms[i], tracks.xy[in_frame].astype(np.float64)) + 0.5
        image = pycolmap.Image(
            name=names[i], keypoints=keypoints.reshape(-1, 2), camera_id=camera_ids[i], image_id=i + 1
        )
        model.add_image_with_trivial_frame(image, _pose(pycolmap, rec.extrinsics[i]))
    order = np.argsort(tracks.point, kind="stable")
    starts = np.searchsorted(tracks.point[order], np.arange(tracks.num_points + 1))
    for p in range(tracks.num_points):
        track = pycolmap.Track()
        for k in order[starts[p] : starts[p + 1]]:
            track.add_element(int(tracks.frame[k]) + 1, int(index_in_image[k]))
        model.add_point3D(tracks.xyz[p].astype(np.float64), track, tracks.rgb[p])
    model.update_point_3d_errors()


def _add_cameras(
    pycolmap: ModuleType,
    model: pycolmap.Reconstruction,
    rec: Reconstruction,
    k_orig: np.ndarray,
    camera_model: str,
    shared_camera: bool,
) -> list[int]:
    """Add the cameras (each with a trivial rig); returns the camera id of each frame."""
    groups = [list(range(len(rec)))] if shared_camera else [[i] for i in range(len(rec))]
    camera_ids = [0] * len(rec)
    for camera_id, frames in enumerate(groups, start=1):
        same = bool((k_orig[frames] == k_orig[frames[0]]).all())
        k = k_orig[frames[0]] if same else k_orig[frames].mean(axis=0)  # identical matrices stay exact
        width, height = (int(v) for v in rec.original_sizes[frames[0]])
        camera = pycolmap.Camera(
            model=camera_model,
            width=width,
            height=height,
            params=colmap_camera_params(camera_model, k),
            camera_id=camera_id,
        )
        model.add_camera_with_trivial_rig(camera)
        for i in frames:
            camera_ids[i] = camera_id
    return camera_ids


def _write_colmap_model(model: pycolmap.Reconstruction, folder: Path, binary: bool) -> None:
    """Write into a temporary folder inside ``folder``, then move each file into place atomically.

    Files of the other format with the same names (``cameras.txt`` when writing ``cameras.bin``...)
    are removed, so a folder never holds two disagreeing models.
    """
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".colmap-", dir=folder))
    try:
        (model.write_binary if binary else model.write_text)(str(staging))
        other = ".txt" if binary else ".bin"
        for written in sorted(staging.iterdir()):
            os.replace(written, folder / written.name)
            (folder / written.with_suffix(other).name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_colmap(
    rec: Reconstruction,
    folder: str | os.PathLike[str],
    binary: bool = True,
    conf_threshold: float | None = None,
    conf_percentile: float | None = None,
    source: PointSource | None = None,
    mask: np.ndarray | None = None,
    max_points: int | None = 100_000,
    camera_model: str = "PINHOLE",
    shared_camera: bool = False,
    seed: int = 0,
    selection: PointSelection | None = None,
    tracks: SparseTracks | None = None,
) -> Path:
    """Write a COLMAP sparse model (``cameras``, ``images``, ``points3D``, plus ``rigs`` and ``frames``).

    Binary (``.bin``) by default, text (``.txt``) with ``binary=False``. See :func:`to_colmap` for the
    conventions, ``tracks`` and ``selection``. Needs pycolmap (``pip install "vggt-py[colmap]"``).
    """
    model = to_colmap(
        rec,
        conf_threshold,
        conf_percentile,
        source,
        mask,
        max_points,
        camera_model,
        shared_camera,
        seed,
        selection,
        tracks,
    )
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise ValueError(f"COLMAP output must be a folder, but {target} is a file")
    _write_colmap_model(model, target, binary)
    return target

