"""The multi-view toolkit shared by the consistency checks and the refinement.

A :class:`Scene` is a reconstruction's arrays prepared for multi-view work (float64 cameras, depth with NaN
where invalid, confidence weights); around it sit the operations both :mod:`~vggt_py.inference.consistency`
and :mod:`~vggt_py.inference.refine` use: projecting and unprojecting frames, aligning the point-head map
onto the cameras' frame (:func:`align_point_map`), correspondences from the point map
(:func:`point_map_tracks`) or the track head (:func:`head_tracks`), and a PnP pose per frame (:func:`pnp_pose`).
Pixel coordinates are model pixels, integer = pixel centre (docs/architecture.md, Conventions).

This module reads reconstructions through :class:`ReconstructionLike` (the attributes it uses), so it never
imports :mod:`~vggt_py.inference.reconstruction` and the import graph stays acyclic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch

from vggt_py.geometry import apply_similarity, project_points, umeyama, unproject_depth
from vggt_py.geometry.pixels import MIN_DEPTH, bilinear_sample, inside_image
from vggt_py.inference.pycolmap_support import import_pycolmap

__all__ = [
    "ALIGN_MAX_POINTS",
    "INLIER_FLOOR",
    "MIN_PNP_POINTS",
    "ReconstructionLike",
    "Scene",
    "Similarity",
    "Tracks",
    "align_point_map",
    "aligned_head",
    "as_tensor64",
    "check_frames",
    "check_reconstruction",
    "fit_head_alignment",
    "frame_points",
    "head_tracks",
    "import_pycolmap",
    "json_value",
    "pnp_pose",
    "point_map_tracks",
    "prepare_scene",
    "project",
    "sample_pixels",
    "scene_point_map_tracks",
    "weighted_median",
]


@runtime_checkable
class ReconstructionLike(Protocol):
    """What the multi-view code reads from a :class:`~vggt_py.inference.reconstruction.Reconstruction`."""

    extrinsics: np.ndarray  # [S, 3, 4]
    intrinsics: np.ndarray  # [S, 3, 3]
    depth: np.ndarray  # [S, H, W]
    depth_conf: np.ndarray  # [S, H, W]
    valid_regions: np.ndarray  # [S, 4]
    points_from_head: np.ndarray | None  # [S, H, W, 3]
    points_conf: np.ndarray | None  # [S, H, W]
    tracks: np.ndarray | None  # [S, N, 2]
    track_visibility: np.ndarray | None  # [S, N]
    names: list[str]

    @property
    def image_size(self) -> tuple[int, int]: ...  # (H, W)

    def content_mask(self) -> np.ndarray: ...  # [S, H, W] bool


MIN_PNP_POINTS = 6

ALIGN_MAX_POINTS = 100_000

INLIER_FLOOR = 0.25  # alignment inliers: error below max(3 x median, this x point_error)


class Similarity(NamedTuple):
    """``x -> scale * rotation @ x + translation`` (float64)."""

    scale: float
    rotation: np.ndarray  # [3, 3]
    translation: np.ndarray  # [3]

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform points ``[..., 3]``; keeps their dtype."""
        flat = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3))
        out = apply_similarity(
            flat,
            torch.tensor(self.scale, dtype=torch.float64),
            torch.from_numpy(np.asarray(self.rotation, dtype=np.float64)),
            torch.from_numpy(np.asarray(self.translation, dtype=np.float64)),
        )
        return out.numpy().reshape(points.shape).astype(points.dtype, copy=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": float(self.scale),
            "rotation": self.rotation.tolist(),
            "translation": self.translation.tolist(),
        }


class Tracks(NamedTuple):
    """Multi-view correspondences: track ``n`` is seen at ``xy[n, i]`` in frame ``i`` where ``visible[n, i]``."""

    xy: np.ndarray  # [N, S, 2] float64 model pixels (x, y)
    visible: np.ndarray  # [N, S] bool
    query_frame: np.ndarray  # [N] int64, the frame each track was started from

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    @staticmethod
    def concatenate(parts: Sequence[Tracks]) -> Tracks:
        return Tracks(
            np.concatenate([p.xy for p in parts]),
            np.concatenate([p.visible for p in parts]),
            np.concatenate([p.query_frame for p in parts]),
        )


