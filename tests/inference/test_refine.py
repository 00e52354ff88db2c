"""Bundle-adjustment refinement on the synthetic plane scene of ``test_consistency.py``."""

from __future__ import annotations

import dataclasses
import json
import math
import sys

import numpy as np
import pytest
import torch
from inference.test_consistency import (  # the synthetic scene (tests/ is on sys.path)
    make_reconstruction,
    rotate_camera,
    ten_degrees,
    with_cameras,
)

from vggt_py.geometry import axis_angle_to_mat, pairwise_pose_errors, unproject_depth
from vggt_py.inference.consistency import check
from vggt_py.inference.reconstruction import Reconstruction
from vggt_py.inference.refine import RefineResult, refine

pytest.importorskip("pycolmap")

POINTS_PER_FRAME = 200  # keeps each refinement well under a second


@pytest.fixture(scope="module")
def truth() -> Reconstruction:
    return make_reconstruction(5, tracks=600)


def perturb(rec: Reconstruction, focal_scale: float = 1.0, seed: int = 1) -> Reconstruction:
    """Every camera rotated by ~1.5° and shifted by ~5 cm (scene depth 3-6 m); focal lengths scaled."""
    rng = np.random.default_rng(seed)
    extrinsics = rec.extrinsics.astype(np.float64)
    for i in range(len(rec)):
        delta = axis_angle_to_mat(torch.from_numpy(rng.normal(0.0, math.radians(1.5), 3))).numpy()
        extrinsics[i, :, :3] = delta @ extrinsics[i, :, :3]
        extrinsics[i, :, 3] = delta @ extrinsics[i, :, 3] + rng.normal(0.0, 0.05, 3)
    intrinsics = rec.intrinsics.astype(np.float64)
    intrinsics[:, 0, 0] *= focal_scale
    intrinsics[:, 1, 1] *= focal_scale
    return with_cameras(rec, extrinsics, intrinsics)


def pose_errors(rec: Reconstruction, truth: Reconstruction) -> tuple[float, float]:
    """Largest relative rotation and translation-direction errors (degrees) over all frame pairs."""
    rotation, translation = pairwise_pose_errors(
        torch.from_numpy(rec.extrinsics.astype(np.float64)), torch.from_numpy(truth.extrinsics.astype(np.float64))
    )
    return rotation.max().item(), translation.max().item()


@pytest.fixture(scope="module")
def perturbed(truth: Reconstruction) -> Reconstruction:
    return perturb(truth, focal_scale=1.04)


@pytest.fixture(scope="module")
def shared_result(perturbed: Reconstruction) -> RefineResult:
    return refine(perturbed, camera_model="SIMPLE_PINHOLE", shared_camera=True, points_per_frame=POINTS_PER_FRAME)


def test_bundle_adjustment_recovers_perturbed_cameras(truth, perturbed, shared_result):
    rotation_before, translation_before = pose_errors(perturbed, truth)
    assert rotation_before > 3.0 and translation_before > 5.0
    report = shared_result.report
    assert report.refined and report.failed_frames == [] and report.track_source == "point_map+tracks"
    rotation, translation = pose_errors(shared_result.reconstruction, truth)
    assert rotation < 0.1 and translation < 0.3  # stated tolerance (degrees), from >3° and >5°
    np.testing.assert_allclose(shared_result.reconstruction.intrinsics[:, 0, 0], 70.0, rtol=5e-3)  # from 72.8
    assert report.reprojection_error_before > 1.0
    assert report.reprojection_error_after < 0.05 < report.reprojection_error_before / 20
    for frame in report.frames:
        assert frame.refined and frame.reason is None and frame.observations >= 64
        assert frame.reprojection_error_after < frame.reprojection_error_before


def test_refined_reconstruction_is_self_consistent(perturbed, shared_result):
    refined = shared_result.reconstruction
    assert not check(perturbed, checks=["depth"]).ok  # the perturbation breaks multi-view depth agreement
    report = check(refined, checks=["depth", "points", "camera"])
    assert report.ok and report.summary["depth_agreement"] > 0.97
    expected = unproject_depth(
        torch.from_numpy(refined.depth.astype(np.float64)),
        torch.from_numpy(refined.intrinsics.astype(np.float64)),
        torch.from_numpy(refined.extrinsics.astype(np.float64)),
    )
    np.testing.assert_allclose(refined.points_from_depth, expected.numpy(), atol=1e-4)
    # The gauge: the first frame keeps its pose; only the cameras and depth-derived points change.
    np.testing.assert_allclose(refined.extrinsics[0], perturbed.extrinsics[0], atol=1e-5)
    assert refined.depth is perturbed.depth and refined.points_from_head is perturbed.points_from_head
    assert refined.metadata["refinement"]["refined_frames"] == [0, 1, 2, 3, 4]


