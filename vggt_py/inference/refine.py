"""Bundle-adjustment refinement of a reconstruction from its own predictions (pycolmap).

:func:`refine` builds multi-view tracks from the model's redundant outputs and adjusts the cameras to them:

1. **Tracks.** Point-map correspondences (:func:`~vggt_py.inference.consistency.point_map_tracks`): pixels
   sampled in a few query frames are looked up in every other frame's point-head map and kept where the
   two points coincide (depth-consistency test: within ``depth_tolerance`` along the ray and ``match_px``
   across it). They do not depend on the camera head, which is what lets BA correct it. The track head's
   tracks are used too when the reconstruction has them.
2. **Points.** Each track starts at the depth-derived 3-D point of its query pixel.
3. **Filtering.** Observations further than ``max_reprojection_error`` pixels from the initial projection
   are dropped, then tracks with fewer than 2 observations. A frame left with fewer than ``min_inliers``
   observations, or with less than half of its matches (its feed-forward camera is far off), is re-posed
   once by PnP + RANSAC on its matches to points started in other frames. A frame that still has too few
   observations is left out of the adjustment and keeps its feed-forward camera (upstream raises
   instead). With fewer than 2 usable frames nothing is adjusted: the feed-forward result is returned
   with the reasons.
4. **Bundle adjustment** with pycolmap over the usable frames: poses, points and focal lengths (the
   principal point stays fixed), a robust loss, one PINHOLE or SIMPLE_PINHOLE camera per frame or one
   shared camera. The first usable frame's pose fixes the gauge; the solution is then rescaled about that
   camera's centre so that the refined points' depths match the depth maps (median ratio), which keeps
   the depth maps and the refined cameras in one scale.

Everything happens in model-resolution pixels. COLMAP puts pixel centres at half-integers, so the pycolmap
model's keypoints and principal points are the model pixels plus 0.5.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import torch

from vggt_py.geometry import rotation_angle, unproject_depth
from vggt_py.geometry.pixels import bilinear_sample
from vggt_py.inference.colmap_export import colmap_camera_params
from vggt_py.inference.consistency_report import ConsistencyThresholds
from vggt_py.inference.multiview import (
    INLIER_FLOOR,
    Scene,
    Tracks,
    aligned_head,
    check_frames,
    fit_head_alignment,
    frame_points,
    head_tracks,
    import_pycolmap,
    pnp_pose,
    prepare_scene,
    project,
    scene_point_map_tracks,
)
from vggt_py.inference.reconstruction import Reconstruction
from vggt_py.inference.refine_report import FrameRefinement, RefineReport, RefineResult

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pycolmap

__all__ = ["CAMERA_MODELS", "FrameRefinement", "RefineReport", "RefineResult", "refine"]

CAMERA_MODELS: tuple[str, ...] = ("PINHOLE", "SIMPLE_PINHOLE")
TrackSource = Literal["auto", "point_map", "tracks"]
Loss = Literal["trivial", "soft_l1", "cauchy", "huber"]
_MAX_QUERY_FRAMES = 8
_REPOSE_FRACTION = 0.5  # a frame keeping less than this fraction of its matches is re-posed by PnP


# ---------------------------------------------------------------------------------------------
# Arguments


def _check_arguments(
    camera_model: str,
    track_source: str,
    loss: str,
    points_per_frame: int,
    depth_tolerance: float,
    match_px: float,
    max_reprojection_error: float | None,
    min_inliers: int,
    max_iterations: int,
) -> None:
    if camera_model not in CAMERA_MODELS:
        raise ValueError(f"camera_model: expected one of {CAMERA_MODELS}, got {camera_model!r}")
    if track_source not in ("auto", "point_map", "tracks"):
        raise ValueError(f"track_source: expected 'auto', 'point_map' or 'tracks', got {track_source!r}")
    if loss not in ("trivial", "soft_l1", "cauchy", "huber"):
        raise ValueError(f"loss: expected 'trivial', 'soft_l1', 'cauchy' or 'huber', got {loss!r}")
    for name, value in (("points_per_frame", points_per_frame), ("max_iterations", max_iterations)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")
    if isinstance(min_inliers, bool) or not isinstance(min_inliers, int) or min_inliers < 0:
        raise ValueError(f"min_inliers: expected a non-negative int, got {min_inliers!r}")
    for label, number in (("depth_tolerance", depth_tolerance), ("match_px", match_px)):
        if not (math.isfinite(number) and number > 0):
            raise ValueError(f"{label}: expected a positive number, got {number!r}")
    if max_reprojection_error is not None and not (
        math.isfinite(max_reprojection_error) and max_reprojection_error > 0
    ):
        raise ValueError(f"max_reprojection_error: expected a positive number or None, got {max_reprojection_error!r}")


def _default_query_frames(num_frames: int) -> list[int]:
    """Up to 8 frames spread evenly over the sequence, the first and the last included."""
    count = min(num_frames, _MAX_QUERY_FRAMES)
    return np.unique(np.rint(np.linspace(0, num_frames - 1, count)).astype(np.int64)).tolist()


# ---------------------------------------------------------------------------------------------
# Tracks, initial points, observation filtering


def _build_tracks(
    rec: Reconstruction,
    scene: Scene,
    track_source: TrackSource,
    query_frames: list[int],
    points_per_frame: int,
    depth_tolerance: float,
    match_px: float,
    min_visibility: float,
    seed: int,
) -> tuple[Tracks | None, str, str | None]:
    """Tracks, the name of their source(s), and why there are none (or None)."""
    parts: list[Tracks] = []
    names: list[str] = []
    if track_source in ("auto", "point_map") and scene.head is not None:
        rng = np.random.default_rng(seed)
        similarity = fit_head_alignment(scene, rng, INLIER_FLOOR * ConsistencyThresholds().point_error)
        if similarity is not None:
            aligned = aligned_head(scene, similarity)
            parts.append(
                scene_point_map_tracks(
                    scene, aligned, query_frames, None, points_per_frame, depth_tolerance, match_px, rng
                )
            )
            names.append("point_map")
    if track_source in ("auto", "tracks"):
        from_head = head_tracks(rec, min_visibility)
        if from_head is not None:
            parts.append(from_head)
            names.append("tracks")
    if parts:
        return Tracks.concatenate(parts), "+".join(names), None
    if track_source == "point_map":
        why = "no point-head map to match (or it could not be aligned to the cameras)"
    elif track_source == "tracks":
        why = "no track-head tracks in this reconstruction (pass query_points to reconstruct)"
    else:
        why = "no correspondences: needs the point-head map or track-head tracks"
    return None, track_source, why


def _initial_points(scene: Scene, tracks: Tracks, extrinsics: np.ndarray) -> np.ndarray:
    """``[N, 3]``: the depth-derived world point at each track's query pixel (NaN where invalid)."""
    points = np.full((len(tracks), 3), np.nan)
    for frame in np.unique(tracks.query_frame):
        sel = np.flatnonzero(tracks.query_frame == frame)
        xy = tracks.xy[sel, frame]
        points[sel] = bilinear_sample(frame_points(scene, int(frame), extrinsics), np.nan_to_num(xy))
        points[sel[~np.isfinite(xy).all(-1)]] = np.nan
    return points


