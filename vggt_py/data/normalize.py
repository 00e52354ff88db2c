"""Ground-truth normalisation: camera 0 becomes the world frame, the mean point distance becomes 1.

See docs/architecture.md, "Ground-truth normalisation".
"""

from __future__ import annotations

import torch

from vggt_py.data.scene import VALID_DEPTH
from vggt_py.geometry import se3_inverse, to_homogeneous, unproject_depth

__all__ = ["normalize_to_first_camera"]


def normalize_to_first_camera(
    extrinsics: torch.Tensor,
    intrinsics: torch.Tensor,
    depths: torch.Tensor,
    min_scale: float = 1e-6,
    max_scale: float = 1e6,
) -> dict[str, torch.Tensor]:
    """Express ground truth in camera 0's frame at unit mean point distance.

    See docs/architecture.md, "Ground-truth normalisation".

    ``E'_s = E_s E_0^{-1}``; world points are unprojected from depth with ``E'`` (so they live in camera
    0's frame); ``scale = sum(|X'| mask) / (sum(mask) + 1e-3)`` over the whole scene, clamped to
    ``[min_scale, max_scale]``; translations, depths and points are divided by it. Non-finite values
    become 0.

    Args:
        extrinsics: [..., S, 3, 4]; intrinsics: [..., S, 3, 3]; depths: [..., S, H, W] (0 = unknown).

    Returns:
        ``extrinsics`` [..., S, 3, 4], ``depths`` [..., S, H, W], ``world_points`` [..., S, H, W, 3],
        ``point_masks`` [..., S, H, W] bool and ``scale`` [...].
    """
    if extrinsics.shape[-2:] != (3, 4) or intrinsics.shape[-2:] != (3, 3):
        raise ValueError(
            f"expected extrinsics [...,S,3,4] and intrinsics [...,S,3,3], got {tuple(extrinsics.shape)}"
            f" and {tuple(intrinsics.shape)}"
        )
    if depths.shape[:-2] != extrinsics.shape[:-2]:
        raise ValueError(f"depths [...,S,H,W] must match extrinsics [...,S,3,4], got {tuple(depths.shape)}")
    first_inverse = se3_inverse(to_homogeneous(extrinsics[..., :1, :, :]))  # [..., 1, 4, 4]
    relative = (to_homogeneous(extrinsics) @ first_inverse)[..., :3, :]
    identity = torch.eye(3, 4, dtype=relative.dtype, device=relative.device)
    relative = torch.cat([identity.expand_as(relative[..., :1, :, :]), relative[..., 1:, :, :]], dim=-3)
    masks = torch.isfinite(depths) & (depths > VALID_DEPTH)
    depths = torch.where(masks, depths, torch.zeros_like(depths))
    points = unproject_depth(depths, intrinsics, relative)  # [..., S, H, W, 3]
    points = torch.where(masks[..., None], points, torch.zeros_like(points))
    weight = masks.to(points.dtype)
    total = (points.norm(dim=-1) * weight).flatten(-3).sum(-1)
    scale = (total / (weight.flatten(-3).sum(-1) + 1e-3)).clamp(min_scale, max_scale)  # [...]
    relative = torch.cat([relative[..., :3], relative[..., 3:] / scale[..., None, None, None]], dim=-1)
    return {
        "extrinsics": torch.nan_to_num(relative, nan=0.0, posinf=0.0, neginf=0.0),
        "depths": torch.nan_to_num(depths / scale[..., None, None, None], nan=0.0, posinf=0.0, neginf=0.0),
        "world_points": torch.nan_to_num(points / scale[..., None, None, None, None], nan=0.0, posinf=0.0, neginf=0.0),
        "point_masks": masks,
        "scale": scale,
    }
