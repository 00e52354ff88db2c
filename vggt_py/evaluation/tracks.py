"""Point-track metrics: end-point error and TAP-Vid's ``delta_avg`` on visible ground-truth points.

``epe`` is the mean pixel distance between predicted and ground-truth positions. ``delta_avg`` is the
TAP-Vid "< δ^x_avg" position accuracy: the fraction of points closer than ``δ`` to the ground truth,
averaged over ``δ ∈ {1, 2, 4, 8, 16}`` pixels. TAP-Vid measures these thresholds on frames resized to
256 x 256, so when ``image_hw`` is given the x and y offsets are scaled by ``256 / W`` and ``256 / H`` first
(``epe`` stays in original pixels). Both use only points visible in the ground truth; by default frame 0,
which holds the query points in VGGT's convention, is left out as TAP-Vid leaves out query points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ._convert import as_float64, as_mask

__all__ = ["TAPVID_RESOLUTION", "TAPVID_THRESHOLDS", "track_metrics"]

TAPVID_THRESHOLDS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
TAPVID_RESOLUTION = 256


def track_metrics(
    tracks_pred: np.ndarray | torch.Tensor,
    tracks_gt: np.ndarray | torch.Tensor,
    visibility_gt: np.ndarray | torch.Tensor | None = None,
    image_hw: tuple[int, int] | None = None,
    exclude_query_frame: bool = True,
    thresholds: Sequence[float] = TAPVID_THRESHOLDS,
) -> dict[str, float]:
    """End-point error and ``delta_avg`` of 2-D tracks.

    Args:
        tracks_pred: ``[S, N, 2]`` predicted ``(x, y)`` pixel positions.
        tracks_gt: ``[S, N, 2]`` ground truth.
        visibility_gt: optional ``[S, N]`` bool, True where the point is visible (default: all visible).
        image_hw: ``(H, W)`` of the images; if given, ``delta_avg`` thresholds are applied at TAP-Vid's
            256 x 256 resolution, else directly in pixels.
        exclude_query_frame: leave frame 0 (the query frame) out.
        thresholds: pixel thresholds averaged by ``delta_avg``.

    Returns:
        ``epe``, ``delta_avg``, ``delta<k`` for each threshold ``k`` and ``visible_points`` (the count used).
    """
    pred = as_float64(tracks_pred, "tracks_pred")
    gt = as_float64(tracks_gt, "tracks_gt").to(pred.device)
    for name, value in (("tracks_pred", pred), ("tracks_gt", gt)):
        if value.ndim != 3 or value.shape[-1] != 2:
            raise ValueError(f"{name}: expected shape [S, N, 2], got {list(value.shape)}")
    if pred.shape != gt.shape:
        raise ValueError(
            f"tracks_pred and tracks_gt: expected the same shape, got {list(pred.shape)} and {list(gt.shape)}"
        )
    if len(thresholds) == 0 or any(float(t) <= 0 for t in thresholds):
        raise ValueError(f"thresholds: expected positive pixel values, got {thresholds!r}")
    visible = torch.isfinite(gt).all(-1)
    if visibility_gt is not None:
        mask = as_mask(visibility_gt, "visibility_gt").to(pred.device)
        if mask.shape != visible.shape:
            raise ValueError(f"visibility_gt: expected shape {list(visible.shape)}, got {list(mask.shape)}")
        visible &= mask
    if exclude_query_frame:
        visible[0] = False
    if not bool(visible.any()):
        raise ValueError("tracks: no visible ground-truth point to evaluate (frame 0 is excluded by default)")

    offset = (pred - gt)[visible]  # [V, 2]; a non-finite prediction gives an infinite / NaN error
    offset = torch.where(torch.isfinite(offset), offset, torch.full_like(offset, float("inf")))
    metrics = {"epe": torch.linalg.vector_norm(offset, dim=-1).mean().item()}
    if image_hw is not None:
        height, width = image_hw
        if height <= 0 or width <= 0:
            raise ValueError(f"image_hw: expected positive (H, W), got {image_hw!r}")
        offset = offset * offset.new_tensor([TAPVID_RESOLUTION / width, TAPVID_RESOLUTION / height])
    distance = torch.linalg.vector_norm(offset, dim=-1)
    fractions = []
    for threshold in thresholds:
        fraction = (distance < threshold).double().mean().item()
        metrics[f"delta<{threshold:g}"] = fraction
        fractions.append(fraction)
    metrics["delta_avg"] = float(np.mean(fractions))
    metrics["visible_points"] = float(visible.sum().item())
    return metrics
