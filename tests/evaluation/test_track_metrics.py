import numpy as np
import pytest

from vggt_py.evaluation import track_metrics


def _tracks(num_frames: int = 4, num_points: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 500, size=(num_frames, num_points, 2))


def test_offset_of_3_px():
    gt = _tracks()
    pred = gt + np.array([3.0, 0.0])
    metrics = track_metrics(pred, gt)
    assert metrics["epe"] == pytest.approx(3.0)
    # 3 px is within 4, 8 and 16 but not 1 or 2: delta_avg = 3/5.
    assert metrics["delta_avg"] == pytest.approx(0.6)
    assert metrics["delta<1"] == 0.0 and metrics["delta<4"] == 1.0
    assert metrics["visible_points"] == 30  # frame 0 (queries) left out


def test_thresholds_are_scaled_to_256_px():
    gt = _tracks()
    pred = gt + np.array([3.0, 0.0])
    # 512 x 512 images: 3 px becomes 1.5 px at 256, within 2, 4, 8 and 16.
    assert track_metrics(pred, gt, image_hw=(512, 512))["delta_avg"] == pytest.approx(0.8)
    # The x offset is scaled by 256 / W only: 3 * 256 / 1024 = 0.75 px, within every threshold.
    metrics = track_metrics(pred, gt, image_hw=(128, 1024))
    assert metrics["delta_avg"] == pytest.approx(1.0) and metrics["epe"] == pytest.approx(3.0)


def test_invisible_points_and_the_query_frame_are_ignored():
    gt = _tracks()
    pred = gt + np.array([0.0, 2.0])
    pred[0] += 100.0  # the query frame
    visibility = np.ones(gt.shape[:2], dtype=bool)
    visibility[2, :5] = False
    pred[2, :5] += 1000.0
    metrics = track_metrics(pred, gt, visibility)
    assert metrics["epe"] == pytest.approx(2.0)
    assert metrics["visible_points"] == 25
    with_query = track_metrics(pred, gt, visibility, exclude_query_frame=False)
    assert with_query["visible_points"] == 35 and with_query["epe"] > 20


def test_non_finite_predictions_count_as_misses():
    gt = _tracks()
    pred = gt.copy()
    pred[1, 0] = np.nan
    metrics = track_metrics(pred, gt)
    assert metrics["delta_avg"] == pytest.approx(29 / 30)
    assert metrics["epe"] == np.inf


def test_bad_inputs_raise_value_error():
    gt = _tracks()
    with pytest.raises(ValueError, match="same shape"):
        track_metrics(gt[:, :5], gt)
    with pytest.raises(ValueError, match=r"\[S, N, 2\]"):
        track_metrics(gt[0], gt[0])
    with pytest.raises(ValueError, match="visibility_gt"):
        track_metrics(gt, gt, np.ones((4, 3), dtype=bool))
    with pytest.raises(ValueError, match="no visible"):
        track_metrics(gt[:1], gt[:1])
    with pytest.raises(ValueError, match="image_hw"):
        track_metrics(gt, gt, image_hw=(0, 10))
