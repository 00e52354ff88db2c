import math

import numpy as np
import pytest
import torch

from vggt_py.evaluation import auc_from_errors, camera_metrics
from vggt_py.geometry import axis_angle_to_mat


def _cameras(num: int, seed: int = 0) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    rotation = axis_angle_to_mat(torch.randn(num, 3, generator=generator, dtype=torch.float64))
    translation = torch.randn(num, 3, 1, generator=generator, dtype=torch.float64)
    return torch.cat((rotation, translation), dim=-1).numpy()


def _rotate_about_centre(extrinsics: np.ndarray, frame: int, degrees: float) -> np.ndarray:
    out = extrinsics.copy()
    tilt = axis_angle_to_mat(torch.tensor([0.0, 0.0, math.radians(degrees)], dtype=torch.float64)).numpy()
    centre = -extrinsics[frame, :, :3].T @ extrinsics[frame, :, 3]
    out[frame, :, :3] = tilt @ extrinsics[frame, :, :3]
    out[frame, :, 3] = -out[frame, :, :3] @ centre
    return out


def test_identical_cameras_are_perfect():
    gt = _cameras(6)
    metrics = camera_metrics(gt, gt)
    for k in (5, 15, 30):
        assert metrics[f"auc@{k}"] == 1.0
        assert metrics[f"rra@{k}"] == 1.0 and metrics[f"rta@{k}"] == 1.0
    assert metrics["rot_err_deg_mean"] < 1e-5 and metrics["trans_err_deg_mean"] < 1e-5


def test_one_camera_rotated_by_10_5_degrees():
    # S = 3: pairs (0,1), (0,2) get a 10.5° rotation error and no translation error; pair (1,2) is exact.
    # Per-pair errors [10.5, 10.5, 0] fall in 1° bins 10, 10 and 0, so the cumulative fraction is 1/3 for
    # bins 0..9 and 1 from bin 10 on: AUC@30 = (10/3 + 20) / 30, AUC@15 = (10/3 + 5) / 15, AUC@5 = 1/3.
    gt = _cameras(3, seed=1)
    pred = _rotate_about_centre(gt, frame=0, degrees=10.5)
    metrics = camera_metrics(torch.from_numpy(pred), torch.from_numpy(gt))
    assert metrics["auc@30"] == pytest.approx((10 / 3 + 20) / 30)
    assert metrics["auc@15"] == pytest.approx((10 / 3 + 5) / 15)
    assert metrics["auc@5"] == pytest.approx(1 / 3)
    assert metrics["rra@5"] == pytest.approx(1 / 3) and metrics["rra@15"] == 1.0
    assert metrics["rta@5"] == 1.0
    assert metrics["rot_err_deg_mean"] == pytest.approx(7.0)
    assert metrics["rot_err_deg_median"] == pytest.approx(10.5)


def test_invariant_to_world_frame_and_scale_of_the_prediction():
    gt = _cameras(5, seed=2)
    q = axis_angle_to_mat(torch.tensor([0.2, -0.7, 0.4], dtype=torch.float64)).numpy()
    c = np.array([0.5, 1.0, -2.0])
    rotation = gt[:, :, :3] @ q.T
    pred = np.concatenate((rotation, (4.0 * gt[:, :, 3] - rotation @ c)[..., None]), axis=-1)
    metrics = camera_metrics(pred, gt)
    assert metrics["auc@5"] == 1.0 and metrics["trans_err_deg_mean"] < 1e-5


def test_sign_ambiguous_folds_reversed_translations():
    gt = _cameras(4, seed=3)
    pred = np.concatenate((gt[..., :3], -gt[..., 3:]), axis=-1)
    assert camera_metrics(pred, gt)["auc@30"] == 0.0
    assert camera_metrics(pred, gt, sign_ambiguous=True)["auc@30"] == 1.0


def test_auc_from_errors_known_values():
    # Bins [0,1) [1,2) [2,3) [3,4) [4,5]: cumulative fractions 1/3, 1/3, 2/3, 2/3, 2/3 -> mean 8/15.
    assert auc_from_errors(np.array([0.5, 2.5, 40.0]), 5) == pytest.approx(8 / 15)
    assert auc_from_errors(np.array([5.0]), 5) == pytest.approx(1 / 5)  # the last bin is closed
    assert auc_from_errors(np.array([5.01]), 5) == 0.0
    assert auc_from_errors(np.array([0.0, np.nan]), 5) == pytest.approx(0.5)  # NaN counts as a failure


def test_auc_equals_mean_accuracy_at_integer_thresholds():
    errors = np.random.default_rng(0).uniform(0, 40, size=200)
    expected = np.mean([(errors < k).mean() for k in range(1, 31)])
    assert auc_from_errors(errors, 30) == pytest.approx(expected)


def test_bad_inputs_raise_value_error():
    gt = _cameras(3)
    with pytest.raises(ValueError, match="S >= 2"):
        camera_metrics(gt[:1], gt[:1])
    with pytest.raises(ValueError, match="same S"):
        camera_metrics(gt, gt[:2])
    with pytest.raises(ValueError, match=r"\[S, 3, 4\]"):
        camera_metrics(gt[..., :3], gt[..., :3])
    with pytest.raises(ValueError, match="thresholds"):
        camera_metrics(gt, gt, thresholds=(0,))
    with pytest.raises(ValueError, match="empty"):
        auc_from_errors(np.zeros(0), 30)
    with pytest.raises(TypeError, match="numpy array"):
        camera_metrics(gt.tolist(), gt)
