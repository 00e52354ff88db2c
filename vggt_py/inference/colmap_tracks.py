"""Multi-view points for the COLMAP export: tracks from the model's own correspondences, with real errors.

A COLMAP model whose every point is seen by one image gives splat trainers and bundle adjusters nothing
to check a camera against. :func:`build_tracks` builds points seen by several images instead, from the
same correspondences the refinement uses (:mod:`~vggt_py.inference.multiview`):

1. **Correspondences.** Pixels sampled in every frame (up to 32 query frames spread over the sequence;
   among the more confident half of the pixels the export's confidence filter and mask keep) are looked
   up in every other frame's point-head map (:func:`~vggt_py.inference.multiview.scene_point_map_tracks`:
   kept where the two maps' points coincide, within ``depth_tolerance`` along the ray and ``match_px``
   across it), plus the track head's tracks when the reconstruction has them.
2. **Points.** Each track's point is the model's point at its query pixel: the depth map unprojected
   with the predicted cameras (the dense export's points), so the sparse and the dense clouds agree.
3. **Filtering.** Each observation's reprojection error is measured in the ORIGINAL image's pixels with
   the exported cameras; observations further than ``max_reprojection_error`` are dropped, then points
   with fewer than ``min_observations`` observations.

The query observation of a track is exact by construction (its point is the depth point of that pixel);
the other observations carry the disagreement between the cameras, the depth and the point map, which is
what COLMAP stores as the point's error (:meth:`SparseTracks.errors`).

After bundle adjustment (:func:`~vggt_py.inference.refine.refine`) :func:`tracks_from_refinement` takes the
adjusted tracks instead: points triangulated by the adjustment, with the observations it used, filtered
the same way against the refined cameras.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vggt_py.geometry.pixels import bilinear_sample, intrinsics_to_original, model_to_original
from vggt_py.inference.consistency_report import ConsistencyThresholds
from vggt_py.inference.multiview import (
    INLIER_FLOOR,
    Tracks,
    aligned_head,
    fit_head_alignment,
    frame_points,
    head_tracks,
    prepare_scene,
    project,
    scene_point_map_tracks,
)
from vggt_py.inference.reconstruction import Reconstruction
from vggt_py.inference.selection import apply_user_mask, check_exportable

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pycolmap

__all__ = [
    "MAX_QUERY_FRAMES",
    "SparseTracks",
    "build_tracks",
    "filter_tracks",
    "moved_with",
    "tracks_from_refinement",
]

MAX_QUERY_FRAMES = 32


@dataclass(frozen=True)
class SparseTracks:
    """Points seen by several frames: observation ``k`` sees point ``point[k]`` in frame ``frame[k]`` at ``xy[k]``.

    ``xy`` are model pixels (integer = pixel centre); the COLMAP export maps them to the original images.
    """

    xyz: np.ndarray  # [P, 3] float64 world points
    rgb: np.ndarray  # [P, 3] uint8
    point: np.ndarray  # [K] int64, index into xyz
    frame: np.ndarray  # [K] int64
    xy: np.ndarray  # [K, 2] float64 model pixels
    source: str  # where the tracks come from: "point_map", "tracks", "point_map+tracks" or "refined"

    def __post_init__(self) -> None:
        k = self.point.shape[0]
        if self.xyz.shape != (self.rgb.shape[0], 3) or self.frame.shape != (k,) or self.xy.shape != (k, 2):
            raise ValueError(
                f"SparseTracks: inconsistent shapes xyz {self.xyz.shape}, rgb {self.rgb.shape}, "
                f"point {self.point.shape}, frame {self.frame.shape}, xy {self.xy.shape}"
            )

    @property
    def num_points(self) -> int:
        return int(self.xyz.shape[0])

    @property
    def num_observations(self) -> int:
        return int(self.point.shape[0])

    @property
    def observations_per_point(self) -> float:
        return self.num_observations / self.num_points if self.num_points else 0.0

    def errors(self, rec: Reconstruction) -> np.ndarray:
        """``[K]`` reprojection error of each observation in original pixels, with ``rec``'s cameras (inf behind)."""
        return _observation_errors(rec, self.xyz[self.point], self.frame, self.xy)

    def summary(self, rec: Reconstruction) -> dict[str, Any]:
        """Counts and errors (original pixels) as a JSON-able dict.

        ``mean_reprojection_error`` is COLMAP's: the mean over points of each point's mean error (what
        ``pycolmap.Reconstruction.compute_mean_reprojection_error`` gives on the written model);
        ``median_observation_error`` is the median over all observations.
        """
        errors = self.errors(rec)
        finite = np.isfinite(errors)
        per_point = np.bincount(self.point[finite], weights=errors[finite], minlength=self.num_points)
        counts = np.bincount(self.point[finite], minlength=self.num_points)
        seen = counts > 0
        return {
            "source": self.source,
            "points": self.num_points,
            "observations": self.num_observations,
            "observations_per_point": self.observations_per_point,
            "mean_reprojection_error": float((per_point[seen] / counts[seen]).mean()) if seen.any() else None,
            "median_observation_error": float(np.median(errors[finite])) if finite.any() else None,
        }


