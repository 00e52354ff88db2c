"""Camera pose metrics as reported by VGGT: RRA@k, RTA@k and AUC@k over all frame pairs.

For every pair ``i < j`` the relative poses of prediction and ground truth are compared
(:func:`vggt_py.geometry.pairwise_pose_errors`): a rotation error and a translation-direction error, in
degrees. RRA@k / RTA@k are the fractions of pairs whose rotation / translation error is below ``k``.
AUC@k follows the VGGT / PoseDiffusion evaluation code: the per-pair error is ``max(rot, trans)``;
errors are binned into 1° bins ``[0, 1), [1, 2), ..., [k-1, k]``; AUC@k is the mean over the ``k`` bins of
the cumulative fraction of pairs (so an error in ``[b, b+1)`` counts from bin ``b`` on, and errors above
``k`` or NaN never count).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..geometry import pairwise_pose_errors
from ._convert import as_float64

__all__ = ["DEFAULT_THRESHOLDS", "auc_from_errors", "camera_metrics"]

DEFAULT_THRESHOLDS: tuple[int, ...] = (5, 15, 30)


def _check_thresholds(thresholds: Sequence[int]) -> tuple[int, ...]:
    if len(thresholds) == 0 or not all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in thresholds):
        raise ValueError(f"thresholds: expected positive ints (degrees), got {thresholds!r}")
    return tuple(thresholds)


def auc_from_errors(errors: np.ndarray | torch.Tensor, threshold: int) -> float:
    """AUC@threshold of per-pair errors in degrees (histogram of 1° bins, mean cumulative fraction).

    Args:
        errors: ``[M]`` per-pair errors, normally ``max(rotation_error, translation_error)``.
        threshold: the largest error (degrees, positive int) that still counts.

    Returns:
        A value in ``[0, 1]``: 1 when every error is below 1°, 0 when none is within ``threshold``.
    """
    _check_thresholds((threshold,))
    values = as_float64(errors, "errors").reshape(-1).cpu().numpy()
    if values.size == 0:
        raise ValueError("errors: expected at least one value, got an empty array")
    histogram, _ = np.histogram(values[~np.isnan(values)], bins=np.arange(threshold + 1))
    return float(np.mean(np.cumsum(histogram / values.size)))


def camera_metrics(
    extrinsics_pred: np.ndarray | torch.Tensor,
    extrinsics_gt: np.ndarray | torch.Tensor,
    thresholds: Sequence[int] = DEFAULT_THRESHOLDS,
    sign_ambiguous: bool = False,
) -> dict[str, float]:
    """Relative pose errors over all frame pairs and the derived RRA, RTA and AUC.

    Args:
        extrinsics_pred: ``[S, 3, 4]`` camera-from-world (OpenCV) predicted extrinsics, ``S >= 2``.
        extrinsics_gt: ``[S, 3, 4]`` ground truth; its world frame and scale may differ from the prediction's.
        thresholds: angles ``k`` in degrees for ``rra@k``, ``rta@k`` and ``auc@k``.
        sign_ambiguous: fold translation angles to ``min(θ, 180° - θ)`` like the released VGGT script.

    Returns:
        ``rra@k``, ``rta@k``, ``auc@k`` for each ``k``, and the mean / median of ``rot_err_deg`` and
        ``trans_err_deg`` over the ``S (S - 1) / 2`` pairs.
    """
    thresholds = _check_thresholds(thresholds)
    pred = as_float64(extrinsics_pred, "extrinsics_pred")
    gt = as_float64(extrinsics_gt, "extrinsics_gt").to(pred.device)
    for name, value in (("extrinsics_pred", pred), ("extrinsics_gt", gt)):
        if value.ndim != 3 or value.shape[1:] not in ((3, 4), (4, 4)) or value.shape[0] < 2:
            raise ValueError(f"{name}: expected shape [S, 3, 4] with S >= 2, got {list(value.shape)}")
    if pred.shape[0] != gt.shape[0]:
        raise ValueError(
            f"extrinsics_pred and extrinsics_gt: expected the same S, got {pred.shape[0]} and {gt.shape[0]}"
        )
    rotation_error, translation_error = pairwise_pose_errors(pred, gt, sign_ambiguous=sign_ambiguous)
    pair_error = torch.maximum(rotation_error, translation_error)  # NaN propagates (counts as a failure)
    metrics: dict[str, float] = {}
    for k in thresholds:
        metrics[f"rra@{k}"] = (rotation_error < k).double().mean().item()
        metrics[f"rta@{k}"] = (translation_error < k).double().mean().item()
    for k in thresholds:
        metrics[f"auc@{k}"] = auc_from_errors(pair_error, k)
    metrics["rot_err_deg_mean"] = rotation_error.mean().item()
    metrics["rot_err_deg_median"] = rotation_error.quantile(0.5).item()
    metrics["trans_err_deg_mean"] = translation_error.mean().item()
    metrics["trans_err_deg_median"] = translation_error.quantile(0.5).item()
    return metrics
