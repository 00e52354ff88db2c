"""Consistency checks on synthetic predictions: a scene of planes rendered exactly by ray casting.

``make_reconstruction`` (also used by ``test_refine.py``) builds a Reconstruction whose outputs agree
exactly: depth maps are ray-cast plane intersections, ``points_from_depth`` their unprojection, the
point-head map the same world points in another similarity frame, and tracks exact projections.
"""

from __future__ import annotations

import dataclasses
import io
import json
import warnings
import math
import sys

import numpy as np
import pytest
import torch
from rich.console import Console

from vggt_py.geometry import (
    axis_angle_to_mat,
    project_points,
    se3_inverse,
    unproject_depth,
)
from vggt_py.inference.consistency import (
    CHECKS,
    ConsistencyReport,
    ConsistencyThresholds,
    align_point_map,
    check,
    consistent_mask,
    epipolar_errors,
    head_tracks,
    point_map_tracks,
)
from vggt_py.inference.reconstruction import Reconstruction

HEIGHT, WIDTH, FOCAL = 72, 96, 70.0
# Planes n . X = d (OpenCV world: y down), optionally bounded by a rectangle (centre, u, v, half sizes).
PLANES = (
    ((0.0, 0.0, 1.0), 6.0, None),  # back wall
    ((0.0, 1.0, 0.0), 1.5, None),  # floor
    ((1.0, 0.0, 0.0), -2.5, None),  # left wall
    ((0.0, 0.0, 1.0), 3.5, ((0.4, 0.0, 3.5), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), 0.6, 0.5)),  # a panel in front
)
# The point head's frame: x_head = HEAD_SCALE * HEAD_ROTATION x_world + HEAD_SHIFT.
HEAD_SCALE = 0.7
HEAD_ROTATION = axis_angle_to_mat(torch.tensor([0.2, -0.1, 0.3], dtype=torch.float64)).numpy()
HEAD_SHIFT = np.array([0.3, -0.2, 1.0])


def _look_at(centre: np.ndarray, target: tuple[float, float, float], roll: float) -> np.ndarray:
    forward = np.asarray(target) - centre
    forward /= np.linalg.norm(forward)
    right = np.cross((0.0, 1.0, 0.0), forward)
    right /= np.linalg.norm(right)
    rotation = np.stack((right, np.cross(forward, right), forward))  # camera-from-world rows
    c, s = math.cos(roll), math.sin(roll)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ rotation
    return np.concatenate((rotation, (-rotation @ centre)[:, None]), axis=1)


def make_cameras(num: int) -> tuple[np.ndarray, np.ndarray]:
    """``[S, 3, 4]`` extrinsics on an arc looking into the scene and ``[S, 3, 3]`` VGGT-style intrinsics."""
    extrinsics = []
    for k in range(num):
        a = k / max(num - 1, 1)
        centre = np.array([-1.0 + 2.0 * a, -0.4 + 0.5 * a * a, 0.3 * math.sin(3 * a)])
        extrinsics.append(_look_at(centre, (0.3, 0.3, 4.5), roll=0.1 * math.cos(5 * a)))
    intrinsics = np.array([[FOCAL, 0.0, WIDTH / 2], [0.0, FOCAL, HEIGHT / 2], [0.0, 0.0, 1.0]])
    return np.stack(extrinsics), np.repeat(intrinsics[None], num, axis=0)