def _observation_errors(rec: Reconstruction, points: np.ndarray, frames: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Pixel distances in the original images between projections of ``points [K, 3]`` and observations ``xy``."""
    errors = np.full(points.shape[0], np.inf)
    k_orig = intrinsics_to_original(rec.transforms, rec.intrinsics)
    for i in np.unique(frames):
        sel = np.flatnonzero(frames == i)
        uv, z = project(points[sel], k_orig[i], np.asarray(rec.extrinsics[i], dtype=np.float64))
        observed = model_to_original(rec.transforms[i], xy[sel])
        with np.errstate(invalid="ignore"):
            distance = np.linalg.norm(uv - observed, axis=-1)
            errors[sel] = np.where((z > 0) & np.isfinite(distance), distance, np.inf)
    return errors


def filter_tracks(
    rec: Reconstruction, tracks: SparseTracks, max_reprojection_error: float | None, min_observations: int = 2
) -> SparseTracks:
    """``tracks`` without the observations further than ``max_reprojection_error`` original pixels from their
    point's projection (``None``: only those behind a camera), then without points seen fewer than
    ``min_observations`` times; points are renumbered."""
    _check_filter(max_reprojection_error, min_observations)
    errors = tracks.errors(rec)
    keep = np.isfinite(errors)
    if max_reprojection_error is not None:
        keep &= errors <= max_reprojection_error
    # one observation per (point, frame): the closest one
    order = np.lexsort((errors, tracks.frame, tracks.point))
    first = np.ones(order.size, dtype=bool)
    first[1:] = (np.diff(tracks.point[order]) != 0) | (np.diff(tracks.frame[order]) != 0)
    unique = np.zeros(order.size, dtype=bool)
    unique[order[first]] = True
    keep &= unique
    counts = np.bincount(tracks.point[keep], minlength=tracks.num_points)
    alive = counts >= min_observations
    keep &= alive[tracks.point]
    renumber = np.cumsum(alive) - 1
    return SparseTracks(
        xyz=tracks.xyz[alive],
        rgb=tracks.rgb[alive],
        point=renumber[tracks.point[keep]].astype(np.int64),
        frame=tracks.frame[keep],
        xy=tracks.xy[keep],
        source=tracks.source,
    )


def _check_filter(max_reprojection_error: float | None, min_observations: int) -> None:
    if max_reprojection_error is not None and not (
        isinstance(max_reprojection_error, (int, float)) and math.isfinite(max_reprojection_error)
        and max_reprojection_error > 0
    ):
        raise ValueError(f"max_reprojection_error must be None or a positive number, got {max_reprojection_error!r}")
    if isinstance(min_observations, bool) or not isinstance(min_observations, int) or min_observations < 1:
        raise ValueError(f"min_observations must be an integer >= 1, got {min_observations!r}")


def _query_frames(num_frames: int) -> list[int]:
    count = min(num_frames, MAX_QUERY_FRAMES)
    return np.unique(np.rint(np.linspace(0, num_frames - 1, count)).astype(np.int64)).tolist()


def _correspondences(
    rec: Reconstruction,
    keep: np.ndarray | None,
    points_per_frame: int,
    depth_tolerance: float,
    match_px: float,
    seed: int,
) -> tuple[Tracks | None, str, str | None]:
    """The model's correspondences, where they come from, and why there are none."""
    scene = prepare_scene(rec)
    parts: list[Tracks] = []
    names: list[str] = []
    why = "no point-head map and no track-head tracks in this reconstruction"
    if scene.head is not None:
        rng = np.random.default_rng(seed)
        similarity = fit_head_alignment(scene, rng, INLIER_FLOOR * ConsistencyThresholds().point_error)
        if similarity is None:
            why = "the point-head map could not be aligned to the cameras"
        else:
            aligned = aligned_head(scene, similarity)
            sampling = scene
            if keep is not None:  # start tracks only at pixels the export keeps
                assert scene.head_valid is not None
                sampling = dataclasses.replace(scene, head_valid=scene.head_valid & keep)
            with np.errstate(invalid="ignore"):  # NaN maps (invalid pixels) are expected in the matching
                tracks = scene_point_map_tracks(
                    sampling, aligned, _query_frames(scene.num_frames), None, points_per_frame, depth_tolerance,
                    match_px, rng,
                )
            parts.append(tracks)
            names.append("point_map")
    from_head = head_tracks(rec)
    if from_head is not None:
        parts.append(from_head)
        names.append("tracks")
    if not parts:
        return None, "", why
    return Tracks.concatenate(parts), "+".join(names), None


def build_tracks(
    rec: Reconstruction,
    *,
    conf_threshold: float | None = None,
    conf_percentile: float | None = None,
    mask: np.ndarray | None = None,
    points_per_frame: int = 2048,
    depth_tolerance: float = 0.05,
    match_px: float = 0.5,
    max_reprojection_error: float | None = 4.0,
    min_observations: int = 2,
    seed: int = 0,
) -> SparseTracks:
    """Multi-view points from the model's correspondences (module docstring), filtered by reprojection error.

    Args:
        conf_threshold, conf_percentile, mask: the export's filters (as :func:`select_points`): tracks
            start only at kept pixels.
        points_per_frame: pixels sampled per query frame.
        depth_tolerance, match_px: the point-map matching test.
        max_reprojection_error: original pixels; observations further from their point's projection
            are dropped (``None``: keep all in front of the camera).
        min_observations: points seen fewer times are dropped (2: multi-view points only).

    Raises:
        ValueError: bad arguments, fewer than 2 frames, or no correspondences (the message says why).
    """
    check_exportable(rec)
    _check_filter(max_reprojection_error, min_observations)
    if isinstance(points_per_frame, bool) or not isinstance(points_per_frame, int) or points_per_frame < 1:
        raise ValueError(f"points_per_frame must be a positive integer, got {points_per_frame!r}")
    if len(rec) < 2:
        raise ValueError(f"multi-view tracks need at least 2 frames, got {len(rec)}")
    keep = rec.mask(conf_threshold, conf_percentile)
    keep = apply_user_mask(keep, mask)
    tracks, source, why = _correspondences(rec, keep, points_per_frame, depth_tolerance, match_px, seed)
    if tracks is None:
        raise ValueError(f"no correspondences to build multi-view tracks from: {why}")
    scene = prepare_scene(rec)
    points = np.full((len(tracks), 3), np.nan)
    xy_query = tracks.xy[np.arange(len(tracks)), tracks.query_frame]
    for f in np.unique(tracks.query_frame):
        sel = np.flatnonzero(tracks.query_frame == f)
        points[sel] = bilinear_sample(frame_points(scene, int(f)), np.nan_to_num(xy_query[sel]))
    alive = np.isfinite(points).all(-1) & np.isfinite(xy_query).all(-1)
    visible = tracks.visible & alive[:, None] & np.isfinite(tracks.xy).all(-1)
    rows, frames = np.nonzero(visible)
    colours = _colours(rec, tracks.query_frame, xy_query)
    raw = SparseTracks(
        xyz=points[alive],
        rgb=colours[alive],
        point=(np.cumsum(alive) - 1)[rows].astype(np.int64),
        frame=frames.astype(np.int64),
        xy=tracks.xy[rows, frames],
        source=source,
    )
    return filter_tracks(rec, raw, max_reprojection_error, min_observations)


def _colours(rec: Reconstruction, frames: np.ndarray, xy: np.ndarray) -> np.ndarray:
    height, width = rec.image_size
    cols = np.clip(np.rint(np.nan_to_num(xy[:, 0])), 0, width - 1).astype(np.int64)
    rows = np.clip(np.rint(np.nan_to_num(xy[:, 1])), 0, height - 1).astype(np.int64)
    return np.asarray(rec.colors[frames, rows, cols], dtype=np.uint8).reshape(-1, 3)


def tracks_from_refinement(
    rec: Reconstruction,
    model: pycolmap.Reconstruction,
    *,
    max_reprojection_error: float | None = 4.0,
    min_observations: int = 2,
) -> SparseTracks:
    """The adjusted tracks of a refinement (``RefineResult.colmap_model``, model pixels + 0.5, image id = frame + 1).

    ``rec`` is the refined reconstruction (``RefineResult.reconstruction``), whose cameras the points were
    adjusted with; the tracks are filtered against them as :func:`build_tracks` filters its own.
    """
    check_exportable(rec)
    xyz, rgb, point, frame, xy = [], [], [], [], []
    for p, (_, point3d) in enumerate(sorted(model.points3D.items())):
        xyz.append(np.asarray(point3d.xyz, dtype=np.float64))
        rgb.append(np.asarray(point3d.color, dtype=np.uint8))
        for element in point3d.track.elements:
            image = model.image(element.image_id)
            point.append(p)
            frame.append(int(element.image_id) - 1)
            xy.append(np.asarray(image.points2D[element.point2D_idx].xy, dtype=np.float64) - 0.5)
    bad = sorted({f for f in frame if not 0 <= f < len(rec)})
    if bad:
        raise ValueError(f"the refinement model has images {[f + 1 for f in bad]} beyond the {len(rec)} frames")
    raw = SparseTracks(
        xyz=np.asarray(xyz, dtype=np.float64).reshape(-1, 3),
        rgb=np.asarray(rgb, dtype=np.uint8).reshape(-1, 3),
        point=np.asarray(point, dtype=np.int64),
        frame=np.asarray(frame, dtype=np.int64),
        xy=np.asarray(xy, dtype=np.float64).reshape(-1, 2),
        source="refined",
    )
    return filter_tracks(rec, raw, max_reprojection_error, min_observations)


def moved_with(tracks: SparseTracks, before: Reconstruction, after: Reconstruction) -> SparseTracks:
    """``tracks`` of ``before`` in the world of ``after``, a copy of ``before`` moved by a similarity.

    Known poses and metric anchors (:mod:`~vggt_py.inference.anchors`) move a reconstruction's world;
    tracks built before that must move with it. The transform is measured, exactly, as the affine map
    from ``before``'s depth points to ``after``'s (least squares over up to 20,000 valid pixels).

    Raises:
        ValueError: the two reconstructions are not one moved by an affine map (different frames, or
            depth points that do not map onto each other).
    """
    if len(before) != len(after) or before.depth.shape != after.depth.shape:
        raise ValueError("moved_with: the reconstructions differ in their frames")
    if np.array_equal(before.extrinsics, after.extrinsics) and np.array_equal(before.depth, after.depth):
        return tracks
    src = before.points_from_depth.reshape(-1, 3).astype(np.float64)
    dst = after.points_from_depth.reshape(-1, 3).astype(np.float64)
    valid = np.flatnonzero(np.isfinite(src).all(-1) & np.isfinite(dst).all(-1) & (before.depth.reshape(-1) > 0))
    if valid.size < 4:
        raise ValueError("moved_with: fewer than 4 valid depth points to measure the transform on")
    if valid.size > 20_000:
        valid = np.random.default_rng(0).choice(valid, size=20_000, replace=False)
    design = np.c_[src[valid], np.ones(valid.size)]
    solution, *_ = np.linalg.lstsq(design, dst[valid], rcond=None)  # [4, 3]
    residual = np.abs(design @ solution - dst[valid]).max()
    if not residual <= 1e-3 * max(1.0, float(np.abs(dst[valid]).max())):
        raise ValueError(f"moved_with: the depth points do not map onto each other (residual {residual:.3g})")
    return dataclasses.replace(tracks, xyz=np.c_[tracks.xyz, np.ones(tracks.num_points)] @ solution)