def test_colmap_model_uses_model_pixels_plus_half(shared_result):
    model = shared_result.colmap_model
    refined = shared_result.reconstruction
    assert (
        model.num_images() == 5 and model.num_cameras() == 1 and model.num_points3D() == shared_result.report.num_tracks
    )
    camera = model.camera(1)
    assert camera.model_name == "SIMPLE_PINHOLE" and (camera.width, camera.height) == (96, 72)
    np.testing.assert_allclose(camera.params, [refined.intrinsics[0, 0, 0], 48.5, 36.5], rtol=1e-6)
    for i in range(5):
        np.testing.assert_allclose(model.image(i + 1).cam_from_world().matrix(), refined.extrinsics[i], atol=1e-5)
    assert model.compute_mean_reprojection_error() == pytest.approx(
        shared_result.report.reprojection_error_after, rel=0.05
    )


def test_per_frame_pinhole_with_fixed_focal(truth):
    perturbed = perturb(truth, seed=2)
    result = refine(
        perturbed, camera_model="PINHOLE", shared_camera=False, refine_focal_length=False, points_per_frame=POINTS_PER_FRAME
    )
    rotation, translation = pose_errors(result.reconstruction, truth)
    assert rotation < 0.05 and translation < 0.2
    np.testing.assert_array_equal(result.reconstruction.intrinsics, perturbed.intrinsics)
    assert result.colmap_model.num_cameras() == 5 and result.colmap_model.camera(3).model_name == "PINHOLE"


def test_track_head_tracks_alone(truth, perturbed):
    result = refine(perturbed, track_source="tracks", min_inliers=32)
    assert result.report.track_source == "tracks" and result.report.refined
    rotation, translation = pose_errors(result.reconstruction, truth)
    assert rotation < 1e-3 and translation < 1e-2  # exact correspondences: exact cameras
    np.testing.assert_allclose(result.reconstruction.intrinsics[:, 0, 0], 70.0, rtol=1e-5)


def test_a_grossly_wrong_camera_is_reposed_then_adjusted(truth):
    wrong = rotate_camera(truth, 3, ten_degrees())  # ~12 px off: beyond max_reprojection_error = 8 px
    result = refine(wrong, points_per_frame=POINTS_PER_FRAME)
    frame = result.report.frames[3]
    assert frame.reposed and frame.refined and frame.rotation_change_deg == pytest.approx(10.0, abs=0.05)
    assert [f.index for f in result.report.frames if f.reposed] == [3]
    assert result.reconstruction.metadata["refinement"]["reposed_frames"] == [3]
    rotation, translation = pose_errors(result.reconstruction, truth)
    assert rotation < 0.1 and translation < 0.3


def test_too_few_inliers_keeps_the_feed_forward_result(perturbed):
    result = refine(perturbed, min_inliers=100_000, points_per_frame=POINTS_PER_FRAME)
    assert result.reconstruction is perturbed and result.colmap_model is None
    report = result.report
    assert not report.refined and report.failed_frames == [0, 1, 2, 3, 4]
    assert "kept the feed-forward result" in report.message
    assert all(
        "too few observations" in frame.reason and "min_inliers=100000" in frame.reason for frame in report.frames
    )


def test_a_frame_without_matches_keeps_its_camera(truth, perturbed):
    rng = np.random.default_rng(0)
    head = perturbed.points_from_head.copy()
    head[4] = rng.normal(size=head[4].shape).astype(np.float32)  # a broken point map: frame 4 matches nothing
    broken = dataclasses.replace(perturbed, points_from_head=head, tracks=None, track_visibility=None)
    result = refine(broken, points_per_frame=POINTS_PER_FRAME)
    report = result.report
    assert report.refined and report.failed_frames == [4]
    assert "too few observations" in report.frames[4].reason
    np.testing.assert_array_equal(result.reconstruction.extrinsics[4], perturbed.extrinsics[4])
    rotation, _ = pose_errors(
        dataclasses.replace(result.reconstruction, extrinsics=result.reconstruction.extrinsics[:4]),
        dataclasses.replace(truth, extrinsics=truth.extrinsics[:4]),
    )
    assert rotation < 0.5


def test_no_correspondences(perturbed):
    bare = dataclasses.replace(perturbed, points_from_head=None, points_conf=None, tracks=None, track_visibility=None)
    result = refine(bare)
    assert result.reconstruction is bare and not result.report.refined
    assert "needs the point-head map or track-head tracks" in result.report.message


def test_report_is_json(shared_result):
    data = json.loads(json.dumps(shared_result.report.to_dict(), allow_nan=False))
    assert data["refined"] is True and data["failed_frames"] == [] and len(data["frames"]) == 5
    assert data["solver"]["usable"] is True and data["frames"][0]["focal_after"][0] > 0


