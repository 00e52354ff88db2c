"""Rotations: scalar-last (x, y, z, w) Hamilton quaternions, axis-angle and rotation angles.

Conventions follow VGGT exactly (docs/architecture.md, Conventions): ``quat_to_mat`` scales by ``2/|q|^2`` so the
quaternion need not be unit, and ``mat_to_quat`` picks the best-conditioned of four candidates, then flips
the sign so that ``w >= 0`` (no renormalisation).
"""

from __future__ import annotations

import math

import torch

from ._checks import check_tensor

__all__ = ["axis_angle_to_mat", "mat_to_quat", "quat_to_mat", "rotation_angle"]

# Floor on the divisor 2 * max(candidate, floor) in ``mat_to_quat`` (VGGT's value).
_CANDIDATE_FLOOR = 0.1


def quat_to_mat(quaternions: torch.Tensor) -> torch.Tensor:
    """Rotation matrices from scalar-last quaternions ``(x, y, z, w)``.

    Args:
        quaternions: ``[..., 4]``, not necessarily unit (``s = 2 / |q|^2`` absorbs the norm).

    Returns:
        ``[..., 3, 3]`` rotation matrices, e.g. ``(0, 0, sin 45°, cos 45°)`` (+90° about z) maps x̂ to ŷ.
    """
    check_tensor(quaternions, "quaternions", (4,))
    x, y, z, w = quaternions.unbind(-1)
    s = 2.0 / (quaternions * quaternions).sum(-1)
    rows = (
        1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w),
        s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w),
        s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y),
    )  # fmt: skip
    return torch.stack(rows, dim=-1).reshape((*quaternions.shape[:-1], 3, 3))


def _sqrt_positive_part(x: torch.Tensor) -> torch.Tensor:
    """sqrt(max(0, x)) with a zero (not NaN) gradient where x <= 0."""
    positive = x > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, x, torch.ones_like(x))), torch.zeros_like(x))


def mat_to_quat(matrices: torch.Tensor) -> torch.Tensor:
    """Scalar-last quaternions ``(x, y, z, w)`` with ``w >= 0`` from rotation matrices.

    For each matrix, four candidate quaternions are built from the magnitudes
    ``r, i, j, k = sqrt(max(0, 1 ± m00 ± m11 ± m22))`` (each divided by ``2 * max(candidate, 0.1)``);
    the one with the largest magnitude is kept, then negated if ``w < 0``. No renormalisation.

    Args:
        matrices: ``[..., 3, 3]``.

    Returns:
        ``[..., 4]``.
    """
    check_tensor(matrices, "matrices", (3, 3))
    m = matrices.reshape((*matrices.shape[:-2], 9)).unbind(-1)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m
    magnitudes = _sqrt_positive_part(
        torch.stack(
            (
                1 + m00 + m11 + m22,  # r (w)
                1 + m00 - m11 - m22,  # i (x)
                1 - m00 + m11 - m22,  # j (y)
                1 - m00 - m11 + m22,  # k (z)
            ),
            dim=-1,
        )
    )  # [..., 4]
    r, i, j, k = magnitudes.unbind(-1)
    # Row c is the (r, i, j, k) quaternion scaled by 4 * (its c-th component); all four are equal up to scale.
    candidates = torch.stack(
        (
            torch.stack((r * r, m21 - m12, m02 - m20, m10 - m01), dim=-1),
            torch.stack((m21 - m12, i * i, m10 + m01, m02 + m20), dim=-1),
            torch.stack((m02 - m20, m10 + m01, j * j, m12 + m21), dim=-1),
            torch.stack((m10 - m01, m20 + m02, m21 + m12, k * k), dim=-1),
        ),
        dim=-2,
    )  # [..., 4 candidates, 4 components (r, i, j, k)]
    floor = torch.full_like(magnitudes, _CANDIDATE_FLOOR)
    candidates = candidates / (2.0 * torch.maximum(magnitudes, floor)).unsqueeze(-1)
    best = magnitudes.argmax(dim=-1)  # first index on ties
    index = best[..., None, None].expand((*best.shape, 1, 4))
    rijk = torch.gather(candidates, -2, index).squeeze(-2)  # [..., 4]
    xyzw = torch.cat((rijk[..., 1:], rijk[..., :1]), dim=-1)
    return torch.where(xyzw[..., 3:] < 0, -xyzw, xyzw)


def axis_angle_to_mat(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices from axis-angle vectors (direction = axis, norm = angle in radians).

    Args:
        axis_angle: ``[..., 3]``; the zero vector gives the identity (with finite gradients).

    Returns:
        ``[..., 3, 3]``.
    """
    check_tensor(axis_angle, "axis_angle", (3,))
    angle = torch.linalg.vector_norm(axis_angle, dim=-1, keepdim=True)  # [..., 1]
    small = angle < 1e-6
    safe = torch.where(small, torch.ones_like(angle), angle)
    # sin(angle/2)/angle, with its Taylor expansion near zero.
    half_sinc = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(safe / 2) / safe)
    quaternions = torch.cat((axis_angle * half_sinc, torch.cos(angle / 2)), dim=-1)
    return quat_to_mat(quaternions)


def rotation_angle(matrices: torch.Tensor) -> torch.Tensor:
    """Geodesic rotation angle in degrees, in ``[0, 180]``.

    Uses ``atan2(|vee(R - R^T)| / 2, (tr R - 1) / 2)``, accurate for small and large angles alike.

    Args:
        matrices: ``[..., 3, 3]`` rotation matrices.

    Returns:
        ``[...]`` angles in degrees.
    """
    check_tensor(matrices, "matrices", (3, 3))
    vee = torch.stack(
        (
            matrices[..., 2, 1] - matrices[..., 1, 2],
            matrices[..., 0, 2] - matrices[..., 2, 0],
            matrices[..., 1, 0] - matrices[..., 0, 1],
        ),
        dim=-1,
    )
    sin_angle = 0.5 * torch.linalg.vector_norm(vee, dim=-1)
    cos_angle = 0.5 * (matrices.diagonal(dim1=-2, dim2=-1).sum(-1) - 1)
    return torch.atan2(sin_angle, cos_angle) * (180.0 / math.pi)
