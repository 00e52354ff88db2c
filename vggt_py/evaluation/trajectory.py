"""Trajectory metrics: ATE after Sim(3) alignment and RPE per step (TUM RGB-D benchmark definitions).

Both take camera-from-world extrinsics ``[S, 3, 4]`` (OpenCV axes) of the prediction and the ground truth.

* **ATE** (absolute trajectory error): the prediction's camera centres are aligned to the ground truth's
  by the least-squares similarity (Umeyama; ``alignment="rigid"`` fixes the scale to 1, ``"none"``
  aligns nothing), then ``ate_rmse`` / mean / median / max of the centre distances are reported, in the
  ground truth's units, with the alignment's ``scale``.
* **RPE** (relative pose error) over steps of ``delta`` frames: for each ``i`` the motion
  ``P_i^-1 P_{i+delta}`` of the (Sim(3)-aligned) prediction is compared with the ground truth's
  ``Q_i^-1 Q_{i+delta}`` (world-from-camera poses): ``rpe_trans_rmse`` is the RMS length of the error's
  translation (ground-truth units), ``rpe_rot_deg_mean`` the mean angle of its rotation in degrees.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from ..geometry import rotation_angle, umeyama
from ._convert import as_float64

__all__ = ["absolute_trajectory_error", "relative_pose_error", "trajectory_metrics"]

TrajectoryAlignment = Literal["similarity", "rigid", "none"]


def _poses(value: object, name: str) -> np.ndarray:
    """World-from-camera ``[S, 4, 4]`` float64 from camera-from-world ``[S, 3|4, 4]``."""
    ext = as_float64(value, name).cpu().numpy()
    if ext.ndim != 3 or ext.shape[1:] not in ((3, 4), (4, 4)) or ext.shape[0] < 2:
        raise ValueError(f"{name}: expected shape [S, 3, 4] with S >= 2, got {list(ext.shape)}")
    if not np.isfinite(ext).all():
        raise ValueError(f"{name}: expected finite extrinsics, got non-finite values")
    rot, trans = ext[:, :3, :3], ext[:, :3, 3]
    poses = np.tile(np.eye(4), (ext.shape[0], 1, 1))
    poses[:, :3, :3] = np.transpose(rot, (0, 2, 1))
    poses[:, :3, 3] = -np.einsum("sji,sj->si", rot, trans)
    return poses


def _check_pair(pred: object, gt: object) -> tuple[np.ndarray, np.ndarray]:
    p, q = _poses(pred, "extrinsics_pred"), _poses(gt, "extrinsics_gt")
    if p.shape[0] != q.shape[0]:
        raise ValueError(f"extrinsics_pred and extrinsics_gt: expected the same S, got {p.shape[0]} and {q.shape[0]}")
    return p, q


def _align(p: np.ndarray, q: np.ndarray, alignment: TrajectoryAlignment) -> tuple[float, np.ndarray, np.ndarray]:
    """``(s, R, t)`` mapping the predicted centres onto the ground-truth centres."""
    if alignment == "none":
        return 1.0, np.eye(3), np.zeros(3)
    if alignment not in ("similarity", "rigid"):
        raise ValueError(f"alignment must be 'similarity', 'rigid' or 'none', got {alignment!r}")
    if p.shape[0] < 3:
        raise ValueError(f"{alignment} alignment needs at least 3 cameras, got {p.shape[0]}")
    s, r, t = umeyama(
        torch.from_numpy(p[:, :3, 3].copy()), torch.from_numpy(q[:, :3, 3].copy()), with_scale=alignment == "similarity"
    )
    return float(s), r.numpy(), t.numpy()


def _aligned(p: np.ndarray, s: float, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    out = p.copy()
    out[:, :3, :3] = r @ p[:, :3, :3]
    out[:, :3, 3] = s * p[:, :3, 3] @ r.T + t
    return out


def absolute_trajectory_error(
    extrinsics_pred: np.ndarray | torch.Tensor,
    extrinsics_gt: np.ndarray | torch.Tensor,
    alignment: TrajectoryAlignment = "similarity",
) -> dict[str, float]:
    """``ate_rmse``, ``ate_mean``, ``ate_median``, ``ate_max`` (ground-truth units) and the alignment ``scale``."""
    p, q = _check_pair(extrinsics_pred, extrinsics_gt)
    s, r, t = _align(p, q, alignment)
    errors = np.linalg.norm(_aligned(p, s, r, t)[:, :3, 3] - q[:, :3, 3], axis=1)
    return {
        "ate_rmse": float(np.sqrt(np.mean(errors**2))),
        "ate_mean": float(errors.mean()),
        "ate_median": float(np.median(errors)),
        "ate_max": float(errors.max()),
        "scale": s,
    }


def relative_pose_error(
    extrinsics_pred: np.ndarray | torch.Tensor,
    extrinsics_gt: np.ndarray | torch.Tensor,
    delta: int = 1,
    alignment: TrajectoryAlignment = "similarity",
) -> dict[str, float]:
    """``rpe_trans_rmse``, ``rpe_trans_mean`` (ground-truth units), ``rpe_rot_deg_mean`` / ``_rmse`` over steps of ``delta``.

    The prediction is first brought to the ground truth's scale by the same alignment as the ATE (only
    the scale matters for relative motions).
    """
    if isinstance(delta, bool) or not isinstance(delta, int) or delta < 1:
        raise ValueError(f"delta: expected a positive int, got {delta!r}")
    p, q = _check_pair(extrinsics_pred, extrinsics_gt)
    if delta >= p.shape[0]:
        raise ValueError(f"delta: expected fewer than the {p.shape[0]} frames, got {delta}")
    s, r, t = _align(p, q, alignment) if p.shape[0] >= 3 or alignment == "none" else (1.0, np.eye(3), np.zeros(3))
    p = _aligned(p, s, r, t)
    motion_p = np.linalg.inv(p[:-delta]) @ p[delta:]  # [S - delta, 4, 4]
    motion_q = np.linalg.inv(q[:-delta]) @ q[delta:]
    error = np.linalg.inv(motion_q) @ motion_p
    trans = np.linalg.norm(error[:, :3, 3], axis=1)
    angles = rotation_angle(torch.from_numpy(np.ascontiguousarray(error[:, :3, :3]))).numpy()
    return {
        "rpe_trans_rmse": float(np.sqrt(np.mean(trans**2))),
        "rpe_trans_mean": float(trans.mean()),
        "rpe_rot_deg_mean": float(angles.mean()),
        "rpe_rot_deg_rmse": float(np.sqrt(np.mean(angles**2))),
    }


def trajectory_metrics(
    extrinsics_pred: np.ndarray | torch.Tensor,
    extrinsics_gt: np.ndarray | torch.Tensor,
    delta: int = 1,
    alignment: TrajectoryAlignment = "similarity",
) -> dict[str, float]:
    """:func:`absolute_trajectory_error` and :func:`relative_pose_error` in one dict."""
    return {
        **absolute_trajectory_error(extrinsics_pred, extrinsics_gt, alignment),
        **relative_pose_error(extrinsics_pred, extrinsics_gt, delta, alignment),
    }