def test_missing_pycolmap_says_how_to_install(perturbed, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pycolmap", None)
    with pytest.raises(ImportError, match=r'pip install "vggt-py\[colmap\]"'):
        refine(perturbed)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"camera_model": "OPENCV"}, "camera_model"),
        ({"track_source": "sift"}, "track_source"),
        ({"loss": "tukey"}, "loss"),
        ({"min_inliers": -1}, "min_inliers"),
        ({"points_per_frame": 0}, "points_per_frame"),
        ({"query_frames": [7]}, "query_frames"),
        ({"max_reprojection_error": 0.0}, "max_reprojection_error"),
    ],
)
def test_bad_arguments(perturbed, kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        refine(perturbed, **kwargs)


# ---------------------------------------------------------------------------------------------
# Rejection: a refinement that does not converge, diverges or has no baseline keeps the feed-forward cameras


def test_a_solver_that_does_not_converge_is_rejected(perturbed):
    result = refine(perturbed, max_iterations=1, points_per_frame=POINTS_PER_FRAME)  # 1 step: NO_CONVERGENCE
    report = result.report
    assert report.solver["termination"] == "NO_CONVERGENCE"
    assert not report.refined and report.accepted is False
    assert "did not converge" in report.rejection_reason and "NO_CONVERGENCE" in report.rejection_reason
    assert result.reconstruction is perturbed and result.colmap_model is None
    assert report.failed_frames == [0, 1, 2, 3, 4]
    assert json.loads(json.dumps(report.to_dict()))["accepted"] is False


def test_a_diverging_adjustment_is_rejected(perturbed, monkeypatch: pytest.MonkeyPatch):
    """BA that 'succeeds' but leaves points behind the cameras (infinite errors) must not be kept."""
    pycolmap = pytest.importorskip("pycolmap")
    real = pycolmap.create_default_bundle_adjuster

    class Diverging:
        def __init__(self, options, config, model):
            self.model, self.adjuster = model, real(options, config, model)

        def solve(self):
            summary = self.adjuster.solve()
            centre = np.asarray(self.model.image(1).projection_center())
            for point_id in self.model.point3D_ids():  # mirror every point through the first camera's centre
                point = self.model.point3D(point_id)
                point.xyz = 2 * centre - np.asarray(point.xyz)
            return summary

    monkeypatch.setattr(pycolmap, "create_default_bundle_adjuster", Diverging)
    result = refine(perturbed, points_per_frame=POINTS_PER_FRAME)
    report = result.report
    assert report.solver["termination"] == "CONVERGENCE" and report.solver["usable"]
    assert not report.refined and report.accepted is False and "non-finite" in report.rejection_reason
    assert result.reconstruction is perturbed
    np.testing.assert_array_equal(result.reconstruction.extrinsics, perturbed.extrinsics)
    np.testing.assert_array_equal(result.reconstruction.intrinsics, perturbed.intrinsics)


def copies_of_one_frame(rec: Reconstruction, num: int = 5, seed: int = 3) -> Reconstruction:
    """``num`` copies of frame 0 (zero baseline) whose 'feed-forward' cameras differ slightly, as a model's would."""
    rng = np.random.default_rng(seed)
    pick = np.zeros(num, dtype=np.int64)
    arrays = {
        name: getattr(rec, name)[pick]
        for name in ("depth", "depth_conf", "colors", "original_sizes", "transforms", "valid_regions",
                     "pose_encoding", "points_from_head", "points_conf", "intrinsics")
    }
    extrinsics = np.repeat(rec.extrinsics[:1].astype(np.float64), num, axis=0)
    for i in range(1, num):
        delta = axis_angle_to_mat(torch.from_numpy(rng.normal(0.0, math.radians(0.3), 3))).numpy()
        extrinsics[i, :, :3] = delta @ extrinsics[i, :, :3]
        extrinsics[i, :, 3] = delta @ extrinsics[i, :, 3] + rng.normal(0.0, 0.02, 3)
    copies = dataclasses.replace(
        rec, **arrays, names=[f"copy_{i}.png" for i in range(num)], tracks=None, track_visibility=None,
        query_points=None, points_from_depth=rec.points_from_depth[pick],
    )
    return with_cameras(copies, extrinsics)


def test_copies_of_one_photo_are_declined(truth):
    copies = copies_of_one_frame(truth)
    result = refine(copies, points_per_frame=POINTS_PER_FRAME)
    report = result.report
    assert not report.refined, report.message
    assert report.accepted is False and "degenerate geometry" in report.rejection_reason
    assert "do not move between the frames" in report.rejection_reason
    assert result.reconstruction is copies


def test_intrinsics_are_shared_by_default(truth):
    """The default adjusts one focal length for all frames: it cannot drift frame by frame."""
    skewed = truth.intrinsics.astype(np.float64)
    skewed[:, 0, 0] *= np.array([1.03, 0.98, 1.05, 1.0, 0.97])[:, None][:, 0]
    result = refine(with_cameras(truth, truth.extrinsics, skewed), points_per_frame=POINTS_PER_FRAME)
    assert result.report.accepted is True and result.colmap_model.num_cameras() == 1
    focal = result.reconstruction.intrinsics[:, [0, 1], [0, 1]]
    np.testing.assert_array_equal(focal, focal[0, 0])
