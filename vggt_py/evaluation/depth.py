"""Depth metrics after median scale alignment: AbsRel and δ < 1.25.

Predicted depth is known only up to scale, so it is first multiplied by
``s = median(gt) / median(pred)`` over the valid pixels, one ``s`` per frame (``alignment="frame"``) or
per scene (``"scene"``), or left as is (``"none"``). Then, over all valid pixels of the scene:
``abs_rel = mean(|d - d*| / d*)`` and ``delta<1.25 = fraction with max(d / d*, d* / d) < 1.25`` (a
non-positive prediction never counts as within the threshold).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from ._convert import as_float64, as_mask

__all__ = ["DepthAlignment", "depth_metrics", "masked_median"]

DepthAlignment = Literal["frame", "scene", "none"]
_ALIGNMENTS = ("frame", "scene", "none")


def masked_median(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Median of ``values[mask]`` (the mean of the two middle values for an even count; NaN if empty)."""
    selected = values[mask]
    count = selected.numel()
    if count == 0:
        return torch.tensor(float("nan"), dtype=values.dtype, device=values.device)
    upper = torch.kthvalue(selected, count // 2 + 1).values
    if count % 2:
        return upper
    return 0.5 * (torch.kthvalue(selected, count // 2).values + upper)


def _as_depth(value: object, name: str) -> torch.Tensor:
    depth = as_float64(value, name)
    if depth.ndim == 4 and depth.shape[-1] == 1:
        depth = depth[..., 0]
    if depth.ndim != 3:
        raise ValueError(f"{name}: expected shape [S, H, W] or [S, H, W, 1], got {list(depth.shape)}")
    return depth


def depth_metrics(
    depth_pred: np.ndarray | torch.Tensor,
    depth_gt: np.ndarray | torch.Tensor,
    valid_mask: np.ndarray | torch.Tensor | None = None,
    alignment: DepthAlignment = "frame",
) -> dict[str, float]:
    """AbsRel and δ < 1.25 of a scene's depth maps after median scale alignment.

    Args:
        depth_pred: ``[S, H, W]`` (or ``[S, H, W, 1]``) predicted z-depth.
        depth_gt: same shape, ground truth.
        valid_mask: optional ``[S, H, W]`` bool; pixels also need a finite prediction and a finite
            ground truth ``> 0``.
        alignment: ``"frame"``, ``"scene"`` or ``"none"`` (see the module docstring).

    Returns:
        ``abs_rel``, ``delta<1.25`` and ``valid_pixels`` (the count used).
    """
    if alignment not in _ALIGNMENTS:
        raise ValueError(f"alignment: expected one of {_ALIGNMENTS}, got {alignment!r}")
    pred = _as_depth(depth_pred, "depth_pred")
    gt = _as_depth(depth_gt, "depth_gt").to(pred.device)
    if pred.shape != gt.shape:
        raise ValueError(
            f"depth_pred and depth_gt: expected the same shape, got {list(pred.shape)} and {list(gt.shape)}"
        )
    valid = torch.isfinite(pred) & torch.isfinite(gt) & (gt > 0)
    if valid_mask is not None:
        mask = as_mask(valid_mask, "valid_mask").to(pred.device)
        if mask.shape != gt.shape:
            raise ValueError(f"valid_mask: expected shape {list(gt.shape)}, got {list(mask.shape)}")
        valid &= mask
    if not bool(valid.any()):
        raise ValueError("depth: no valid pixel (finite prediction, finite ground truth > 0, inside valid_mask)")

    if alignment == "scene":
        pred = pred * (masked_median(gt, valid) / masked_median(pred, valid))
    elif alignment == "frame":
        scales = torch.stack(
            [masked_median(g, v) / masked_median(p, v) for p, g, v in zip(pred, gt, valid, strict=True)]
        )
        pred = pred * scales[:, None, None]  # frames without valid pixels get NaN, but are not used

    aligned, reference = pred[valid], gt[valid]
    abs_rel = ((aligned - reference).abs() / reference).mean()
    ratio = torch.maximum(aligned / reference, reference / aligned)
    within = (aligned > 0) & (ratio < 1.25)
    return {
        "abs_rel": abs_rel.item(),
        "delta<1.25": within.double().mean().item(),
        "valid_pixels": float(valid.sum().item()),
    }
