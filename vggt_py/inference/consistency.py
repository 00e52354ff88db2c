"""Consistency checks between the redundant outputs of a reconstruction.

VGGT predicts the same geometry several times over: cameras (camera head), depth maps (depth head),
a world point map (point head) and, on request, tracks (track head). Where they disagree, at least
one of them is wrong. :func:`check` measures four disagreements per frame:

``points``
    The depth map unprojected with the predicted camera vs the point-head map. The head's world frame
    is first mapped onto the cameras' frame by one confidence-weighted similarity (Umeyama, refitted
    twice on the inliers) over all frames, so the check is scale-free. A frame's error is the
    confidence-weighted median of ``|X_depth - X_head| / depth`` over its pixels.
``camera``
    The camera head's pose vs the pose the point-head map implies: each frame's pose is solved from its
    pixels and point-map points with the predicted intrinsics (P3P + LO-RANSAC and refinement, pycolmap).
    The two sets of poses are compared through the relative poses of every frame pair (rotation and
    translation-direction angles), which needs no alignment; a frame's error is the median over the
    pairs it belongs to, so one bad frame does not taint the others (singling a frame out needs
    ``S >= 4`` frames; with two frames both share the blame).
``epipolar``
    The Sampson distance (pixels) of correspondences under the predicted cameras. Correspondences are the
    track head's tracks when the reconstruction has them, else point-map matches (:func:`point_map_tracks`).
    A pair's error is the median over its correspondences, a frame's the median over its partners.
``depth``
    Each frame's depth is reprojected into its neighbours (the frames its points fall into most). A point
    is *consistent* in a neighbour when its projected depth is within a relative tolerance of the
    neighbour's depth at that pixel, *inconsistent* when it is clearly closer (it would hide what the
    neighbour sees) and *ignored* when it is farther (occluded there) or falls outside. A pair's
    agreement counts both directions; a frame's agreement is the median over its neighbours. The
    per-pixel counts give :func:`consistent_mask`, which can filter exported points.

A frame failing any check is reported as ``"suspect"`` with the reasons; thresholds are in
:class:`ConsistencyThresholds`. Pixel coordinates are model pixels, integer = pixel centre
(docs/architecture.md, Conventions). The report types live in :mod:`~vggt_py.inference.consistency_report`,
the shared multi-view toolkit (alignment, correspondences, PnP) in :mod:`~vggt_py.inference.multiview`;
both are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import NamedTuple

import numpy as np

from vggt_py.geometry import (
    fundamental_from_cameras,
    pair_indices,
    pairwise_pose_errors,
    sampson_error,
    se3_inverse,
)
from vggt_py.geometry.pixels import inside_image
from vggt_py.inference.consistency_report import (
    CHECKS,
    ConsistencyReport,
    ConsistencyThresholds,
    FrameConsistency,
)
from vggt_py.inference.multiview import (
    INLIER_FLOOR,
    ReconstructionLike,
    Scene,
    Similarity,
    Tracks,
    align_point_map,
    aligned_head,
    as_tensor64,
    fit_head_alignment,
    frame_points,
    head_tracks,
    import_pycolmap,
    pnp_pose,
    point_map_tracks,
    prepare_scene,
    project,
    sample_pixels,
    scene_point_map_tracks,
    weighted_median,
)

__all__ = [
    "CHECKS",
    "ConsistencyReport",
    "ConsistencyThresholds",
    "FrameConsistency",
    "Similarity",
    "Tracks",
    "align_point_map",
    "check",
    "consistent_mask",
    "epipolar_errors",
    "head_tracks",
    "import_pycolmap",
    "point_map_tracks",
]

_MIN_PAIR_SAMPLES = 32  # checked pixels below which a pair's depth agreement is not scored
_MIN_PAIR_MATCHES = 8  # correspondences below which a pair's Sampson error is not scored
_INVERTED_STRIDE = 4  # pixel stride of the cheaper depth check run on inverted extrinsics
_INVERTED_MARGIN = 0.2  # agreement gain that makes inverted extrinsics the better explanation


# ---------------------------------------------------------------------------------------------
# Input preparation












# ---------------------------------------------------------------------------------------------
# Small numeric helpers












def _sample_depth(depth: np.ndarray, xy: np.ndarray, tolerance: float) -> np.ndarray:
    """Depth of ``depth [H, W]`` (NaN = invalid) at sub-pixel ``xy [N, 2]``; NaN outside or invalid.

    Inverse depth is interpolated bilinearly (exact on planes) where the four neighbouring depths agree
    within ``tolerance``; across a depth edge the nearest pixel is used, so edges are never blended.
    """
    height, width = depth.shape
    nearest = depth[
        np.clip(np.rint(xy[:, 1]), 0, height - 1).astype(np.int64),
        np.clip(np.rint(xy[:, 0]), 0, width - 1).astype(np.int64),
    ]
    x = np.clip(xy[:, 0], 0, width - 1)
    y = np.clip(xy[:, 1], 0, height - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), max(width - 2, 0))
    y0 = np.minimum(np.floor(y).astype(np.int64), max(height - 2, 0))
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    corners = np.stack((depth[y0, x0], depth[y0, x1], depth[y1, x0], depth[y1, x1]), axis=-1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = np.isfinite(corners).all(-1) & (corners.max(-1) <= (1 + tolerance) * corners.min(-1))
        fx, fy = x - x0, y - y0
        inverse = 1.0 / corners
        top = inverse[:, 0] * (1 - fx) + inverse[:, 1] * fx
        bottom = inverse[:, 2] * (1 - fx) + inverse[:, 3] * fx
        interpolated = 1.0 / (top * (1 - fy) + bottom * fy)
    out = np.where(smooth, interpolated, nearest)
    return np.where(inside_image(xy, (height, width)), out, np.nan)






def _per_frame_median(num_frames: int, pair_values: Mapping[tuple[int, int], float]) -> np.ndarray:
    """``[S]``: the median of the finite values of the pairs each frame belongs to (NaN if none)."""
    collected: list[list[float]] = [[] for _ in range(num_frames)]
    for (i, j), value in pair_values.items():
        if math.isfinite(value):
            collected[i].append(value)
            collected[j].append(value)
    return np.array([np.median(v) if v else math.nan for v in collected])


# ---------------------------------------------------------------------------------------------
# Alignment of the point-head map onto the cameras' frame








# ---------------------------------------------------------------------------------------------
# Correspondences: track head, or point-map matches












# ---------------------------------------------------------------------------------------------
# Epipolar check


def _pair_sampson(scene: Scene, tracks: Tracks, min_matches: int) -> dict[tuple[int, int], np.ndarray]:
    out: dict[tuple[int, int], np.ndarray] = {}
    first, second = pair_indices(scene.num_frames)
    for i, j in zip(first.tolist(), second.tolist(), strict=True):
        both = tracks.visible[:, i] & tracks.visible[:, j]
        if np.count_nonzero(both) < min_matches:
            continue
        fundamental = fundamental_from_cameras(
            as_tensor64(scene.intrinsics[i]),
            as_tensor64(scene.extrinsics[i]),
            as_tensor64(scene.intrinsics[j]),
            as_tensor64(scene.extrinsics[j]),
        )
        errors = sampson_error(fundamental, as_tensor64(tracks.xy[both, i]), as_tensor64(tracks.xy[both, j]))
        out[(i, j)] = errors.numpy()
    return out


def epipolar_errors(
    rec: ReconstructionLike,
    tracks: Tracks | None = None,
    *,
    min_matches: int = _MIN_PAIR_MATCHES,
) -> dict[tuple[int, int], np.ndarray]:
    """Sampson distances (pixels) under the predicted cameras, per frame pair ``(i, j)`` with ``i < j``.

    ``tracks`` default to the track head's (:func:`head_tracks`), else point-map matches
    (:func:`point_map_tracks`). Pairs with fewer than ``min_matches`` shared correspondences are left out.
    """
    scene = prepare_scene(rec)
    if tracks is None:
        tracks = head_tracks(rec) or point_map_tracks(rec)
    if tracks.xy.ndim != 3 or tracks.xy.shape[1:] != (scene.num_frames, 2):
        raise ValueError(f"tracks.xy: expected shape [N, {scene.num_frames}, 2], got {list(tracks.xy.shape)}")
    return _pair_sampson(scene, tracks, min_matches)


# ---------------------------------------------------------------------------------------------
# Multi-view depth check


class _DepthStats(NamedTuple):
    consistent: np.ndarray  # [S, H, W] int32: neighbours confirming each pixel
    inconsistent: np.ndarray  # [S, H, W] int32: neighbours contradicting it
    directed: dict[tuple[int, int], tuple[int, int]]  # (i -> j): (consistent, inconsistent) pixel counts


def _select_neighbours(scene: Scene, extrinsics: np.ndarray, count: int, stride: int = 8) -> list[list[int]]:
    """For each frame, the ``count`` frames its (strided) depth points fall into most."""
    frames = scene.num_frames
    neighbours: list[list[int]] = []
    for i in range(frames):
        points = frame_points(scene, i, extrinsics)[::stride, ::stride].reshape(-1, 3)
        points = points[np.isfinite(points).all(-1)]
        if frames == 1 or points.shape[0] == 0:
            neighbours.append([])
            continue
        many = np.broadcast_to(points, (frames, *points.shape))
        uv, z = project(many, scene.intrinsics, extrinsics)
        overlap = ((z > 0) & inside_image(uv, scene.size)).mean(axis=-1)  # [S]
        overlap[i] = -1.0
        order = [int(j) for j in np.argsort(-overlap, kind="stable") if overlap[j] > 0]
        neighbours.append(order[:count])
    return neighbours


def _depth_check(
    scene: Scene, extrinsics: np.ndarray, neighbours: Sequence[Sequence[int]], tolerance: float, stride: int = 1
) -> _DepthStats:
    frames = scene.num_frames
    height, width = scene.size
    consistent = np.zeros((frames, height, width), dtype=np.int32)
    inconsistent = np.zeros_like(consistent)
    points_cache: dict[int, np.ndarray] = {}
    directed: dict[tuple[int, int], tuple[int, int]] = {}

    def run(i: int, j: int, accumulate: bool) -> None:
        if i not in points_cache:
            points_cache[i] = frame_points(scene, i, extrinsics)[::stride, ::stride]
        points = points_cache[i]
        flat = points.reshape(-1, 3)
        uv, z = project(flat, scene.intrinsics[j], extrinsics[j])
        reference = _sample_depth(scene.depth[j], uv, tolerance)
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = (z - reference) / reference
            ok = (np.abs(relative) <= tolerance) & (z > 0)
            bad = (relative < -tolerance) & (z > 0)
        directed[(i, j)] = (int(np.count_nonzero(ok)), int(np.count_nonzero(bad)))
        if accumulate:
            consistent[i, ::stride, ::stride] += ok.reshape(points.shape[:2])
            inconsistent[i, ::stride, ::stride] += bad.reshape(points.shape[:2])

    for i in range(frames):
        for j in neighbours[i]:
            run(i, j, accumulate=True)
            if (j, i) not in directed:
                run(j, i, accumulate=False)
    return _DepthStats(consistent, inconsistent, directed)


def _pair_agreement(stats: _DepthStats, i: int, j: int) -> float:
    ok = stats.directed[(i, j)][0] + stats.directed[(j, i)][0]
    bad = stats.directed[(i, j)][1] + stats.directed[(j, i)][1]
    return ok / (ok + bad) if ok + bad >= _MIN_PAIR_SAMPLES else math.nan


def _overall_agreement(stats: _DepthStats) -> float:
    ok = sum(v[0] for v in stats.directed.values())
    bad = sum(v[1] for v in stats.directed.values())
    return ok / (ok + bad) if ok + bad else math.nan


def _mask_from_counts(scene: Scene, stats: _DepthStats, thresholds: ConsistencyThresholds) -> np.ndarray:
    return (
        scene.valid & (stats.consistent >= thresholds.min_consistent_views) & (stats.consistent >= stats.inconsistent)
    )


def consistent_mask(
    rec: ReconstructionLike, thresholds: ConsistencyThresholds | None = None, *, num_neighbours: int = 4
) -> np.ndarray:
    """``[S, H, W]`` bool: valid pixels whose depth at least ``min_consistent_views`` neighbours confirm.

    A pixel is kept when its reprojected depth agrees with at least ``min_consistent_views`` of its
    ``num_neighbours`` neighbour frames (within ``depth_tolerance``) and with at least as many as it
    contradicts (neighbours where it would sit in front of the visible surface). Pass the result as
    ``mask=`` to the exporters to drop points the other views do not support.
    """
    thresholds = thresholds or ConsistencyThresholds()
    _check_count("num_neighbours", num_neighbours)
    scene = prepare_scene(rec)
    neighbours = _select_neighbours(scene, scene.extrinsics, num_neighbours)
    stats = _depth_check(scene, scene.extrinsics, neighbours, thresholds.depth_tolerance)
    return _mask_from_counts(scene, stats, thresholds)


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")


# ---------------------------------------------------------------------------------------------
# The four checks


def _run_points(scene: Scene, aligned: np.ndarray, report: ConsistencyReport) -> None:
    assert scene.head_valid is not None
    limit = report.thresholds.point_error
    all_errors, all_weights = [], []
    for frame in report.frames:
        i = frame.index
        mask = scene.head_valid[i]
        depth_points = frame_points(scene, i)[mask]
        relative = np.linalg.norm(depth_points - aligned[i][mask], axis=-1) / scene.depth[i][mask]
        weights = scene.weights[i][mask]
        error = weighted_median(relative, weights)
        all_errors.append(relative)
        all_weights.append(weights)
        frame.point_error = None if math.isnan(error) else error
        if error > limit:
            frame.fail("points", f"depth and point-head points differ by {error:.1%} of the depth (> {limit:.0%})")
    report.summary["point_error"] = weighted_median(np.concatenate(all_errors), np.concatenate(all_weights))




def _run_camera(
    scene: Scene,
    aligned: np.ndarray,
    report: ConsistencyReport,
    pycolmap: ModuleType,
    max_points: int,
    rng: np.random.Generator,
    seed: int,
) -> None:
    assert scene.head_valid is not None
    thr = report.thresholds
    poses = np.full((scene.num_frames, 3, 4), np.nan)
    for frame in report.frames:
        i = frame.index
        rows, cols = sample_pixels(scene.head_valid[i], scene.weights[i], max_points, rng)
        points2d = np.stack((cols, rows), axis=-1).astype(np.float64)
        pose, inliers = pnp_pose(
            pycolmap,
            points2d,
            aligned[i, rows, cols].astype(np.float64),
            scene.intrinsics[i],
            scene.size,
            thr.pnp_max_error_px,
            seed,
        )
        ratio = inliers / rows.size if rows.size else 0.0
        frame.pnp_inlier_ratio = ratio
        if pose is None:
            frame.fail("camera", f"no pose fits the point map ({rows.size} points)")
            continue
        poses[i] = pose
        if ratio < thr.min_pnp_inlier_ratio:
            frame.fail(
                "camera", f"only {ratio:.0%} of the point map fits one camera (< {thr.min_pnp_inlier_ratio:.0%})"
            )
    rotation, translation = pairwise_pose_errors(as_tensor64(scene.extrinsics), as_tensor64(poses))
    first, second = pair_indices(scene.num_frames)
    pairs = list(zip(first.tolist(), second.tolist(), strict=True))
    rot_frame = _per_frame_median(scene.num_frames, dict(zip(pairs, rotation.tolist(), strict=True)))
    trans_frame = _per_frame_median(scene.num_frames, dict(zip(pairs, translation.tolist(), strict=True)))
    for frame in report.frames:
        rot, trans = rot_frame[frame.index], trans_frame[frame.index]
        frame.rotation_error_deg = None if math.isnan(rot) else float(rot)
        frame.translation_error_deg = None if math.isnan(trans) else float(trans)
        if rot > thr.rotation_deg:
            frame.fail(
                "camera", f"camera head and point map disagree on rotation by {rot:.1f}° (> {thr.rotation_deg:g}°)"
            )
        if trans > thr.translation_deg:
            frame.fail(
                "camera",
                f"camera head and point map disagree on translation direction by {trans:.1f}° "
                f"(> {thr.translation_deg:g}°)",
            )
    report.summary["rotation_error_deg"] = (
        float(np.nanmedian(rotation.numpy())) if np.isfinite(rotation.numpy()).any() else math.nan
    )
    report.summary["translation_error_deg"] = (
        float(np.nanmedian(translation.numpy())) if np.isfinite(translation.numpy()).any() else math.nan
    )


def _run_epipolar(scene: Scene, tracks: Tracks, report: ConsistencyReport) -> None:
    limit = report.thresholds.sampson_px
    errors = _pair_sampson(scene, tracks, _MIN_PAIR_MATCHES)
    per_frame = _per_frame_median(scene.num_frames, {pair: float(np.median(e)) for pair, e in errors.items()})
    for frame in report.frames:
        value = per_frame[frame.index]
        frame.sampson_error_px = None if math.isnan(value) else float(value)
        if value > limit:
            frame.fail("epipolar", f"median Sampson error {value:.2f} px under the predicted cameras (> {limit:g} px)")
    every = np.concatenate(list(errors.values())) if errors else np.zeros(0)
    report.summary["sampson_error_px"] = float(np.median(every)) if every.size else math.nan


def _run_depth(scene: Scene, neighbours: list[list[int]], report: ConsistencyReport, num_neighbours: int) -> None:
    thr = report.thresholds
    stats = _depth_check(scene, scene.extrinsics, neighbours, thr.depth_tolerance)
    report.mask = _mask_from_counts(scene, stats, thr)
    for frame in report.frames:
        i = frame.index
        values = [_pair_agreement(stats, i, j) for j in neighbours[i]]
        values = [v for v in values if math.isfinite(v)]
        agreement = float(np.median(values)) if values else math.nan
        frame.depth_agreement = None if math.isnan(agreement) else agreement
        valid = int(np.count_nonzero(scene.valid[i]))
        frame.consistent_fraction = np.count_nonzero(report.mask[i]) / valid if valid else None
        if agreement < thr.min_depth_agreement:
            frame.fail(
                "depth",
                f"depth agrees with the neighbouring views on {agreement:.0%} of the overlap (< {thr.min_depth_agreement:.0%})",
            )
    overall = _overall_agreement(stats)
    report.summary["depth_agreement"] = overall
    valid_total = int(np.count_nonzero(scene.valid))
    report.summary["consistent_fraction"] = np.count_nonzero(report.mask) / valid_total if valid_total else math.nan
    if not overall >= thr.min_depth_agreement:  # also NaN: nothing overlapped
        _flag_inverted(scene, report, overall, num_neighbours)


def _flag_inverted(scene: Scene, report: ConsistencyReport, agreement: float, num_neighbours: int) -> None:
    """Add an issue when the inverted extrinsics explain the depth maps much better (a frequent mix-up)."""
    inverted = se3_inverse(as_tensor64(scene.extrinsics)).numpy()
    neighbours = _select_neighbours(scene, inverted, num_neighbours)
    stats = _depth_check(scene, inverted, neighbours, report.thresholds.depth_tolerance, stride=_INVERTED_STRIDE)
    alternative = _overall_agreement(stats)
    baseline = agreement if math.isfinite(agreement) else 0.0
    if alternative >= report.thresholds.min_depth_agreement and alternative >= baseline + _INVERTED_MARGIN:
        report.issues.append(
            f"the extrinsics look inverted: the depth maps agree on {alternative:.0%} with their inverses but "
            f"{baseline:.0%} as given; extrinsics must be camera-from-world [R | t], not world-from-camera"
        )


# ---------------------------------------------------------------------------------------------
# Entry point


def check(
    rec: ReconstructionLike,
    thresholds: ConsistencyThresholds | None = None,
    *,
    checks: Sequence[str] = CHECKS,
    max_points: int = 512,
    num_neighbours: int = 4,
    seed: int = 0,
) -> ConsistencyReport:
    """Measure how well the redundant outputs of ``rec`` agree; see the module docstring.

    Args:
        rec: the reconstruction.
        thresholds: limits of the per-frame verdicts (default :class:`ConsistencyThresholds`).
        checks: a subset of :data:`CHECKS`. A check whose inputs are missing (no point-head map, no
            pycolmap for ``camera``, a single frame) is skipped and listed in ``report.skipped``.
        max_points: pixels sampled per frame for the pose and point-map matches.
        num_neighbours: frames each frame's depth is reprojected into (and point-map matches are sought in).
        seed: seed of the pixel sampling and RANSAC; the same inputs give the same report.

    Returns:
        A :class:`ConsistencyReport`; ``report.mask`` is :func:`consistent_mask` when the depth check ran.
    """
    thresholds = thresholds or ConsistencyThresholds()
    if not isinstance(thresholds, ConsistencyThresholds):
        raise TypeError(f"thresholds: expected ConsistencyThresholds, got {type(thresholds).__name__}")
    unknown = [c for c in checks if c not in CHECKS]
    if unknown or isinstance(checks, str):
        raise ValueError(f"checks: expected a subset of {list(CHECKS)}, got {checks!r}")
    _check_count("max_points", max_points)
    _check_count("num_neighbours", num_neighbours)
    scene = prepare_scene(rec)
    rng = np.random.default_rng(seed)
    report = ConsistencyReport(
        frames=[FrameConsistency(i, str(name)) for i, name in enumerate(rec.names)], thresholds=thresholds
    )
    wanted = [c for c in CHECKS if c in checks]
    tracks = head_tracks(rec, thresholds.min_track_visibility)
    needs_head = {"points", "camera"} | ({"epipolar"} if tracks is None else set())
    aligned = None
    if scene.head is not None and needs_head & set(wanted):
        report.alignment = fit_head_alignment(scene, rng, INLIER_FLOOR * thresholds.point_error)
        if report.alignment is not None:
            aligned = aligned_head(scene, report.alignment)
    neighbours = _select_neighbours(scene, scene.extrinsics, num_neighbours)

    for name in wanted:
        why = _why_skipped(name, scene, aligned, tracks)
        if why is not None:
            report.skipped[name] = why
            continue
        if name == "points":
            assert aligned is not None
            _run_points(scene, aligned, report)
        elif name == "camera":
            assert aligned is not None
            try:
                pycolmap = import_pycolmap()
            except ImportError as err:
                report.skipped[name] = str(err)
                continue
            _run_camera(scene, aligned, report, pycolmap, max_points, rng, seed)
        elif name == "epipolar":
            if tracks is None:
                assert aligned is not None
                targets = dict(enumerate(neighbours))
                tracks_used = scene_point_map_tracks(
                    scene,
                    aligned,
                    range(scene.num_frames),
                    targets,
                    max_points,
                    thresholds.depth_tolerance,
                    thresholds.match_px,
                    rng,
                )
            else:
                tracks_used = tracks
            _run_epipolar(scene, tracks_used, report)
        else:
            _run_depth(scene, neighbours, report, num_neighbours)
        report.checks.append(name)
    return report


def _why_skipped(name: str, scene: Scene, aligned: np.ndarray | None, tracks: Tracks | None) -> str | None:
    if name in ("camera", "epipolar", "depth") and scene.num_frames < 2:
        return "needs at least 2 frames"
    if name == "epipolar" and tracks is not None:
        return None
    if name in ("points", "camera", "epipolar") and scene.head is None:
        return "no point-head map in this reconstruction" + (" and no tracks" if name == "epipolar" else "")
    if name in ("points", "camera", "epipolar") and aligned is None:
        return "the point-head map could not be aligned to the cameras (too few valid points)"
    return None
