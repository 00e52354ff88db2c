"""Windowed reconstruction and Sim(3) stitching, tested without a model: a synthetic 160-frame loop.

Each window's "prediction" is the ground truth seen through the window's own random Sim(3), with per-frame
camera noise (0.3 degrees, 0.005 units; the depth points are unprojected with the noisy camera, as the model
does), 1 % depth noise and random confidences, so joins carry real errors and drift accumulates.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from vggt_py.evaluation import absolute_trajectory_error
from vggt_py.geometry import similarity_matrix, umeyama, transform_extrinsics, transform_points
from vggt_py.inference.reconstruction import Reconstruction
from vggt_py.inference.windowed import (
    check_window,
    detect_loops,
    select_keyframes,
    stitch_windows,
    window_starts,
)

H, W = 12, 16
K = np.array([[12.0, 0.0, 7.5], [0.0, 12.0, 5.5], [0.0, 0.0, 1.0]])
ROOM, CIRCLE = 6.0, 2.0  # cylinder wall radius, camera circle radius
TEXTURE = np.random.default_rng(7).uniform(0, 0.3, size=(2, 12)) * [[1.0], [20.0]]  # wall: random Fourier series


def loop_trajectory(frames: int = 160, turns: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """GT camera-from-world [S, 3, 4] on a circle looking outward-forward, and depth [S, H, W] of the wall."""
    ext, depth = np.zeros((frames, 3, 4)), np.zeros((frames, H, W))
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)  # z = 1
    for i in range(frames):
        theta = 2 * np.pi * turns * i / frames
        centre = CIRCLE * np.array([np.cos(theta), 0.0, np.sin(theta)])
        view = np.array([np.cos(theta + 1.0), 0.0, np.sin(theta + 1.0)])
        down = np.array([0.0, 1.0, 0.0])
        world_from_cam = np.stack([np.cross(down, view), down, view], axis=1)
        ext[i, :, :3] = world_from_cam.T
        ext[i, :, 3] = -world_from_cam.T @ centre
        d = rays @ world_from_cam.T  # [H, W, 3] world directions
        a = d[..., 0] ** 2 + d[..., 2] ** 2
        b = 2 * (centre[0] * d[..., 0] + centre[2] * d[..., 2])
        c = centre[0] ** 2 + centre[2] ** 2 - ROOM**2
        depth[i] = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    return ext, depth


class FakePredictor:
    """Ground truth through a random Sim(3) per call, plus noise; a corrupted frame ruins its whole window."""

    def __init__(self, ext: np.ndarray, depth: np.ndarray, corrupted: int | None = None, seed: int = 0) -> None:
        self.ext, self.depth, self.corrupted, self.seed = ext, depth, corrupted, seed
        self.calls: list[list[int]] = []

    def __call__(self, frames):
        frames = list(frames)
        self.calls.append(frames)
        rng = np.random.default_rng([self.seed, len(self.calls), *frames])
        sim = similarity_matrix(
            float(rng.uniform(0.5, 2.0)), Rotation.random(random_state=rng).as_matrix(), rng.normal(size=3)
        )
        count = len(frames)
        ext = np.zeros((count, 3, 4))
        depth = np.zeros((count, H, W), dtype=np.float32)
        points = np.zeros((count, H, W, 3), dtype=np.float32)
        colors = np.zeros((count, H, W, 3), dtype=np.uint8)
        v, u = np.mgrid[0:H, 0:W].astype(np.float64)
        for k, f in enumerate(frames):
            noise_r = Rotation.from_rotvec(rng.normal(scale=np.radians(0.3), size=3)).as_matrix()
            e = self.ext[f].copy()
            e[:, :3] = noise_r @ e[:, :3]
            e[:, 3] = noise_r @ e[:, 3] + rng.normal(scale=0.005, size=3)
            z = self.depth[f] * (1 + rng.normal(scale=0.01, size=(H, W)))
            if self.corrupted is not None and self.corrupted in frames:
                z = rng.uniform(0.5, 20.0, size=(H, W))
            cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], -1)
            world = (cam - e[:, 3]) @ e[:, :3]  # R^T (X_c - t)
            gt_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1) * self.depth[f][..., None]
            gt_world = (gt_cam - self.ext[f][:, 3]) @ self.ext[f][:, :3]
            angle = np.arctan2(gt_world[..., 2], gt_world[..., 0])
            texture = np.einsum("k,hwk->hw", TEXTURE[0], np.sin(np.arange(1, 13) * angle[..., None] + TEXTURE[1]))
            texture += np.sin(2 * gt_world[..., 1])
            colors[k] = np.clip(127 + 50 * texture, 0, 255)[..., None].astype(np.uint8)
            ext[k] = transform_extrinsics(sim, e)
            depth[k] = z * np.linalg.det(sim[:3, :3]) ** (1 / 3)
            points[k] = transform_points(sim, world)
        return Reconstruction(
            extrinsics=ext.astype(np.float32),
            intrinsics=np.tile(K.astype(np.float32), (count, 1, 1)),
            depth=depth,
            depth_conf=rng.uniform(1.0, 3.0, size=(count, H, W)).astype(np.float32),
            points_from_depth=points,
            colors=colors,
            names=[f"frame{f:03d}.png" for f in frames],
            original_sizes=np.tile([W, H], (count, 1)),
            transforms=np.tile(np.eye(3), (count, 1, 1)),
            valid_regions=np.tile([0, 0, W, H], (count, 1)),
            pose_encoding=np.zeros((count, 9), dtype=np.float32),
        )


@pytest.fixture(scope="module")
def loop():
    return loop_trajectory()


def test_window_plan_and_bad_arguments() -> None:
    assert window_starts(10, 4, 1) == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    assert window_starts(3, 4, 1) == [[0, 1, 2]]
    with pytest.raises(ValueError, match="window must be larger than overlap"):
        check_window(4, 4)
    with pytest.raises(ValueError, match="window: expected"):
        check_window(1, 0)
    with pytest.raises(ValueError, match="overlap: expected"):
        check_window(8, 0)


def test_stitched_long_trajectory_has_small_ate(loop) -> None:
    ext, depth = loop
    predict = FakePredictor(ext, depth)
    rec, report = stitch_windows(predict, len(ext), 16, 4)
    assert len(rec) == 160 and report.frames == list(range(160)) and not report.dropped_frames
    assert len(report.windows) == 13 and all(w.accepted for w in report.windows)
    assert max(len(call) for call in predict.calls) == 16  # never more than one window in one prediction
    ate = absolute_trajectory_error(rec.extrinsics, ext)
    # Loop of radius 2 (circumference 12.6): the stitched trajectory stays within 0.15 units RMS.
    assert ate["ate_rmse"] < 0.15
    # The world is the first window's, and later frames' depth points agree with their cameras.
    np.testing.assert_allclose(rec.extrinsics[:1], predict_first(predict, ext, depth), atol=1e-5)
    cam = np.einsum("ij,hwj->hwi", rec.extrinsics[100, :, :3], rec.points_from_depth[100]) + rec.extrinsics[100, :, 3]
    np.testing.assert_allclose(cam[..., 2], rec.depth[100], rtol=1e-4)
    assert rec.metadata["windowed"]["window"] == 16


def predict_first(predict: FakePredictor, ext: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Window 0's own prediction of frame 0 (the stitched world is that window's)."""
    again = FakePredictor(ext, depth, seed=predict.seed)
    return again(predict.calls[0]).extrinsics[:1]


