"""Known cameras and metric anchors: move a reconstruction into the user's world and units.

VGGT predicts in a normalised frame (frame 0's camera, unit-ish scale). A similarity ``M`` (new world from
predicted world) is applied to cameras (:func:`vggt_py.geometry.transform_extrinsics`), depth (times the
scale) and points, and :attr:`Reconstruction.scale_source` records what fixed the scale:

* :func:`align_to_poses` -- known camera-from-world ``4x4`` poses of some frames: the rotation is the
  chordal mean of the per-frame rotations, the scale (two or more cameras, not coincident) the
  least-squares ratio of camera-centre spreads, and the translation puts the centres' means together.
  One known camera fixes rotation and translation only (``scale_source`` stays as it was).
* :func:`scale_by_distance` -- the metric distance between two pixels of one photo (original pixels).
* :func:`scale_by_depth` -- a metric depth value (the frame's median depth) or map (original pixels).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Literal

import numpy as np

from vggt_py.geometry import similarity_matrix, similarity_parts, transform_extrinsics, transform_points
from vggt_py.geometry.pixels import MIN_DEPTH, bilinear_sample
from vggt_py.inference.reconstruction import Reconstruction

__all__ = [
    "SCALE_SOURCES",
    "ScaleSource",
    "align_to_poses",
    "apply_similarity_to",
    "check_poses",
    "scale_by_depth",
    "scale_by_distance",
]

ScaleSource = Literal["normalised", "poses", "distance", "depth"]
SCALE_SOURCES: tuple[str, ...] = ("normalised", "poses", "distance", "depth")
_RIGID_TOLERANCE = 1e-4


def apply_similarity_to(rec: Reconstruction, matrix: np.ndarray) -> Reconstruction:
    """A copy of ``rec`` moved by the similarity ``matrix`` (new world from ``rec``'s world)."""
    scale = similarity_parts(matrix)[0]
    out = copy.copy(rec)
    out.metadata = dict(rec.metadata)
    out.extrinsics = transform_extrinsics(matrix, rec.extrinsics)
    out.depth = (rec.depth * scale).astype(rec.depth.dtype)
    out.points_from_depth = transform_points(matrix, rec.points_from_depth)
    if rec.points_from_head is not None:
        out.points_from_head = transform_points(matrix, rec.points_from_head)
    return out


def _check_frame(frame: object, count: int, name: str) -> int:
    if not isinstance(frame, (int, np.integer)) or isinstance(frame, bool) or not 0 <= int(frame) < count:
        raise ValueError(f"{name}: expected a frame index in [0, {count}), got {frame!r}")
    return int(frame)


def _check_pose(pose: object, frame: int) -> np.ndarray:
    p = np.asarray(pose, dtype=np.float64)
    if p.shape not in ((4, 4), (3, 4)) or not np.isfinite(p).all():
        raise ValueError(f"poses[{frame}]: expected a finite 4x4 (or 3x4) camera-from-world matrix, got {pose!r}")
    rot = p[:3, :3]
    if p.shape == (4, 4) and not np.allclose(p[3], [0, 0, 0, 1], atol=_RIGID_TOLERANCE):
        raise ValueError(f"poses[{frame}]: expected the last row [0, 0, 0, 1] of a rigid transform, got {p[3]!r}")
    if not np.allclose(rot @ rot.T, np.eye(3), atol=_RIGID_TOLERANCE) or np.linalg.det(rot) <= 0:
        raise ValueError(f"poses[{frame}]: not rigid: its 3x3 part is not a rotation (R R^T != I or det <= 0): {rot!r}")
    return p[:3]


def check_poses(poses: Mapping[int, object]) -> dict[int, np.ndarray]:
    """``{frame: [3, 4]}`` float64 from ``{frame: 4x4 or 3x4 camera-from-world}``; ``ValueError`` naming
    ``poses[frame]`` when a matrix is not finite, not rigid (``R R^T != I``, ``det R <= 0``) or its last row is
    not ``[0, 0, 0, 1]``. Frame indices are checked against a reconstruction by :func:`align_to_poses`."""
    if not isinstance(poses, Mapping) or not poses:
        raise ValueError(f"poses: expected a non-empty {{frame: 4x4 camera-from-world}} mapping, got {poses!r}")
    return {frame: _check_pose(pose, frame) for frame, pose in poses.items()}  # type: ignore[arg-type]


def _centre(ext: np.ndarray) -> np.ndarray:
    return -ext[:3, :3].T @ ext[:3, 3]


def align_to_poses(rec: Reconstruction, poses: Mapping[int, np.ndarray]) -> Reconstruction:
    """A copy of ``rec`` in the world of the known camera-from-world ``poses`` (``{frame: 4x4}``)."""
    if not isinstance(poses, Mapping) or not poses:
        raise ValueError(f"poses: expected a non-empty {{frame: 4x4 camera-from-world}} mapping, got {poses!r}")
    frames = [_check_frame(f, len(rec), "poses") for f in poses]
    given = [_check_pose(poses[f], f) for f in poses]  # type: ignore[index]
    pred = [np.asarray(rec.extrinsics[f], dtype=np.float64) for f in frames]
    # R maps predicted-world directions to new-world ones: R_given = R_pred R^T  =>  R = R_given^T R_pred.
    u, _, vt = np.linalg.svd(sum(g[:, :3].T @ p[:, :3] for g, p in zip(given, pred, strict=True)))
    rotation = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    centres_g = np.stack([_centre(g) for g in given])
    centres_p = np.stack([_centre(p) for p in pred])
    scale = 1.0
    if len(frames) >= 2:
        dg, dp = centres_g - centres_g.mean(0), (centres_p - centres_p.mean(0)) @ rotation.T
        spread = float((dp**2).sum())
        if not spread > 1e-12 or not float((dg**2).sum()) > 1e-12:
            raise ValueError("poses: the known cameras (or their predictions) share one centre; scale is not fixed")
        scale = float((dg * dp).sum()) / spread
        if not scale > 0:
            raise ValueError(f"poses: the known camera centres run opposite to the predicted ones (scale {scale:.3g})")
    translation = centres_g.mean(0) - scale * rotation @ centres_p.mean(0)
    out = apply_similarity_to(rec, similarity_matrix(scale, rotation, translation))
    if len(frames) >= 2:
        out.scale_source = "poses"
    out.metadata["known_poses"] = frames
    return out


def _scaled(rec: Reconstruction, factor: float, source: ScaleSource, what: str) -> Reconstruction:
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"{what}: the reconstruction gives no usable scale there (factor {factor!r})")
    out = apply_similarity_to(rec, similarity_matrix(factor, np.eye(3), np.zeros(3)))
    out.scale_source = source
    return out