def ray_depth(intrinsics: np.ndarray, extrinsics: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Exact z-depth of the scene at pixels ``xy [N, 2]`` (0 where a ray hits nothing)."""
    rays = np.concatenate((xy, np.ones((len(xy), 1))), axis=1) @ np.linalg.inv(intrinsics).T  # camera, z = 1
    rotation, translation = extrinsics[:, :3], extrinsics[:, 3]
    origin = -rotation.T @ translation
    rays = rays @ rotation  # world directions, scaled so the ray parameter is the z-depth
    best = np.full(len(xy), np.inf)
    for normal, offset, bounds in PLANES:
        n = np.asarray(normal)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (offset - n @ origin) / (rays @ n)
        hit = s > 1e-6
        if bounds is not None:
            centre, u, v, half_u, half_v = bounds
            d = origin + s[:, None] * rays - np.asarray(centre)
            hit &= (np.abs(d @ np.asarray(u)) <= half_u) & (np.abs(d @ np.asarray(v)) <= half_v)
        best = np.where(hit & (s < best), s, best)
    return np.where(np.isfinite(best), best, 0.0)


def _exact_tracks(intrinsics: np.ndarray, extrinsics: np.ndarray, count: int, rng: np.random.Generator):
    """Tracks of ``count`` random sub-pixel queries of frame 0: exact projections and occlusion-aware visibility."""
    queries = rng.uniform((2.0, 2.0), (WIDTH - 3.0, HEIGHT - 3.0), (count, 2))
    z = ray_depth(intrinsics[0], extrinsics[0], queries)
    camera = np.concatenate((queries, np.ones((count, 1))), axis=1) @ np.linalg.inv(intrinsics[0]).T * z[:, None]
    world = (camera - extrinsics[0, :, 3]) @ extrinsics[0, :, :3]
    tracks = np.zeros((len(extrinsics), count, 2))
    visibility = np.zeros((len(extrinsics), count))
    for i in range(len(extrinsics)):
        uv, depth = (
            t.numpy()
            for t in project_points(
                torch.from_numpy(world), torch.from_numpy(intrinsics[i]), torch.from_numpy(extrinsics[i])
            )
        )
        inside = (uv[:, 0] >= 0) & (uv[:, 0] <= WIDTH - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= HEIGHT - 1)
        seen = np.abs(ray_depth(intrinsics[i], extrinsics[i], uv) - depth) < 1e-6 * depth
        tracks[i], visibility[i] = uv, inside & seen & (depth > 0)
    return tracks, visibility


def make_reconstruction(num: int = 5, tracks: int = 0, seed: int = 0) -> Reconstruction:
    """A Reconstruction of the plane scene whose outputs agree exactly (see the module docstring)."""
    rng = np.random.default_rng(seed)
    extrinsics, intrinsics = make_cameras(num)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    pixels = np.stack((cols.ravel(), rows.ravel()), axis=-1).astype(np.float64)
    depth = np.stack([ray_depth(intrinsics[i], extrinsics[i], pixels).reshape(HEIGHT, WIDTH) for i in range(num)])
    points = unproject_depth(torch.from_numpy(depth), torch.from_numpy(intrinsics), torch.from_numpy(extrinsics))
    points = points.numpy()
    head = HEAD_SCALE * points @ HEAD_ROTATION.T + HEAD_SHIFT
    rec = Reconstruction(
        extrinsics=extrinsics.astype(np.float32),
        intrinsics=intrinsics.astype(np.float32),
        depth=depth.astype(np.float32),
        depth_conf=rng.uniform(1.0, 5.0, depth.shape).astype(np.float32),
        points_from_depth=points.astype(np.float32),
        colors=rng.integers(0, 256, (num, HEIGHT, WIDTH, 3), dtype=np.uint8),
        names=[f"frame_{i:03d}.png" for i in range(num)],
        original_sizes=np.tile([WIDTH, HEIGHT], (num, 1)).astype(np.int64),
        transforms=np.repeat(np.eye(3)[None], num, axis=0),
        valid_regions=np.tile([0, 0, WIDTH, HEIGHT], (num, 1)).astype(np.int64),
        pose_encoding=np.zeros((num, 9), dtype=np.float32),
        points_from_head=head.astype(np.float32),
        points_conf=rng.uniform(1.0, 5.0, depth.shape).astype(np.float32),
    )
    if tracks:
        xy, visibility = _exact_tracks(intrinsics, extrinsics, tracks, rng)
        rec.tracks = xy.astype(np.float32)
        rec.track_visibility = visibility.astype(np.float32)
        rec.query_points = rec.tracks[0].copy()
    return rec


def with_cameras(rec: Reconstruction, extrinsics: np.ndarray, intrinsics: np.ndarray | None = None) -> Reconstruction:
    """``rec`` with other cameras and ``points_from_depth`` recomputed from them (as a model would)."""
    intrinsics = rec.intrinsics if intrinsics is None else intrinsics
    points = unproject_depth(
        torch.from_numpy(rec.depth.astype(np.float64)),
        torch.from_numpy(intrinsics.astype(np.float64)),
        torch.from_numpy(extrinsics.astype(np.float64)),
    )
    return dataclasses.replace(
        rec,
        extrinsics=extrinsics.astype(np.float32),
        intrinsics=intrinsics.astype(np.float32),
        points_from_depth=points.numpy().astype(np.float32),
    )


def rotate_camera(rec: Reconstruction, index: int, axis_angle: tuple[float, float, float]) -> Reconstruction:
    """``rec`` with camera ``index`` rotated about its own centre."""
    delta = axis_angle_to_mat(torch.tensor(axis_angle, dtype=torch.float64)).numpy()
    extrinsics = rec.extrinsics.astype(np.float64)
    extrinsics[index] = delta @ extrinsics[index]
    return with_cameras(rec, extrinsics)


def ten_degrees() -> tuple[float, float, float]:
    axis = np.array([0.6, 0.3, 0.75])
    return tuple(float(v) for v in axis / np.linalg.norm(axis) * math.radians(10.0))


@pytest.fixture(scope="module")
def scene() -> Reconstruction:
    return make_reconstruction(5, tracks=200)


@pytest.fixture(scope="module")
def scene_no_tracks(scene: Reconstruction) -> Reconstruction:
    return dataclasses.replace(scene, tracks=None, track_visibility=None, query_points=None)


@pytest.fixture(scope="module")
def report_ok(scene: Reconstruction) -> ConsistencyReport:
    return check(scene)


# ---------------------------------------------------------------------------------------------
# Consistent predictions


def test_consistent_predictions_give_near_zero_errors(report_ok: ConsistencyReport):
    assert report_ok.ok and report_ok.suspect_frames == [] and report_ok.issues == []
    assert report_ok.checks == list(CHECKS) and report_ok.skipped == {}
    summary = report_ok.summary
    assert summary["point_error"] < 1e-5
    assert summary["rotation_error_deg"] < 1e-3 and summary["translation_error_deg"] < 1e-2
    assert summary["sampson_error_px"] < 1e-3
    assert summary["depth_agreement"] > 0.99
    for frame in report_ok.frames:
        assert frame.verdict == "ok" and frame.reasons == []
        assert frame.pnp_inlier_ratio == pytest.approx(1.0)
        assert frame.depth_agreement > 0.99 and frame.consistent_fraction > 0.8


def test_alignment_recovers_the_point_head_frame(scene: Reconstruction, report_ok: ConsistencyReport):
    similarity = align_point_map(scene)
    assert similarity.scale == pytest.approx(1 / HEAD_SCALE, rel=1e-5)
    np.testing.assert_allclose(similarity.rotation, HEAD_ROTATION.T, atol=1e-5)
    np.testing.assert_allclose(similarity.apply(scene.points_from_head), scene.points_from_depth, atol=1e-4)
    assert report_ok.alignment is not None and report_ok.alignment.scale == pytest.approx(similarity.scale, rel=1e-5)


def test_point_map_matches_land_on_the_true_projections(scene_no_tracks: Reconstruction):
    tracks = point_map_tracks(scene_no_tracks, query_frames=[0, 3], points_per_frame=150)
    assert tracks.xy.shape == (300, 5, 2) and set(tracks.query_frame.tolist()) == {0, 3}
    for query in (0, 3):
        sel = tracks.query_frame == query
        cols, rows = tracks.xy[sel, query].astype(int).T
        points = scene_no_tracks.points_from_depth[query, rows, cols].astype(np.float64)
        for j in range(5):
            seen = tracks.visible[sel, j]
            assert seen.mean() > 0.4
            uv, _ = project_points(
                torch.from_numpy(points[seen]),
                torch.from_numpy(scene_no_tracks.intrinsics[j].astype(np.float64)),
                torch.from_numpy(scene_no_tracks.extrinsics[j].astype(np.float64)),
            )
            error = np.linalg.norm(uv.numpy() - tracks.xy[sel][seen, j], axis=-1)
            assert np.median(error) < 0.01 and error.max() < 0.5


def test_without_tracks_the_epipolar_check_uses_point_map_matches(scene_no_tracks: Reconstruction):
    report = check(scene_no_tracks, checks=["epipolar"])
    assert report.checks == ["epipolar"] and report.ok
    assert report.summary["sampson_error_px"] < 0.01
    assert all(frame.sampson_error_px is not None for frame in report.frames)


def test_default_thresholds_tolerate_noisy_predictions(scene: Reconstruction):
    """1 % depth and point-map noise, 0.5° camera noise and 0.5 px track noise: nothing is flagged."""
    rng = np.random.default_rng(3)
    depth = scene.depth * (1 + 0.01 * rng.normal(size=scene.depth.shape)).astype(np.float32)
    noise = 0.01 * HEAD_SCALE * scene.depth[..., None] * rng.normal(size=scene.points_from_head.shape)
    extrinsics = scene.extrinsics.astype(np.float64)
    for i in range(len(scene)):
        extrinsics[i] = axis_angle_to_mat(torch.from_numpy(rng.normal(0, math.radians(0.5), 3))).numpy() @ extrinsics[i]
    noisy = dataclasses.replace(
        scene,
        depth=depth,
        points_from_head=scene.points_from_head + noise.astype(np.float32),
        tracks=scene.tracks + rng.normal(0, 0.5, scene.tracks.shape).astype(np.float32),
    )
    noisy = with_cameras(noisy, extrinsics)
    report = check(noisy)
    assert report.ok, report.to_dict()
    assert 0.005 < report.summary["point_error"] < 0.05 and 0.1 < report.summary["sampson_error_px"] < 1.0
    assert check(rotate_camera(noisy, 2, ten_degrees())).suspect_frames == [2]


# ---------------------------------------------------------------------------------------------
# Planted errors


def test_rotated_camera_is_flagged_on_that_frame(scene: Reconstruction):
    report = check(rotate_camera(scene, 2, ten_degrees()))
    assert report.suspect_frames == [2]
    frame = report.frames[2]
    assert {"camera", "epipolar", "points"} <= set(frame.failed)
    assert frame.rotation_error_deg == pytest.approx(10.0, abs=0.5)
    assert any("rotation" in reason and reason.startswith("camera:") for reason in frame.reasons)
    assert frame.sampson_error_px > 4.0
    assert report.issues == []


def test_scaled_depth_is_flagged_as_a_depth_problem(scene: Reconstruction):
    depth = scene.depth.copy()
    depth[3] *= 1.3
    bad = with_cameras(dataclasses.replace(scene, depth=depth), scene.extrinsics)
    report = check(bad)
    assert report.suspect_frames == [3]
    frame = report.frames[3]
    assert set(frame.failed) == {"points", "depth"}  # the cameras and tracks are right
    assert frame.point_error == pytest.approx(0.3 / 1.3, rel=0.2)
    assert frame.depth_agreement < 0.1
    assert report.mask is not None and report.mask[3].mean() < 0.1
    assert all(report.mask[i].mean() > 0.8 for i in (0, 1, 2, 4))


def test_inverted_extrinsics_are_detected(scene: Reconstruction):
    inverted = se3_inverse(torch.from_numpy(scene.extrinsics.astype(np.float64))).numpy()
    report = check(with_cameras(scene, inverted), checks=["camera", "depth"])
    assert not report.ok
    assert len(report.issues) == 1 and "inverted" in report.issues[0] and "camera-from-world" in report.issues[0]
    assert report.suspect_frames == [0, 1, 2, 3, 4]
    assert all({"camera", "depth"} <= set(frame.failed) for frame in report.frames)


def test_two_frames_share_the_blame(scene_no_tracks: Reconstruction):
    rotated = rotate_camera(scene_no_tracks, 1, ten_degrees())
    two = dataclasses.replace(
        rotated,
        **{
            k: getattr(rotated, k)[:2]
            for k in (
                "extrinsics",
                "intrinsics",
                "depth",
                "depth_conf",
                "points_from_depth",
                "colors",
                "original_sizes",
                "transforms",
                "valid_regions",
                "pose_encoding",
                "points_from_head",
                "points_conf",
            )
        },
        names=rotated.names[:2],
    )
    report = check(two, checks=["camera"])
    assert report.suspect_frames == [0, 1]  # one pair: the check cannot tell which camera is wrong


# ---------------------------------------------------------------------------------------------
# Sampson error vs brute force


def _gold_standard(k1, e1, k2, e2, x1, x2) -> torch.Tensor:
    """sqrt(min_X |pi1(X) - x1|^2 + |pi2(X) - x2|^2) per correspondence, by Gauss-Newton (float64)."""

    def residual(points: torch.Tensor) -> torch.Tensor:  # [N, 3] -> [N, 4]
        uv1, _ = project_points(points, k1, e1)
        uv2, _ = project_points(points, k2, e2)
        return torch.cat((uv1 - x1, uv2 - x2), dim=-1)

    # Start at the midpoint of the two rays' closest points.
    world1, world2 = se3_inverse(e1), se3_inverse(e2)
    ones = torch.ones_like(x1[:, :1])
    ray1 = torch.cat((x1, ones), -1) @ torch.linalg.inv(k1).T @ world1[:, :3].T  # [N, 3]
    ray2 = torch.cat((x2, ones), -1) @ torch.linalg.inv(k2).T @ world2[:, :3].T
    system = torch.stack((ray1, -ray2), dim=-1)  # [N, 3, 2]
    depths = torch.linalg.lstsq(system, (world2[:, 3] - world1[:, 3]).expand_as(ray1)[..., None]).solution[..., 0]
    points = 0.5 * (world1[:, 3] + depths[:, :1] * ray1 + world2[:, 3] + depths[:, 1:] * ray2)
    for _ in range(10):
        points = points.detach().requires_grad_(True)
        res = residual(points)
        rows = [torch.autograd.grad(res[:, k].sum(), points, retain_graph=k < 3)[0] for k in range(4)]
        jac = torch.stack(rows, dim=1)  # [N, 4, 3]: each residual row depends on its own point only
        step = torch.linalg.solve(jac.transpose(1, 2) @ jac, -(jac.transpose(1, 2) @ res.detach()[..., None]))
        points = points.detach() + step[..., 0]
    return residual(points).norm(dim=-1)


def test_sampson_error_matches_brute_force_reprojection(scene: Reconstruction):
    rotated = rotate_camera(scene, 1, (0.004, -0.006, 0.003))  # small error: Sampson is first order
    errors = epipolar_errors(rotated)  # the track head's (exact) tracks
    assert set(errors) == {(i, j) for i in range(5) for j in range(i + 1, 5)}
    tracks = head_tracks(rotated)
    both = tracks.visible[:, 0] & tracks.visible[:, 1]
    cams = [
        torch.from_numpy(getattr(rotated, key)[i].astype(np.float64))
        for i in (0, 1)
        for key in ("intrinsics", "extrinsics")
    ]
    gold = _gold_standard(*cams, torch.from_numpy(tracks.xy[both, 0]), torch.from_numpy(tracks.xy[both, 1]))
    assert gold.median() > 0.1  # the planted error is visible
    np.testing.assert_allclose(errors[(0, 1)], gold.numpy(), rtol=0.02, atol=1e-4)
    assert np.median(errors[(2, 3)]) < 1e-3  # pairs without the rotated camera stay exact


# ---------------------------------------------------------------------------------------------
# Mask, report, API surface


def test_consistent_mask_matches_the_report(scene: Reconstruction, report_ok: ConsistencyReport):
    mask = consistent_mask(scene)
    assert mask.shape == scene.depth.shape and mask.dtype == bool
    np.testing.assert_array_equal(mask, report_ok.mask)
    assert mask.mean() > 0.9
    strict = consistent_mask(scene, ConsistencyThresholds(min_consistent_views=4))
    assert strict.sum() < mask.sum() and not (strict & ~mask).any()


def test_report_serialises_and_prints(scene: Reconstruction):
    depth = scene.depth.copy()
    depth[3] *= 1.3
    report = check(with_cameras(dataclasses.replace(scene, depth=depth), scene.extrinsics))
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["ok"] is False and data["suspect_frames"] == [3]
    assert data["frames"][3]["verdict"] == "suspect" and set(data["frames"][3]["failed"]) == {"points", "depth"}
    assert data["thresholds"]["depth_tolerance"] == 0.05 and data["alignment"]["scale"] > 0
    buffer = io.StringIO()
    report.print_table(Console(file=buffer, width=200))
    text = buffer.getvalue()
    assert "frame_003.png" in text and "suspect" in text
    assert text.splitlines()[0] == "1 of 5 frame(s) suspect (checks run: points, camera, epipolar, depth)"
    assert "  depth     1 of 5 fail: multi-view depth agreement median" in text and "  suspect frames: 3" in text
    summary = io.StringIO()
    report.print_summary(Console(file=summary, width=200))
    assert "frame_003.png" not in summary.getvalue() and len(summary.getvalue().splitlines()) == 6


def test_status_names_the_checks_it_rests_on(scene: Reconstruction, report_ok: ConsistencyReport):
    assert report_ok.status() == "all 5 frame(s) consistent (all 4 checks ran: points, camera, epipolar, depth)"
    partial = check(scene, checks=["depth"])
    assert partial.ok and "consistent" not in partial.status()
    assert partial.status() == "no suspect frame of 5 on the 1 check(s) that ran (depth); not run: points, camera, epipolar"


def test_reconstruction_check_method(scene: Reconstruction, report_ok: ConsistencyReport):
    report = scene.check(checks=["depth"])
    assert isinstance(report, ConsistencyReport) and report.checks == ["depth"]
    assert report.summary["depth_agreement"] == pytest.approx(report_ok.summary["depth_agreement"])


def test_missing_inputs_skip_checks(scene_no_tracks: Reconstruction):
    no_head = dataclasses.replace(scene_no_tracks, points_from_head=None, points_conf=None)
    report = check(no_head)
    assert report.checks == ["depth"] and report.ok
    assert set(report.skipped) == {"points", "camera", "epipolar"}
    assert "point-head" in report.skipped["points"]
    single = dataclasses.replace(
        no_head,
        **{
            k: getattr(no_head, k)[:1]
            for k in (
                "extrinsics",
                "intrinsics",
                "depth",
                "depth_conf",
                "points_from_depth",
                "colors",
                "original_sizes",
                "transforms",
                "valid_regions",
                "pose_encoding",
            )
        },
        names=no_head.names[:1],
    )
    report = check(single)
    assert report.skipped["depth"] == "needs at least 2 frames"
    assert report.ok and report.checks == [] and report.status() == "nothing checked: no check could run on 1 frame(s)"


def test_camera_check_is_skipped_without_pycolmap(scene: Reconstruction, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pycolmap", None)
    report = check(scene, checks=["camera"])
    assert report.checks == [] and 'pip install "vggt-py[colmap]"' in report.skipped["camera"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"point_error": 0.0}, "point_error"),
        ({"min_depth_agreement": 1.5}, "min_depth_agreement"),
        ({"min_consistent_views": -1}, "min_consistent_views"),
        ({"sampson_px": float("nan")}, "sampson_px"),
    ],
)
def test_bad_thresholds(kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        ConsistencyThresholds(**kwargs)


def test_bad_input(scene: Reconstruction):
    with pytest.raises(TypeError, match="Reconstruction"):
        check({"depth": scene.depth})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="checks"):
        check(scene, checks=["points", "colour"])
    with pytest.raises(ValueError, match="max_points"):
        check(scene, max_points=0)
    with pytest.raises(ValueError, match=r"extrinsics: expected shape \[5, 3, 4\]"):
        check(dataclasses.replace(scene, extrinsics=scene.extrinsics[:4]))
    with pytest.raises(ValueError, match="points_from_head"):
        check(dataclasses.replace(scene, points_from_head=scene.points_from_head[..., :2]))


def test_padding_raises_no_numpy_warning(scene_no_tracks: Reconstruction):
    """Matches that walk into padding (no points there, as in mode="pad") are dropped without numpy's
    'invalid value encountered in det'."""
    scene = scene_no_tracks  # the epipolar check then matches through the point maps
    regions = scene.valid_regions.copy()
    regions[:, 1] = scene.depth.shape[1] // 4  # the top quarter of every frame is padding
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check(dataclasses.replace(scene, valid_regions=regions), checks=["epipolar"])
    assert report.checks == ["epipolar"]
