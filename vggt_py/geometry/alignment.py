"""Least-squares similarity alignment of corresponding point sets (Umeyama, 1991)."""

from __future__ import annotations

import torch

from ._checks import check_tensor, shape_str

__all__ = ["apply_similarity", "umeyama"]


def umeyama(
    src: torch.Tensor,
    dst: torch.Tensor,
    weights: torch.Tensor | None = None,
    with_scale: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Similarity ``(s, R, t)`` minimising ``sum_n w_n |dst_n - (s R src_n + t)|^2``.

    ``R`` is always a proper rotation (``det R = +1``): a reflection is never returned, even for
    mirrored data. Degenerate inputs (fewer than 3 non-collinear points with non-zero weight, or all
    weights zero) give non-unique or non-finite results.

    Args:
        src: ``[..., N, 3]`` source points, ``N >= 3``.
        dst: ``[..., N, 3]`` target points.
        weights: optional ``[..., N]`` non-negative weights (default: all ones).
        with_scale: if False, ``s`` is fixed to 1 (rigid alignment).

    Returns:
        ``scale [...]``, ``rotation [..., 3, 3]`` and ``translation [..., 3]`` with ``dst ≈ s R src + t``.
    """
    check_tensor(src, "src", (-1, 3))
    check_tensor(dst, "dst", (-1, 3))
    if src.shape != dst.shape:
        raise ValueError(
            f"src and dst: expected the same shape [..., N, 3], got {shape_str(src.shape)} and {shape_str(dst.shape)}"
        )
    if src.shape[-2] < 3:
        raise ValueError(f"src: expected at least 3 points, got shape {shape_str(src.shape)}")
    if weights is None:
        weights = torch.ones(src.shape[:-1], dtype=src.dtype, device=src.device)
    else:
        check_tensor(weights, "weights", (-1,))
        if weights.shape != src.shape[:-1]:
            raise ValueError(f"weights: expected shape {shape_str(src.shape[:-1])}, got {shape_str(weights.shape)}")
    w = (weights / weights.sum(-1, keepdim=True)).unsqueeze(-1)  # [..., N, 1], sums to 1
    mean_src = (w * src).sum(-2)  # [..., 3]
    mean_dst = (w * dst).sum(-2)
    src_c = src - mean_src.unsqueeze(-2)
    dst_c = dst - mean_dst.unsqueeze(-2)
    covariance = (w * dst_c).transpose(-1, -2) @ src_c  # [..., 3, 3] = sum_n w_n dst_n src_n^T
    u, sigma, vh = torch.linalg.svd(covariance)
    # Flip the least significant axis if U V^T would be a reflection.
    sign = torch.sign(torch.linalg.det(u) * torch.linalg.det(vh))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    d = torch.stack((torch.ones_like(sign), torch.ones_like(sign), sign), dim=-1)  # [..., 3]
    rotation = (u * d.unsqueeze(-2)) @ vh
    if with_scale:
        variance_src = (w * src_c * src_c).sum((-2, -1))
        scale = (sigma * d).sum(-1) / variance_src
    else:
        scale = torch.ones_like(sigma[..., 0])
    translation = mean_dst - scale.unsqueeze(-1) * (rotation @ mean_src.unsqueeze(-1)).squeeze(-1)
    return scale, rotation, translation


def apply_similarity(
    points: torch.Tensor, scale: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor
) -> torch.Tensor:
    """``s R x + t`` for points ``[..., N, 3]`` and a similarity ``([...], [..., 3, 3], [..., 3])``."""
    check_tensor(points, "points", (-1, 3))
    check_tensor(rotation, "rotation", (3, 3))
    check_tensor(translation, "translation", (3,))
    return scale[..., None, None] * (points @ rotation.transpose(-1, -2)) + translation.unsqueeze(-2)