def _reprojection_errors(
    points: np.ndarray, xy: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray
) -> np.ndarray:
    """``[N, S]`` pixel distances between each point's projection and its observation (inf behind)."""
    frames = intrinsics.shape[0]
    many = np.broadcast_to(points, (frames, *points.shape))
    uv, z = project(many, intrinsics, extrinsics)  # [S, N, 2], [S, N]
    errors = np.linalg.norm(np.transpose(uv, (1, 0, 2)) - xy, axis=-1)
    return np.where((z.T > 0) & np.isfinite(errors), errors, np.inf)


def _select_observations(
    visible: np.ndarray, errors: np.ndarray, max_error: float | None, min_inliers: int
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Kept observations ``[N, S]``, per-frame counts, and the frames left out (too few observations)."""
    keep = visible & np.isfinite(errors)
    if max_error is not None:
        keep &= errors <= max_error
    failed: set[int] = set()
    while True:
        keep &= (keep.sum(axis=1) >= 2)[:, None]
        counts = keep.sum(axis=0)
        newly = {int(i) for i in np.flatnonzero(counts < max(min_inliers, 1))} - failed
        if not newly:
            return keep, counts, sorted(failed)
        failed |= newly
        keep[:, sorted(failed)] = False


# ---------------------------------------------------------------------------------------------
# pycolmap model and bundle adjustment


def _build_model(
    pycolmap: ModuleType,
    rec: Reconstruction,
    scene: Scene,
    obs: _Observations,
    frames: list[int],
    setup: _Adjustment,
) -> tuple[pycolmap.Reconstruction, np.ndarray]:
    """The pycolmap model of ``frames`` (image id = frame + 1) and the point id of each track (-1: none)."""
    height, width = scene.size
    model = pycolmap.Reconstruction()
    camera_of: dict[int, int] = {}
    groups = [frames] if setup.shared_camera else [[i] for i in frames]
    for camera_id, group in enumerate(groups, start=1):
        params = colmap_camera_params(setup.camera_model, scene.intrinsics[group].mean(axis=0))
        camera = pycolmap.Camera(
            model=setup.camera_model, width=width, height=height, params=params, camera_id=camera_id
        )
        model.add_camera_with_trivial_rig(camera)
        camera_of.update({i: camera_id for i in group})
    point2d_index = np.full(obs.keep.shape, -1, dtype=np.int64)
    for i in frames:
        rows = np.flatnonzero(obs.keep[:, i])
        point2d_index[rows, i] = np.arange(rows.size)
        keypoints = obs.tracks.xy[rows, i] + 0.5  # COLMAP pixel centres
        image = pycolmap.Image(name=str(rec.names[i]), keypoints=keypoints, camera_id=camera_of[i], image_id=i + 1)
        model.add_image_with_trivial_frame(image, pycolmap.Rigid3d(obs.extrinsics[i]))
    point_ids = np.full(len(obs.tracks), -1, dtype=np.int64)
    colors = _track_colors(rec, obs.tracks)
    for n in np.flatnonzero(obs.keep.any(axis=1)):
        track = pycolmap.Track()
        for j in np.flatnonzero(obs.keep[n]):
            track.add_element(int(j) + 1, int(point2d_index[n, j]))
        point_ids[n] = model.add_point3D(obs.points[n], track, colors[n])
    return model, point_ids


def _track_colors(rec: Reconstruction, tracks: Tracks) -> np.ndarray:
    height, width = rec.image_size
    xy = tracks.xy[np.arange(len(tracks)), tracks.query_frame]
    cols = np.clip(np.rint(np.nan_to_num(xy[:, 0])), 0, width - 1).astype(np.int64)
    rows = np.clip(np.rint(np.nan_to_num(xy[:, 1])), 0, height - 1).astype(np.int64)
    return np.asarray(rec.colors[tracks.query_frame, rows, cols], dtype=np.uint8)


@dataclass(frozen=True)
class _Adjustment:
    """How the bundle adjustment is set up (internal)."""

    camera_model: str
    shared_camera: bool
    refine_focal_length: bool
    loss: Loss
    loss_scale: float
    max_iterations: int


class _Observations(NamedTuple):
    """Tracks with their initial points and the observations kept for the adjustment (internal)."""

    tracks: Tracks
    points: np.ndarray  # [N, 3] initial world points
    keep: np.ndarray  # [N, S] bool
    errors: np.ndarray  # [N, S] initial reprojection errors (pixels)
    extrinsics: np.ndarray  # [S, 3, 4] initial cameras (feed-forward, or re-posed by PnP)


def _bundle_adjust(pycolmap: ModuleType, model: pycolmap.Reconstruction, setup: _Adjustment) -> Any:
    options = pycolmap.BundleAdjustmentOptions()
    options.refine_focal_length = setup.refine_focal_length
    options.refine_principal_point = False
    options.refine_extra_params = False
    options.print_summary = False
    options.ceres.loss_function_type = getattr(pycolmap.LossFunctionType, setup.loss.upper())
    options.ceres.loss_function_scale = setup.loss_scale
    options.ceres.solver_options.max_num_iterations = setup.max_iterations
    config = pycolmap.BundleAdjustmentConfig()
    for image_id in sorted(model.reg_image_ids()):
        config.add_image(image_id)
    config.fix_gauge(pycolmap.BundleAdjustmentGauge.TWO_CAMS_FROM_WORLD)  # the first image's pose stays fixed
    return pycolmap.create_default_bundle_adjuster(options, config, model).solve()


def _solver_summary(summary: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"usable": bool(summary.is_solution_usable()), "num_residuals": int(summary.num_residuals)}
    out["termination"] = str(summary.termination_type).rsplit(".", 1)[-1]
    ceres_summary = getattr(summary, "ceres_summary", None)
    if ceres_summary is not None:
        out["initial_cost"] = float(ceres_summary.initial_cost)
        out["final_cost"] = float(ceres_summary.final_cost)
        out["iterations"] = int(ceres_summary.num_successful_steps + ceres_summary.num_unsuccessful_steps)
    return out


def _read_model(
    model: pycolmap.Reconstruction, frames: list[int], point_ids: np.ndarray, camera_model: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poses ``[F, 3, 4]``, model-pixel intrinsics ``[F, 3, 3]`` of ``frames`` and track points ``[N, 3]``."""
    poses, intrinsics = [], []
    for i in frames:
        image = model.image(i + 1)
        poses.append(np.asarray(image.cam_from_world().matrix(), dtype=np.float64))
        params = np.asarray(model.camera(image.camera_id).params, dtype=np.float64)
        fx, fy, cx, cy = (params[0], params[0], params[1], params[2]) if camera_model == "SIMPLE_PINHOLE" else params
        intrinsics.append(np.array([[fx, 0.0, cx - 0.5], [0.0, fy, cy - 0.5], [0.0, 0.0, 1.0]]))
    points = np.full((point_ids.size, 3), np.nan)
    for n in np.flatnonzero(point_ids >= 0):
        points[n] = model.point3D(int(point_ids[n])).xyz
    return np.stack(poses), np.stack(intrinsics), points


def _depth_scale(scene: Scene, tracks: Tracks, points: np.ndarray, extrinsics: np.ndarray, usable: list[int]) -> float:
    """Median over tracks of (depth map at the query pixel) / (adjusted point's depth in the query camera).

    Only tracks started in an adjusted frame count (the others' query camera was not adjusted).
    """
    started = np.isin(tracks.query_frame, usable)
    tracks = Tracks(tracks.xy[started], tracks.visible[started], tracks.query_frame[started])
    points = points[started]
    frames = tracks.query_frame
    xy = tracks.xy[np.arange(len(tracks)), frames]  # [N, 2]
    z_refined = np.einsum("nj,nj->n", extrinsics[frames, 2, :3], points) + extrinsics[frames, 2, 3]
    z_map = np.full(len(tracks), np.nan)
    for frame in np.unique(frames):
        sel = np.flatnonzero(frames == frame)
        z_map[sel] = bilinear_sample(scene.depth[frame][..., None].astype(np.float64), np.nan_to_num(xy[sel]))[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = z_map / z_refined
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    return float(np.median(ratios)) if ratios.size else 1.0


# ---------------------------------------------------------------------------------------------
# Entry point


def _unrefined(rec: Reconstruction, report: RefineReport, reason: str, frames: Sequence[int] = ()) -> RefineResult:
    report.message = f"kept the feed-forward result: {reason}"
    for i in frames:
        report.frames[i].reason = reason
    return RefineResult(reconstruction=rec, colmap_model=None, report=report)


def refine(
    rec: Reconstruction,
    *,
    camera_model: str = "PINHOLE",
    shared_camera: bool = False,
    track_source: TrackSource = "auto",
    query_frames: Sequence[int] | None = None,
    points_per_frame: int = 1024,
    depth_tolerance: float = 0.05,
    match_px: float = 0.5,
    min_visibility: float = 0.5,
    max_reprojection_error: float | None = 8.0,
    min_inliers: int = 64,
    refine_focal_length: bool = True,
    loss: Loss = "cauchy",
    loss_scale: float = 2.0,
    max_iterations: int = 100,
    seed: int = 0,
) -> RefineResult:
    """Refine the cameras of ``rec`` by bundle adjustment on tracks from its own predictions.

    See the module docstring for the steps. Nothing is raised for a weak reconstruction: frames without
    enough observations keep their feed-forward camera and the report says why.

    Args:
        rec: the reconstruction (not modified).
        camera_model: ``"PINHOLE"`` (f_x, f_y) or ``"SIMPLE_PINHOLE"`` (one focal length).
        shared_camera: one camera (mean intrinsics) for all adjusted frames.
        track_source: ``"point_map"`` matches, track-head ``"tracks"``, or ``"auto"`` (all available).
        query_frames: frames whose pixels start point-map tracks (default: up to 8 spread evenly).
        points_per_frame: pixels sampled per query frame.
        depth_tolerance: relative depth tolerance of the point-map matches.
        match_px: largest distance across the ray (pixels) of a point-map match.
        min_visibility: track-head visibility from which an observation is used.
        max_reprojection_error: observations further than this (model pixels) from the initial
            projection are dropped (``None``: keep all).
        min_inliers: observations a frame needs to be adjusted.
        refine_focal_length: also adjust focal lengths (the principal point stays fixed).
        loss: robust loss of the reprojection residuals; ``loss_scale`` is its scale in pixels.
        max_iterations: solver iterations.
        seed: seed of the pixel sampling.

    Returns:
        A :class:`RefineResult`. Its reconstruction has the adjusted extrinsics and intrinsics and
        ``points_from_depth`` recomputed from them; the other arrays are the input's (``pose_encoding``
        stays the camera head's raw output). ``colmap_model`` is in model pixels (+0.5, COLMAP's
        convention) with the same world frame; it is None when nothing was adjusted.
    """
    _check_arguments(
        camera_model,
        track_source,
        loss,
        points_per_frame,
        depth_tolerance,
        match_px,
        max_reprojection_error,
        min_inliers,
        max_iterations,
    )
    if not 0 <= min_visibility <= 1:
        raise ValueError(f"min_visibility: expected a number in [0, 1], got {min_visibility!r}")
    if not (math.isfinite(loss_scale) and loss_scale > 0):
        raise ValueError(f"loss_scale: expected a positive number, got {loss_scale!r}")
    pycolmap = import_pycolmap()
    scene = prepare_scene(rec)
    if query_frames is None:
        queries = _default_query_frames(scene.num_frames)
    else:
        queries = check_frames(query_frames, scene.num_frames)
    frames = [
        FrameRefinement(
            i, str(rec.names[i]), 0, False, focal_before=tuple(scene.intrinsics[i, [0, 1], [0, 1]].tolist())
        )
        for i in range(scene.num_frames)
    ]
    report = RefineReport(refined=False, message="", track_source=track_source, frames=frames)
    everyone = range(scene.num_frames)
    if scene.num_frames < 2:
        return _unrefined(rec, report, "refinement needs at least 2 frames", everyone)

    tracks, report.track_source, why = _build_tracks(
        rec, scene, track_source, queries, points_per_frame, depth_tolerance, match_px, min_visibility, seed
    )
    if tracks is None:
        return _unrefined(rec, report, why or "no tracks", everyone)
    observations, usable = _observations(pycolmap, scene, tracks, report, max_reprojection_error, min_inliers, seed)
    if len(usable) < 2:
        reason = f"{len(usable)} frame(s) with at least {min_inliers} observations (2 needed)"
        return _unrefined(rec, report, reason, usable)
    setup = _Adjustment(camera_model, shared_camera, refine_focal_length, loss, loss_scale, max_iterations)
    return _adjust(pycolmap, rec, scene, observations, usable, report, setup)


def _initial_state(
    scene: Scene, tracks: Tracks, extrinsics: np.ndarray, max_error: float | None, min_inliers: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Initial points, usable observations, errors, kept observations and left-out frames for ``extrinsics``."""
    points = _initial_points(scene, tracks, extrinsics)
    visible = tracks.visible & np.isfinite(points).all(-1)[:, None]
    errors = _reprojection_errors(points, tracks.xy, scene.intrinsics, extrinsics)
    keep, _, failed = _select_observations(visible, errors, max_error, min_inliers)
    return points, visible, errors, keep, failed


def _repose(
    pycolmap: ModuleType,
    scene: Scene,
    tracks: Tracks,
    points: np.ndarray,
    visible: np.ndarray,
    frame: int,
    max_error: float,
    min_inliers: int,
    seed: int,
) -> np.ndarray | None:
    """A new pose ``[3, 4]`` of ``frame`` from its matches to points started in other frames (PnP), or None."""
    others = visible[:, frame] & (tracks.query_frame != frame)
    if np.count_nonzero(others) < max(min_inliers, 6):
        return None
    pose, inliers = pnp_pose(
        pycolmap,
        tracks.xy[others, frame],
        points[others],
        scene.intrinsics[frame],
        scene.size,
        max_error,
        seed,
    )
    return pose if pose is not None and inliers >= min_inliers else None


def _observations(
    pycolmap: ModuleType,
    scene: Scene,
    tracks: Tracks,
    report: RefineReport,
    max_error: float | None,
    min_inliers: int,
    seed: int,
) -> tuple[_Observations, list[int]]:
    """Initial cameras, points and kept observations; fills the frames' counts and reasons.

    A frame with too few observations within ``max_error`` of the feed-forward projections, or with less
    than half of its matches there (a grossly wrong camera), is re-posed once by PnP + RANSAC on its
    matches to points started in other frames; the new pose is kept when it explains more matches.
    """
    extrinsics = scene.extrinsics.copy()
    points, visible, errors, keep, failed = _initial_state(scene, tracks, extrinsics, max_error, min_inliers)
    kept, matched = keep.sum(axis=0), visible.sum(axis=0)
    reposed = []
    if max_error is not None:
        for i in range(scene.num_frames):
            if i not in failed and kept[i] >= _REPOSE_FRACTION * matched[i]:
                continue
            pose = _repose(pycolmap, scene, tracks, points, visible, i, max_error, max(min_inliers, kept[i] + 1), seed)
            if pose is not None:
                extrinsics[i] = pose
                reposed.append(i)
    if reposed:
        points, visible, errors, keep, failed = _initial_state(scene, tracks, extrinsics, max_error, min_inliers)
    extrinsics[failed] = scene.extrinsics[failed]
    counts = keep.sum(axis=0)
    matched = visible.sum(axis=0)
    close = (visible & (errors <= (math.inf if max_error is None else max_error))).sum(axis=0)
    for frame in report.frames:
        i = frame.index
        frame.observations = int(matched[i] if i in failed else counts[i])
        frame.reposed = i in reposed and i not in failed
        if i in failed:
            frame.reason = (
                f"too few observations: {matched[i]} matched, {close[i]} within the reprojection limit, "
                f"fewer than min_inliers={min_inliers} usable in tracks seen by 2+ frames"
            )
    usable = [i for i in range(scene.num_frames) if i not in failed]
    return _Observations(tracks, points, keep, errors, extrinsics), usable


def _adjust(
    pycolmap: ModuleType,
    rec: Reconstruction,
    scene: Scene,
    obs: _Observations,
    usable: list[int],
    report: RefineReport,
    setup: _Adjustment,
) -> RefineResult:
    model, point_ids = _build_model(pycolmap, rec, scene, obs, usable, setup)
    report.num_tracks = int(np.count_nonzero(point_ids >= 0))
    report.num_observations = int(obs.keep.sum())
    report.reprojection_error_before = float(obs.errors[obs.keep].mean())
    report.solver = _solver_summary(_bundle_adjust(pycolmap, model, setup))
    if not report.solver["usable"]:
        return _unrefined(rec, report, f"bundle adjustment failed ({report.solver['termination']})", usable)

    poses, intrinsics, points = _read_model(model, usable, point_ids, setup.camera_model)
    extrinsics = scene.extrinsics.copy()
    extrinsics[usable] = poses
    # Rescale about the first adjusted camera (its pose is the gauge and stays put) to the depth maps' scale.
    scale = _depth_scale(scene, obs.tracks, points, extrinsics, usable)
    centre = np.asarray(model.image(usable[0] + 1).projection_center(), dtype=np.float64)
    model.transform(pycolmap.Sim3d(scale, pycolmap.Rotation3d(np.eye(3)), (1.0 - scale) * centre))
    model.update_point_3d_errors()
    poses, intrinsics, points = _read_model(model, usable, point_ids, setup.camera_model)
    finite = np.isfinite(poses).all() and np.isfinite(intrinsics).all()
    if not (finite and (intrinsics[:, [0, 1], [0, 1]] > 0).all()):
        return _unrefined(rec, report, "bundle adjustment gave non-finite or non-positive cameras", usable)

    extrinsics[usable] = poses
    all_intrinsics = scene.intrinsics.copy()
    all_intrinsics[usable] = intrinsics
    after = _reprojection_errors(points, obs.tracks.xy, all_intrinsics, extrinsics)
    report.reprojection_error_after = float(after[obs.keep].mean())
    report.scale = scale
    _fill_frames(report, scene, obs.keep, obs.errors, after, extrinsics, all_intrinsics, usable)
    left_out = scene.num_frames - len(usable)
    report.refined = True
    report.message = (
        f"adjusted {len(usable)} frame(s) with {report.num_tracks} tracks; mean reprojection error "
        f"{report.reprojection_error_before:.2f} -> {report.reprojection_error_after:.2f} px"
        + (f"; {left_out} frame(s) kept their feed-forward camera" if left_out else "")
    )
    refined = _refined_reconstruction(rec, extrinsics, all_intrinsics, report)
    return RefineResult(reconstruction=refined, colmap_model=model, report=report)


def _fill_frames(
    report: RefineReport,
    scene: Scene,
    keep: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    extrinsics: np.ndarray,
    intrinsics: np.ndarray,
    usable: list[int],
) -> None:
    depth_scale = float(np.nanmedian(scene.depth)) if np.isfinite(scene.depth).any() else 1.0
    changes = rotation_angle(
        torch.from_numpy(scene.extrinsics[:, :, :3].transpose(0, 2, 1) @ extrinsics[:, :, :3])
    ).numpy()
    centres_in = -np.einsum("sji,sj->si", scene.extrinsics[:, :, :3], scene.extrinsics[:, :, 3])
    centres_out = -np.einsum("sji,sj->si", extrinsics[:, :, :3], extrinsics[:, :, 3])
    for i in usable:
        frame = report.frames[i]
        frame.refined = True
        sel = keep[:, i]
        frame.reprojection_error_before = float(before[sel, i].mean())
        frame.reprojection_error_after = float(after[sel, i].mean())
        frame.rotation_change_deg = float(changes[i])
        frame.center_change = float(np.linalg.norm(centres_out[i] - centres_in[i]) / depth_scale)
        frame.focal_after = (float(intrinsics[i, 0, 0]), float(intrinsics[i, 1, 1]))


def _refined_reconstruction(
    rec: Reconstruction, extrinsics: np.ndarray, intrinsics: np.ndarray, report: RefineReport
) -> Reconstruction:
    points = np.empty((*rec.depth.shape, 3), dtype=np.float32)
    for i in range(len(rec)):  # one frame at a time: bounded float64 temporaries
        depth = torch.from_numpy(np.asarray(rec.depth[i], dtype=np.float64))
        points[i] = unproject_depth(depth, torch.from_numpy(intrinsics[i]), torch.from_numpy(extrinsics[i])).numpy()
    metadata = dict(rec.metadata)
    metadata["refinement"] = {
        "track_source": report.track_source,
        "refined_frames": [f.index for f in report.frames if f.refined],
        "reposed_frames": [f.index for f in report.frames if f.reposed],
        "reprojection_error_before": report.reprojection_error_before,
        "reprojection_error_after": report.reprojection_error_after,
    }
    return dataclasses.replace(
        rec,
        extrinsics=extrinsics.astype(np.float32),
        intrinsics=intrinsics.astype(np.float32),
        points_from_depth=points,
        metadata=metadata,
    )
