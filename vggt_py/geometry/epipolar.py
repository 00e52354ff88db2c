"""Two-view epipolar geometry: essential and fundamental matrices from cameras, Sampson error.

Cameras are camera-from-world extrinsics ``[R | t]`` and pinhole intrinsics ``K``; pixel coordinates follow
the convention of :mod:`vggt_py.geometry.camera`. Matrices satisfy ``x2^T F x1 = 0`` for homogeneous pixels
``x1`` in view 1 and ``x2`` in view 2 that see the same 3-D point.
"""

from __future__ import annotations

import torch

from ._checks import check_rigid, check_tensor, shape_str
from .camera import se3_inverse

__all__ = ["essential_from_cameras", "fundamental_from_cameras", "sampson_error", "skew_symmetric"]


def skew_symmetric(vectors: torch.Tensor) -> torch.Tensor:
    """Cross-product matrices ``[v]_x`` with ``[v]_x w = v x w``: ``[..., 3] -> [..., 3, 3]``."""
    check_tensor(vectors, "vectors", (3,))
    x, y, z = vectors.unbind(-1)
    zeros = torch.zeros_like(x)
    rows = (zeros, -z, y, z, zeros, -x, -y, x, zeros)
    return torch.stack(rows, dim=-1).reshape((*vectors.shape[:-1], 3, 3))


def essential_from_cameras(extrinsics1: torch.Tensor, extrinsics2: torch.Tensor) -> torch.Tensor:
    """Essential matrices ``E = [t]_x R`` of the relative pose ``T_2 T_1^{-1}`` (camera 2 from camera 1).

    Normalised camera coordinates ``y_k = K_k^{-1} x_k`` satisfy ``y2^T E y1 = 0``.

    Args:
        extrinsics1: ``[..., 3, 4]`` (or ``[..., 4, 4]``) camera-from-world transforms of view 1.
        extrinsics2: same for view 2 (broadcastable).

    Returns:
        ``[..., 3, 3]``.
    """
    check_rigid(extrinsics1, "extrinsics1")
    check_rigid(extrinsics2, "extrinsics2")
    world_from_1 = se3_inverse(extrinsics1[..., :3, :])
    rotation = extrinsics2[..., :3, :3] @ world_from_1[..., :3]
    translation = (extrinsics2[..., :3, :3] @ world_from_1[..., 3:] + extrinsics2[..., :3, 3:]).squeeze(-1)
    return skew_symmetric(translation) @ rotation


def fundamental_from_cameras(
    intrinsics1: torch.Tensor,
    extrinsics1: torch.Tensor,
    intrinsics2: torch.Tensor,
    extrinsics2: torch.Tensor,
) -> torch.Tensor:
    """Fundamental matrices ``F = K2^{-T} E K1^{-1}`` with ``x2^T F x1 = 0`` in pixels.

    Args:
        intrinsics1: ``[..., 3, 3]`` of view 1.
        extrinsics1: ``[..., 3, 4]`` (or ``[..., 4, 4]``) camera-from-world transforms of view 1.
        intrinsics2: ``[..., 3, 3]`` of view 2.
        extrinsics2: ``[..., 3, 4]`` of view 2 (all leading dims broadcastable).

    Returns:
        ``[..., 3, 3]`` (not normalised; any non-zero multiple is the same fundamental matrix).
    """
    check_tensor(intrinsics1, "intrinsics1", (3, 3))
    check_tensor(intrinsics2, "intrinsics2", (3, 3))
    essential = essential_from_cameras(extrinsics1, extrinsics2)
    return torch.linalg.inv(intrinsics2).transpose(-1, -2) @ essential @ torch.linalg.inv(intrinsics1)


def sampson_error(fundamental: torch.Tensor, points1: torch.Tensor, points2: torch.Tensor) -> torch.Tensor:
    """Sampson distance in pixels: the first-order approximation of the reprojection error.

    Returns ``|x2^T F x1| / sqrt((F x1)_0^2 + (F x1)_1^2 + (F^T x2)_0^2 + (F^T x2)_1^2)``, i.e. the square
    root of the Sampson squared distance. To first order it equals the smallest ``sqrt(|d1|^2 + |d2|^2)``
    over corrections ``d1, d2`` that make the pair satisfy the epipolar constraint (the gold-standard
    two-view reprojection error); it is 0 for exact correspondences and independent of the scale of ``F``.

    Args:
        fundamental: ``[..., 3, 3]`` with ``x2^T F x1 = 0``.
        points1: ``[..., N, 2]`` pixels in view 1.
        points2: ``[..., N, 2]`` pixels in view 2.

    Returns:
        ``[..., N]`` distances in pixels.
    """
    check_tensor(fundamental, "fundamental", (3, 3))
    check_tensor(points1, "points1", (-1, 2))
    check_tensor(points2, "points2", (-1, 2))
    if points1.shape[-2] != points2.shape[-2]:
        raise ValueError(
            f"points1 and points2: expected the same number of points, got {shape_str(points1.shape)} "
            f"and {shape_str(points2.shape)}"
        )
    ones1 = torch.ones_like(points1[..., :1])
    ones2 = torch.ones_like(points2[..., :1])
    homogeneous1 = torch.cat((points1, ones1), dim=-1)  # [..., N, 3]
    homogeneous2 = torch.cat((points2, ones2), dim=-1)
    lines2 = homogeneous1 @ fundamental.transpose(-1, -2)  # F x1: epipolar lines in view 2, [..., N, 3]
    lines1 = homogeneous2 @ fundamental  # F^T x2: epipolar lines in view 1
    residual = (homogeneous2 * lines2).sum(-1)
    gradient_sq = lines2[..., :2].square().sum(-1) + lines1[..., :2].square().sum(-1)
    return residual.abs() / gradient_sq.sqrt()