def scale_by_distance(
    rec: Reconstruction, frame: int, pixel_a: tuple[float, float], pixel_b: tuple[float, float], distance: float
) -> Reconstruction:
    """A copy of ``rec`` scaled (about the world origin) so that the points of two ORIGINAL pixels ``(x, y)``
    of ``frame`` are ``distance`` apart."""
    i = _check_frame(frame, len(rec), "frame")
    if not (isinstance(distance, (int, float)) and math.isfinite(distance) and distance > 0):
        raise ValueError(f"distance: expected a positive finite number, got {distance!r}")
    xy = np.asarray([pixel_a, pixel_b], dtype=np.float64)
    if xy.shape != (2, 2) or not np.isfinite(xy).all():
        raise ValueError(f"pixel_a, pixel_b: expected two (x, y) pixels, got {pixel_a!r} and {pixel_b!r}")
    model_xy = rec.to_model(xy, i)
    height, width = rec.image_size
    inside = (model_xy >= 0).all(1) & (model_xy[:, 0] <= width - 1) & (model_xy[:, 1] <= height - 1)
    if not inside.all():
        raise ValueError(f"pixel_a, pixel_b: outside the part of photo {i} the model saw, got {xy.tolist()}")
    points = bilinear_sample(rec.points_from_depth[i].astype(np.float64), model_xy)
    measured = float(np.linalg.norm(points[0] - points[1]))
    return _scaled(rec, distance / measured, "distance", "pixel_a, pixel_b")


def scale_by_depth(rec: Reconstruction, frame: int, depth: float | np.ndarray) -> Reconstruction:
    """A copy of ``rec`` scaled to a metric depth of ``frame``: a value (its median depth over valid pixels)
    or a map ``[h, w]`` at the ORIGINAL resolution (pixels <= 0 or non-finite are ignored; median ratio)."""
    i = _check_frame(frame, len(rec), "frame")
    valid = rec.mask()[i]
    if np.ndim(depth) == 0:
        value = float(depth)  # type: ignore[arg-type]
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"depth: expected a positive finite metric depth, got {depth!r}")
        return _scaled(rec, value / float(np.median(rec.depth[i][valid])), "depth", "depth")
    metric = np.asarray(depth, dtype=np.float64)
    width, height = (int(v) for v in rec.original_sizes[i])
    if metric.shape != (height, width):
        raise ValueError(f"depth: expected a map of the original photo's size [{height}, {width}], got {list(metric.shape)}")
    predicted = rec.depth_original(i).astype(np.float64)
    usable = np.isfinite(metric) & (metric > 0) & np.isfinite(predicted) & (predicted > MIN_DEPTH)
    if not usable.any():
        raise ValueError("depth: no pixel has both a positive metric depth and a predicted depth")
    return _scaled(rec, float(np.median(metric[usable] / predicted[usable])), "depth", "depth")
