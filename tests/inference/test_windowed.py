"""Windowed reconstruction and Sim(3) stitching, tested without a model: a synthetic 160-frame loop.

Each window's "prediction" is the ground truth seen through the window's own random Sim(3), with per-frame
camera noise (0.3 degrees, 0.005 units; the depth points are unprojected with the noisy camera, as the model
does), 1 % depth noise and random confidences, so joins carry real errors and drift accumulates.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from window_fakes import FakePredictor, loop_trajectory

from vggt_py.evaluation import absolute_trajectory_error
from vggt_py.geometry import umeyama
from vggt_py.inference.reconstruction import Reconstruction
from vggt_py.inference.windowed import (
    check_window,
    detect_loops,
    select_keyframes,
    stitch_windows,
    window_starts,
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
