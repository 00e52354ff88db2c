"""Known-value tests of ATE and RPE."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vggt_py.evaluation import absolute_trajectory_error, evaluate_reconstruction, relative_pose_error
from vggt_py.geometry import similarity_matrix, transform_extrinsics


def _line(count: int = 5) -> np.ndarray:
    """Cameras with identity rotation at centres (i, 0, 0): t = -C."""
    ext = np.zeros((count, 3, 4))
    ext[:, :, :3] = np.eye(3)
    ext[:, 0, 3] = -np.arange(count, dtype=np.float64)
    return ext


def test_ate_is_zero_up_to_similarity_and_recovers_scale() -> None:
    gt = _line()
    sim = similarity_matrix(0.25, Rotation.from_euler("xyz", [10, 20, 30], degrees=True).as_matrix(), [1.0, 2, 3])
    pred = transform_extrinsics(sim, gt)
    ate = absolute_trajectory_error(pred, gt)
    assert ate["ate_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert ate["scale"] == pytest.approx(4.0)
    rpe = relative_pose_error(pred, gt)
    assert rpe["rpe_trans_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert rpe["rpe_rot_deg_mean"] == pytest.approx(0.0, abs=1e-6)
    assert absolute_trajectory_error(pred, gt, "none")["ate_rmse"] > 1.0


def test_ate_known_value() -> None:
    gt = _line(4)
    pred = gt.copy()
    pred[:, 1, 3] = np.array([1.0, -1.0, 1.0, -1.0]) * 0.1  # centres shifted -+0.1 in y
    ate = absolute_trajectory_error(pred, gt, "none")
    assert ate["ate_rmse"] == pytest.approx(0.1, rel=1e-9)
    assert ate["ate_max"] == pytest.approx(0.1, rel=1e-9) and ate["scale"] == 1.0
    shifted = gt.copy()
    shifted[:, 2, 3] += 0.5  # a common shift: removed by the rigid alignment, not by none
    assert absolute_trajectory_error(shifted, gt, "rigid")["ate_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert absolute_trajectory_error(shifted, gt, "none")["ate_rmse"] == pytest.approx(0.5)


def test_rpe_known_values() -> None:
    gt = _line(3)
    pred = gt.copy()
    turn = Rotation.from_euler("z", 2, degrees=True).as_matrix()
    pred[2, :, :3] = turn  # the last camera turned by 2 degrees about its centre
    pred[2, :, 3] = -turn @ np.array([2.0, 0.0, 0.0])
    rpe = relative_pose_error(pred, gt, alignment="none")
    assert rpe["rpe_rot_deg_mean"] == pytest.approx(1.0)  # steps: 0 and 2 degrees
    assert rpe["rpe_trans_rmse"] == pytest.approx(0.0, abs=1e-12)
    assert relative_pose_error(pred, gt, delta=2, alignment="none")["rpe_rot_deg_mean"] == pytest.approx(2.0)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="extrinsics_pred"):
        absolute_trajectory_error(np.zeros((1, 3, 4)), np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="same S"):
        absolute_trajectory_error(_line(3), _line(4))
    with pytest.raises(ValueError, match="delta"):
        relative_pose_error(_line(3), _line(3), delta=3)
    with pytest.raises(ValueError, match="alignment"):
        absolute_trajectory_error(_line(3), _line(3), "affine")  # type: ignore[arg-type]


def test_evaluate_reconstruction_reports_trajectory() -> None:
    metrics = evaluate_reconstruction({"extrinsics": _line(4)}, {"extrinsics": _line(4)})
    assert metrics["trajectory/ate_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert "trajectory/rpe_rot_deg_mean" in metrics