def test_loop_closure_reduces_drift(loop) -> None:
    ext, depth = loop
    open_rec, _ = stitch_windows(FakePredictor(ext, depth, seed=3), len(ext), 16, 4)
    closed_rec, report = stitch_windows(FakePredictor(ext, depth, seed=3), len(ext), 16, 4, loop_pairs=[(2, 157)])
    assert [loop.accepted for loop in report.loops] == [True]
    assert report.pose_graph_cost is not None and report.pose_graph_cost[1] < report.pose_graph_cost[0]
    open_ate = absolute_trajectory_error(open_rec.extrinsics, ext)["ate_rmse"]
    closed_ate = absolute_trajectory_error(closed_rec.extrinsics, ext)["ate_rmse"]
    assert closed_ate < 0.9 * open_ate, (open_ate, closed_ate)  # measured 0.031 -> 0.024
    open_drift, closed_drift = end_drift(open_rec, ext), end_drift(closed_rec, ext)
    assert closed_drift < 0.6 * open_drift, (open_drift, closed_drift)  # measured 0.114 -> 0.051


def end_drift(rec: Reconstruction, ext: np.ndarray) -> float:
    """Mean centre error of the last 16 frames after aligning the first 16 (the accumulated drift)."""
    p = -np.einsum("sji,sj->si", rec.extrinsics[:, :, :3].astype(np.float64), rec.extrinsics[:, :, 3])
    q = -np.einsum("sji,sj->si", ext[:, :, :3], ext[:, :, 3])
    s, r, t = umeyama(torch.from_numpy(p[:16].copy()), torch.from_numpy(q[:16].copy()))
    moved = float(s) * p @ r.numpy().T + t.numpy()
    return float(np.linalg.norm(moved[-16:] - q[-16:], axis=1).mean())


def test_loop_detected_by_descriptor(loop) -> None:
    ext, depth = loop
    colors = FakePredictor(ext, depth)(list(range(len(ext)))).colors
    pairs = detect_loops(colors, min_gap=32)
    assert pairs and all(b - a >= 32 for a, b in pairs)
    assert pairs[0] == (0, 159)  # the best match: start and end of the loop see the same wall


def test_corrupted_window_rejected_not_propagated(loop) -> None:
    ext, depth = loop
    rec, report = stitch_windows(FakePredictor(ext, depth, corrupted=70), len(ext), 16, 4)
    rejected = report.rejected_windows
    assert len(rejected) == 1 and 70 in rejected[0].frames and rejected[0].inlier_ratio < 0.5
    assert 70 in report.dropped_frames and len(report.dropped_frames) == 12
    assert len(rec) == 160 - 12 and 70 not in report.frames
    ate = absolute_trajectory_error(rec.extrinsics, ext[report.frames])
    assert ate["ate_rmse"] < 0.15  # the frames after the bad window are still placed correctly


def test_keyframes_skip_duplicates() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(4, 8, 8, 3), dtype=np.uint8)
    frames = np.repeat(base, [3, 1, 2, 1], axis=0)  # 7 frames, duplicates of 4 distinct views
    assert select_keyframes(frames) == [0, 3, 4, 6]
    with pytest.raises(ValueError, match="min_change"):
        select_keyframes(frames, -1.0)


def test_bad_loop_pairs(loop) -> None:
    ext, depth = loop
    with pytest.raises(ValueError, match="loop_pairs"):
        stitch_windows(FakePredictor(ext[:20], depth[:20]), 20, 8, 2, loop_pairs=[(0, 25)])
