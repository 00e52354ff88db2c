"""Known poses and metric anchors on a synthetic prediction with a known Sim(3) from the ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from window_fakes import FakePredictor, loop_trajectory

from vggt_py.evaluation import absolute_trajectory_error
from vggt_py.geometry import similarity_parts
from vggt_py.inference.anchors import align_to_poses, scale_by_depth, scale_by_distance
from vggt_py.inference.export import export_npz, load_npz


@pytest.fixture(scope="module")
def scene():
    ext, depth = loop_trajectory(frames=40, turns=0.25)  # GT in metric units (camera circle radius 2 m)
    frames = list(range(0, 40, 4))
    predicted = FakePredictor(ext, depth, seed=1)(frames)  # GT through a random Sim(3), plus noise
    return ext[frames], depth[frames], predicted


def _pose(ext: np.ndarray) -> np.ndarray:
    return np.vstack([ext, [0, 0, 0, 1]])


def test_two_poses_fix_the_scale(scene) -> None:
    gt, _, rec = scene
    assert rec.scale_source == "normalised"
    aligned = align_to_poses(rec, {0: _pose(gt[0]), 9: _pose(gt[9])})
    assert aligned.scale_source == "poses"
    ate = absolute_trajectory_error(aligned.extrinsics, gt, alignment="none")  # no alignment left to do
    assert ate["ate_rmse"] < 0.02  # metres; the fake's camera noise is 0.005 m per axis
    assert absolute_trajectory_error(aligned.extrinsics, gt)["scale"] == pytest.approx(1.0, abs=0.01)
    a, b = aligned.points_from_depth[2, 3, 4], aligned.points_from_depth[5, 6, 7]
    cam = lambda e, x: e[:, :3].T @ (x - e[:, 3])  # noqa: E731
    ga = cam(gt[2], np.array([(4 - 7.5) / 12, (3 - 5.5) / 12, 1.0]) * scene[1][2, 3, 4])
    gb = cam(gt[5], np.array([(7 - 7.5) / 12, (6 - 5.5) / 12, 1.0]) * scene[1][5, 6, 7])
    assert np.linalg.norm(a - b) == pytest.approx(np.linalg.norm(ga - gb), rel=0.03)  # metric distances
    assert rec.scale_source == "normalised"  # the input is not changed


def test_one_pose_fixes_rotation_and_translation_only(scene) -> None:
    gt, _, rec = scene
    aligned = align_to_poses(rec, {3: _pose(gt[3])})
    assert aligned.scale_source == "normalised"
    np.testing.assert_allclose(aligned.extrinsics[3, :, :3], gt[3, :, :3], atol=0.02)
    centre = -aligned.extrinsics[3, :, :3].T @ aligned.extrinsics[3, :, 3]
    np.testing.assert_allclose(centre, -gt[3, :, :3].T @ gt[3, :, 3], atol=0.02)


def test_distance_and_depth_anchors(scene, tmp_path: Path) -> None:
    gt, depth, rec = scene
    # GT distance between the wall points seen at original pixels (2, 2) and (13, 9) of frame 4
    rays = [np.array([(x - 7.5) / 12, (y - 5.5) / 12, 1.0]) * depth[4, y, x] for x, y in ((2, 2), (13, 9))]
    metric = scale_by_distance(rec, 4, (2, 2), (13, 9), float(np.linalg.norm(rays[0] - rays[1])))
    assert metric.scale_source == "distance"
    assert absolute_trajectory_error(metric.extrinsics, gt)["scale"] == pytest.approx(1.0, abs=0.03)
    by_map = scale_by_depth(rec, 4, depth[4])
    assert by_map.scale_source == "depth"
    np.testing.assert_allclose(np.median(by_map.depth[4] / depth[4]), 1.0, atol=1e-3)
    by_value = scale_by_depth(rec, 4, float(np.median(depth[4])))
    assert absolute_trajectory_error(by_value.extrinsics, gt)["scale"] == pytest.approx(1.0, abs=0.03)
    again = load_npz(export_npz(by_value, tmp_path / "r.npz"))
    assert again.scale_source == "depth"


def test_bad_inputs(scene) -> None:
    gt, _, rec = scene
    bent = _pose(gt[0])
    bent[:3, :3] *= 1.5
    with pytest.raises(ValueError, match=r"poses\[0\]: not rigid"):
        align_to_poses(rec, {0: bent})
    with pytest.raises(ValueError, match="poses: expected a frame index"):
        align_to_poses(rec, {12: _pose(gt[0])})
    with pytest.raises(ValueError, match=r"poses\[1\]: expected a finite 4x4"):
        align_to_poses(rec, {1: np.eye(3)})
    with pytest.raises(ValueError, match="share one centre"):
        align_to_poses(rec, {0: _pose(gt[0]), 1: _pose(gt[0])})
    with pytest.raises(ValueError, match="distance"):
        scale_by_distance(rec, 0, (1, 1), (5, 5), -2.0)
    with pytest.raises(ValueError, match="depth: expected a map"):
        scale_by_depth(rec, 0, np.ones((3, 3)))
    with pytest.raises(ValueError, match="frame"):
        scale_by_depth(rec, 99, 1.0)
