"""Angular errors between camera poses (the quantities behind RRA, RTA and pose AUC).

Relative pose of the pair ``(i, j)`` is ``T_j T_i^{-1}`` (camera ``j`` from camera ``i``), which does not
depend on the world frame; the translation error compares directions only, so it is also scale-free.
The released VGGT Co3D script instead composes ``T_i^{-1} T_j`` of its camera-from-world matrices (for
which the translation part depends on the world frame, so it first moves the ground truth into camera 0's
frame) and folds translation angles to ``min(θ, 180° - θ)``; ``sign_ambiguous=True`` gives the latter.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_rigid, check_tensor, shape_str
from .camera import se3_inverse
from .rotation import rotation_angle

__all__ = [
    "pair_indices",
    "pairwise_pose_errors",
    "relative_poses",
    "relative_rotation_error",
    "translation_direction_error",
]


def relative_rotation_error(rotation_pred: torch.Tensor, rotation_gt: torch.Tensor) -> torch.Tensor:
    """Angle in degrees of ``R_pred^T R_gt``, the rotation taking one estimate to the other.

    Args:
        rotation_pred: ``[..., 3, 3]``.
        rotation_gt: ``[..., 3, 3]`` (broadcastable).

    Returns:
        ``[...]`` angles in ``[0, 180]``.
    """
    check_tensor(rotation_pred, "rotation_pred", (3, 3))
    check_tensor(rotation_gt, "rotation_gt", (3, 3))
    return rotation_angle(rotation_pred.transpose(-1, -2) @ rotation_gt)


def translation_direction_error(
    translation_pred: torch.Tensor,
    translation_gt: torch.Tensor,
    sign_ambiguous: bool = False,
    eps: float = 1e-12,
) -> torch.Tensor:
    """Angle in degrees between two translation directions: ``atan2(|a x b|, a · b)``.

    A vector shorter than ``eps`` has no direction and scores 90° (so a collapsed prediction is not
    rewarded), as in the reference evaluation.

    Args:
        translation_pred: ``[..., 3]``.
        translation_gt: ``[..., 3]`` (broadcastable).
        sign_ambiguous: fold the angle to ``min(θ, 180° - θ)`` (ignore the direction's sign).
        eps: norm below which a vector counts as zero.

    Returns:
        ``[...]`` angles in ``[0, 180]`` (``[0, 90]`` when ``sign_ambiguous``).
    """
    check_tensor(translation_pred, "translation_pred", (3,))
    check_tensor(translation_gt, "translation_gt", (3,))
    a, b = torch.broadcast_tensors(translation_pred, translation_gt)
    sin_part = torch.linalg.vector_norm(torch.linalg.cross(a, b), dim=-1)
    cos_part = (a * b).sum(-1)
    angle = torch.atan2(sin_part, cos_part) * (180.0 / math.pi)
    degenerate = (torch.linalg.vector_norm(a, dim=-1) < eps) | (torch.linalg.vector_norm(b, dim=-1) < eps)
    angle = torch.where(degenerate, torch.full_like(angle, 90.0), angle)
    if sign_ambiguous:
        angle = torch.minimum(angle, 180.0 - angle)
    return angle


def pair_indices(num_frames: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(i, j)`` of all ``M = S (S - 1) / 2`` pairs with ``i < j``, ordered (0,1), (0,2), ..., (1,2), ..."""
    if num_frames < 0:
        raise ValueError(f"num_frames: expected a non-negative int, got {num_frames}")
    first, second = torch.triu_indices(num_frames, num_frames, offset=1, device=device)
    return first, second


def relative_poses(extrinsics: torch.Tensor) -> torch.Tensor:
    """Relative poses ``T_j T_i^{-1}`` (camera ``j`` from camera ``i``) for all pairs ``i < j``.

    Args:
        extrinsics: ``[..., S, 3, 4]`` (or ``[..., S, 4, 4]``) camera-from-world transforms.

    Returns:
        ``[..., M, 3, 4]`` in :func:`pair_indices` order.
    """
    check_rigid(extrinsics, "extrinsics", stacked=True)
    first, second = pair_indices(extrinsics.shape[-3], device=extrinsics.device)
    from_i = se3_inverse(extrinsics[..., first, :3, :])  # world from camera i, [..., M, 3, 4]
    to_j = extrinsics[..., second, :3, :]  # camera j from world
    rotation = to_j[..., :3] @ from_i[..., :3]
    translation = to_j[..., :3] @ from_i[..., 3:] + to_j[..., 3:]
    return torch.cat((rotation, translation), dim=-1)


def pairwise_pose_errors(
    extrinsics_pred: torch.Tensor,
    extrinsics_gt: torch.Tensor,
    sign_ambiguous: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation and translation-direction errors of the relative poses of all frame pairs ``i < j``.

    The errors do not depend on the world frame or scale of either input, so no alignment is needed.

    Args:
        extrinsics_pred: ``[..., S, 3, 4]`` camera-from-world transforms (``[..., S, 4, 4]`` also accepted).
        extrinsics_gt: same shape.
        sign_ambiguous: see :func:`translation_direction_error`.

    Returns:
        ``rotation_error_deg [..., M]`` and ``translation_error_deg [..., M]``, ``M = S (S - 1) / 2``,
        in :func:`pair_indices` order.
    """
    check_rigid(extrinsics_pred, "extrinsics_pred", stacked=True)
    check_rigid(extrinsics_gt, "extrinsics_gt", stacked=True)
    if extrinsics_pred.shape[:-2] != extrinsics_gt.shape[:-2]:
        raise ValueError(
            "extrinsics_pred and extrinsics_gt: expected the same [..., S] dims, got "
            f"{shape_str(extrinsics_pred.shape)} and {shape_str(extrinsics_gt.shape)}"
        )
    relative_pred = relative_poses(extrinsics_pred)
    relative_gt = relative_poses(extrinsics_gt)
    rotation_error = relative_rotation_error(relative_pred[..., :3], relative_gt[..., :3])
    translation_error = translation_direction_error(relative_pred[..., 3], relative_gt[..., 3], sign_ambiguous)
    return rotation_error, translation_error