def json_value(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _expect_shape(name: str, value: np.ndarray | None, shape: tuple[int, ...]) -> None:
    if value is None:
        return
    if not isinstance(value, np.ndarray) or value.shape != shape:
        got = type(value).__name__ if not isinstance(value, np.ndarray) else list(value.shape)
        raise ValueError(f"Reconstruction.{name}: expected shape {list(shape)}, got {got}")


def check_reconstruction(rec: object) -> ReconstructionLike:
    """Validate the arrays this module reads (shapes must agree); returns ``rec``."""
    if not isinstance(rec, ReconstructionLike):
        raise TypeError(f"expected a Reconstruction, got {type(rec).__name__}")
    if not isinstance(rec.depth, np.ndarray) or rec.depth.ndim != 3:
        raise ValueError(f"Reconstruction.depth: expected shape [S, H, W], got {getattr(rec.depth, 'shape', None)}")
    frames, height, width = rec.depth.shape
    if frames == 0:
        raise ValueError("Reconstruction: expected at least one frame, got 0")
    _expect_shape("extrinsics", rec.extrinsics, (frames, 3, 4))
    _expect_shape("intrinsics", rec.intrinsics, (frames, 3, 3))
    _expect_shape("depth_conf", rec.depth_conf, (frames, height, width))
    _expect_shape("valid_regions", rec.valid_regions, (frames, 4))
    _expect_shape("points_from_head", rec.points_from_head, (frames, height, width, 3))
    _expect_shape("points_conf", rec.points_conf, (frames, height, width))
    if rec.tracks is not None:
        if rec.tracks.ndim != 3 or rec.tracks.shape[0] != frames or rec.tracks.shape[2] != 2:
            raise ValueError(f"Reconstruction.tracks: expected shape [{frames}, N, 2], got {list(rec.tracks.shape)}")
        _expect_shape("track_visibility", rec.track_visibility, rec.tracks.shape[:2])
    if len(rec.names) != frames:
        raise ValueError(f"Reconstruction.names: expected {frames} names, got {len(rec.names)}")
    return rec


@dataclass(frozen=True)
class Scene:
    """float64 cameras and masked maps of a reconstruction (internal)."""

    extrinsics: np.ndarray  # [S, 3, 4]
    intrinsics: np.ndarray  # [S, 3, 3]
    depth: np.ndarray  # [S, H, W] float32, NaN where invalid
    valid: np.ndarray  # [S, H, W] bool: real content and positive finite depth
    head: np.ndarray | None  # [S, H, W, 3] float32 point-head map, NaN where invalid
    head_valid: np.ndarray | None  # [S, H, W] bool
    weights: np.ndarray  # [S, H, W] float64 confidence used as weight

    @property
    def num_frames(self) -> int:
        return int(self.depth.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.depth.shape[1]), int(self.depth.shape[2])


def prepare_scene(rec: ReconstructionLike) -> Scene:
    check_reconstruction(rec)
    depth = np.asarray(rec.depth, dtype=np.float32)
    valid = rec.content_mask() & np.isfinite(depth) & (depth > MIN_DEPTH)
    depth = np.where(valid, depth, np.float32(np.nan))
    weights = np.asarray(rec.depth_conf, dtype=np.float64)
    head = head_valid = None
    if rec.points_from_head is not None:
        head_valid = valid & np.isfinite(rec.points_from_head).all(axis=-1)
        head = np.where(head_valid[..., None], rec.points_from_head.astype(np.float32), np.float32(np.nan))
        if rec.points_conf is not None:
            weights = np.sqrt(weights * np.asarray(rec.points_conf, dtype=np.float64))  # geometric mean
    weights = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
    return Scene(
        extrinsics=np.asarray(rec.extrinsics, dtype=np.float64),
        intrinsics=np.asarray(rec.intrinsics, dtype=np.float64),
        depth=depth,
        valid=valid,
        head=head,
        head_valid=head_valid,
        weights=weights,
    )


def as_tensor64(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


def project(points: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``[N, 2]`` and camera depths ``[N]`` of world points ``[N, 3]`` (NaN points give NaN depth)."""
    uv, z = project_points(as_tensor64(points), as_tensor64(intrinsics), as_tensor64(extrinsics))
    return uv.numpy(), z.numpy()


def frame_points(scene: Scene, index: int, extrinsics: np.ndarray | None = None) -> np.ndarray:
    """World points ``[H, W, 3]`` (float64) of frame ``index``'s depth, NaN where invalid."""
    extrinsic = scene.extrinsics[index] if extrinsics is None else extrinsics[index]
    points = unproject_depth(
        as_tensor64(scene.depth[index]), as_tensor64(scene.intrinsics[index]), as_tensor64(extrinsic)
    )
    return points.numpy()


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    keep = np.isfinite(values) & (weights > 0)
    if not keep.any():
        return math.nan
    values, weights = values[keep], weights[keep]
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def sample_pixels(
    mask: np.ndarray, conf: np.ndarray | None, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` random pixels ``(rows, cols)`` of ``mask``, among its more confident half."""
    rows, cols = np.nonzero(mask)
    if conf is not None and rows.size:
        values = conf[rows, cols]
        keep = values >= np.median(values)
        rows, cols = rows[keep], cols[keep]
    if rows.size > count:
        chosen = np.sort(rng.choice(rows.size, size=count, replace=False))
        rows, cols = rows[chosen], cols[chosen]
    return rows, cols


def fit_head_alignment(
    scene: Scene,
    rng: np.random.Generator,
    inlier_floor: float,
    max_points: int = ALIGN_MAX_POINTS,
    trim: float = 3.0,
    iterations: int = 3,
) -> Similarity | None:
    """Confidence-weighted Umeyama from head points to depth points, refitted on the inliers."""
    if scene.head is None or scene.head_valid is None:
        return None
    frames, rows, cols = np.nonzero(scene.head_valid)
    if frames.size < 3:
        return None
    if frames.size > max_points:
        chosen = rng.choice(frames.size, size=max_points, replace=False)
        frames, rows, cols = frames[chosen], rows[chosen], cols[chosen]
    src = scene.head[frames, rows, cols].astype(np.float64)
    dst = np.empty_like(src)
    for i in np.unique(frames):
        sel = frames == i
        dst[sel] = frame_points(scene, int(i))[rows[sel], cols[sel]]
    depth = scene.depth[frames, rows, cols].astype(np.float64)
    weights = scene.weights[frames, rows, cols]
    inlier = np.ones(src.shape[0], dtype=bool)
    similarity = None
    for _ in range(iterations):
        w = weights * inlier
        if np.count_nonzero(w) < 3:
            break
        scale, rotation, translation = umeyama(as_tensor64(src), as_tensor64(dst), as_tensor64(w))
        similarity = Similarity(float(scale), rotation.numpy(), translation.numpy())
        if not (math.isfinite(similarity.scale) and similarity.scale > 0):
            return None
        relative = np.linalg.norm(dst - similarity.apply(src), axis=-1) / depth
        inlier = relative <= max(trim * weighted_median(relative, weights), inlier_floor)
    return similarity


def align_point_map(rec: ReconstructionLike, *, inlier_floor: float = 0.025, seed: int = 0) -> Similarity:
    """The similarity that maps the point-head map onto the depth points of the predicted cameras.

    Confidence-weighted Umeyama over (up to 100k sampled) pixels of all frames, refitted twice on the
    points whose error is below ``max(3 x median, inlier_floor)`` (relative to depth).
    """
    scene = prepare_scene(rec)
    if scene.head is None:
        raise ValueError("this reconstruction has no point-head map (points_from_head is None)")
    similarity = fit_head_alignment(scene, np.random.default_rng(seed), inlier_floor)
    if similarity is None:
        raise ValueError("cannot align the point map: fewer than 3 valid points or a degenerate fit")
    return similarity


def aligned_head(scene: Scene, similarity: Similarity) -> np.ndarray:
    """``[S, H, W, 3]`` float32: the point-head map in the cameras' frame (one frame at a time)."""
    assert scene.head is not None
    return np.stack([similarity.apply(frame) for frame in scene.head])


def head_tracks(rec: ReconstructionLike, min_visibility: float = 0.5) -> Tracks | None:
    """The track head's tracks as :class:`Tracks` (``None`` without tracks); visibility >= ``min_visibility``."""
    check_reconstruction(rec)
    if rec.tracks is None:
        return None
    xy = np.transpose(np.asarray(rec.tracks, dtype=np.float64), (1, 0, 2))  # [N, S, 2]
    visible = np.isfinite(xy).all(-1) & inside_image(xy, rec.image_size)
    if rec.track_visibility is not None:
        visible &= np.asarray(rec.track_visibility).T >= min_visibility
    return Tracks(xy, visible, np.zeros(xy.shape[0], dtype=np.int64))


def _match_in_point_map(
    targets: np.ndarray,
    point_map: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    depth_tolerance: float,
    match_px: float,
    iterations: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``[N, 2]`` of ``point_map [H, W, 3]`` whose point is ``targets [N, 3]``, and a keep mask ``[N]``.

    Starts at the projection with the given camera, then Gauss-Newton steps on the bilinearly
    interpolated map minimise ``|point_map(q) - target|``. A match is kept when the found point and the
    target project within ``match_px`` of each other and their depths differ by at most
    ``depth_tolerance`` (relative): the target is then visible at ``q`` (not occluded, not off the surface).
    """
    height, width = point_map.shape[:2]
    upper = np.array([width - 1, height - 1], dtype=np.float64)
    start, z = project(targets, intrinsics, extrinsics)
    alive = np.isfinite(z) & (z > 0) & np.isfinite(start).all(-1)
    q = np.clip(np.where(alive[:, None], start, 0.0), 0, upper)
    max_step = 0.25 * max(height, width)
    for _ in range(iterations):
        current = bilinear_sample(point_map, q)
        jacobian = np.empty((q.shape[0], 3, 2))
        for axis in range(2):
            offset = np.zeros(2)
            offset[axis] = 1.0
            forward, backward = np.clip(q + offset, 0, upper), np.clip(q - offset, 0, upper)
            span = np.maximum(forward[:, axis] - backward[:, axis], 1e-9)[:, None]
            jacobian[:, :, axis] = (bilinear_sample(point_map, forward) - bilinear_sample(point_map, backward)) / span
        normal = np.einsum("nki,nkj->nij", jacobian, jacobian)
        normal += 1e-12 * np.trace(normal, axis1=1, axis2=2)[:, None, None] * np.eye(2)
        rhs = np.einsum("nki,nk->ni", jacobian, targets - current)
        ok = alive & np.isfinite(normal).all((1, 2)) & np.isfinite(rhs).all(-1)
        det = np.zeros(len(ok))
        det[ok] = np.linalg.det(normal[ok])  # only where finite: walking into padding (NaN points) is no error
        ok &= np.abs(det) > 0
        step = np.zeros_like(q)
        if ok.any():
            step[ok] = np.linalg.solve(normal[ok], rhs[ok][..., None])[..., 0]
        norm = np.linalg.norm(step, axis=-1, keepdims=True)
        step *= np.minimum(1.0, max_step / np.maximum(norm, 1e-12))
        q = np.clip(q + step, 0, upper)
        alive &= ok
    found = bilinear_sample(point_map, q)
    uv_found, z_found = project(found, intrinsics, extrinsics)
    uv_target, z_target = start, z
    interior = (q > 0).all(-1) & (q < upper).all(-1)  # on the border: clamped, the target is outside
    with np.errstate(invalid="ignore"):
        keep = (
            alive
            & interior
            & np.isfinite(z_found)
            & (z_found > 0)
            & (np.abs(z_target - z_found) <= depth_tolerance * z_found)
            & (np.linalg.norm(uv_found - uv_target, axis=-1) <= match_px)
        )
    return q, keep


def scene_point_map_tracks(
    scene: Scene,
    aligned: np.ndarray,
    query_frames: Iterable[int],
    targets: Mapping[int, Sequence[int]] | None,
    points_per_frame: int,
    depth_tolerance: float,
    match_px: float,
    rng: np.random.Generator,
) -> Tracks:
    assert scene.head_valid is not None
    frames = scene.num_frames
    parts: list[Tracks] = []
    for i in query_frames:
        rows, cols = sample_pixels(scene.head_valid[i], scene.weights[i], points_per_frame, rng)
        n = rows.size
        xy = np.full((n, frames, 2), np.nan)
        visible = np.zeros((n, frames), dtype=bool)
        xy[:, i] = np.stack((cols, rows), axis=-1)
        visible[:, i] = True
        points = aligned[i, rows, cols].astype(np.float64)
        for j in targets[i] if targets is not None else range(frames):
            if j == i or n == 0:
                continue
            q, keep = _match_in_point_map(
                points, aligned[j], scene.intrinsics[j], scene.extrinsics[j], depth_tolerance, match_px
            )
            xy[:, j] = np.where(keep[:, None], q, np.nan)
            visible[:, j] = keep
        parts.append(Tracks(xy, visible, np.full(n, i, dtype=np.int64)))
    if not parts:
        return Tracks(np.zeros((0, frames, 2)), np.zeros((0, frames), dtype=bool), np.zeros(0, dtype=np.int64))
    return Tracks.concatenate(parts)


def point_map_tracks(
    rec: ReconstructionLike,
    *,
    query_frames: Sequence[int] | None = None,
    points_per_frame: int = 512,
    depth_tolerance: float = 0.05,
    match_px: float = 0.5,
    alignment: Similarity | None = None,
    seed: int = 0,
) -> Tracks:
    """Correspondences from the point-head map alone: the cameras only give the search's starting point.

    In each query frame (default: all), up to ``points_per_frame`` pixels are sampled among the more
    confident half of its valid pixels. Each pixel's point-map point is looked up in every other frame's
    point map (projection with the predicted camera, then Gauss-Newton on the map) and kept where both
    points coincide: within ``match_px`` pixels across the ray and ``depth_tolerance`` (relative) along it.
    ``alignment`` (default: :func:`align_point_map`) maps the head's frame onto the cameras' frame.
    """
    scene = prepare_scene(rec)
    if scene.head is None:
        raise ValueError("point-map tracks need the point-head map (points_from_head is None)")
    if points_per_frame < 1:
        raise ValueError(f"points_per_frame: expected a positive int, got {points_per_frame}")
    queries = check_frames(query_frames, scene.num_frames)
    rng = np.random.default_rng(seed)
    similarity = alignment if alignment is not None else align_point_map(rec, seed=seed)
    aligned = aligned_head(scene, similarity)
    return scene_point_map_tracks(scene, aligned, queries, None, points_per_frame, depth_tolerance, match_px, rng)


def check_frames(frames: Sequence[int] | None, num_frames: int) -> list[int]:
    if frames is None:
        return list(range(num_frames))
    out = [int(i) for i in frames]
    bad = [i for i in out if not 0 <= i < num_frames]
    if bad or not out:
        raise ValueError(
            f"query_frames: expected a non-empty list of frame indices in [0, {num_frames}), got {list(frames)}"
        )
    return list(dict.fromkeys(out))


def pnp_pose(
    pycolmap: ModuleType,
    points2d: np.ndarray,
    points3d: np.ndarray,
    intrinsics: np.ndarray,
    size: tuple[int, int],
    max_error: float,
    seed: int,
    max_trials: int | None = None,
) -> tuple[np.ndarray | None, int]:
    """Camera-from-world ``[3, 4]`` (or None) and the inlier count, from model pixels and world points.

    ``max_trials`` bounds the RANSAC iterations (pycolmap's default when None).
    """
    if points2d.shape[0] < MIN_PNP_POINTS:
        return None, 0
    height, width = size
    camera = pycolmap.Camera(
        model="PINHOLE",
        width=width,
        height=height,
        params=[intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2] + 0.5, intrinsics[1, 2] + 0.5],
    )
    options = pycolmap.AbsolutePoseEstimationOptions()
    options.ransac.max_error = max_error
    options.ransac.random_seed = seed
    if max_trials is not None:
        options.ransac.max_num_trials = max_trials
    result = pycolmap.estimate_and_refine_absolute_pose(points2d + 0.5, points3d, camera, options)
    if result is None:
        return None, 0
    return np.asarray(result["cam_from_world"].matrix(), dtype=np.float64), int(result["num_inliers"])
