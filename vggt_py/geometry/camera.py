"""Rigid transforms, depth unprojection and point projection for pinhole cameras.

Extrinsics are camera-from-world ``[R | t]`` (OpenCV axes: x right, y down, z forward): a world point
``X`` has camera coordinates ``R X + t``. Pixel ``(u, v)`` of an ``H x W`` map has integer coordinates
``u = 0..W-1`` (column) and ``v = 0..H-1`` (row): the index *is* the coordinate, without a +0.5 offset
(docs/architecture.md, Conventions). Intrinsics are ``[[f_x, s, c_x], [0, f_y, c_y], [0, 0, 1]]``.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import check_rigid, check_tensor, shape_str

__all__ = ["project_points", "project_points_numpy", "se3_inverse", "to_homogeneous", "unproject_depth"]


def to_homogeneous(transforms: torch.Tensor) -> torch.Tensor:
    """Append the row ``[0, 0, 0, 1]`` to ``[..., 3, 4]`` transforms (``[..., 4, 4]`` is returned as is).

    Returns:
        ``[..., 4, 4]``.
    """
    check_rigid(transforms, "transforms")
    if transforms.shape[-2] == 4:
        return transforms
    last_row = torch.zeros((*transforms.shape[:-2], 1, 4), dtype=transforms.dtype, device=transforms.device)
    last_row[..., 0, 3] = 1
    return torch.cat((transforms, last_row), dim=-2)


def se3_inverse(transforms: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of rigid transforms: ``[R | t] -> [R^T | -R^T t]``.

    Args:
        transforms: ``[..., 3, 4]`` or ``[..., 4, 4]`` (the last row of a 4x4 is assumed ``[0, 0, 0, 1]``).

    Returns:
        The inverses, with the input's shape.
    """
    check_rigid(transforms, "transforms")
    rotation_t = transforms[..., :3, :3].transpose(-1, -2)
    translation = -(rotation_t @ transforms[..., :3, 3:])
    inverse = torch.cat((rotation_t, translation), dim=-1)
    return to_homogeneous(inverse) if transforms.shape[-2] == 4 else inverse


def _check_cameras(intrinsics: torch.Tensor, extrinsics: torch.Tensor | None) -> None:
    check_tensor(intrinsics, "intrinsics", (3, 3))
    if extrinsics is not None:
        check_rigid(extrinsics, "extrinsics")
        if extrinsics.ndim != intrinsics.ndim:
            raise ValueError(
                "extrinsics and intrinsics: expected the same number of leading dims, got "
                f"{shape_str(extrinsics.shape)} and {shape_str(intrinsics.shape)}"
            )


def unproject_depth(
    depth: torch.Tensor, intrinsics: torch.Tensor, extrinsics: torch.Tensor | None = None
) -> torch.Tensor:
    """3-D points from z-depth maps.

    Camera point of pixel ``(u, v)``: ``x = ((u - c_x) - s (v - c_y) / f_y) D / f_x`` (with ``s`` the skew,
    zero for VGGT, which reduces this to ``(u - c_x) D / f_x``), ``y = (v - c_y) D / f_y``, ``z = D``.
    With extrinsics, world points ``R^T X_c - R^T t`` are returned. Pixels with ``D <= 0`` are not special-cased
    (VGGT treats ``D > MIN_DEPTH`` = 1e-8 as valid, see :mod:`vggt_py.geometry.pixels`; mask them yourself).

    Args:
        depth: ``[..., H, W]`` or ``[..., H, W, 1]``; a trailing 1 is read as a channel when ``depth`` has one
            more dim than ``intrinsics``.
        intrinsics: ``[..., 3, 3]`` with leading dims broadcastable to those of ``depth``.
        extrinsics: optional ``[..., 3, 4]`` (or ``[..., 4, 4]``) camera-from-world transforms.

    Returns:
        ``[..., H, W, 3]`` points in the world frame if ``extrinsics`` is given, else in the camera frame.
    """
    _check_cameras(intrinsics, extrinsics)
    check_tensor(depth, "depth", (-1, -1))
    if depth.ndim == intrinsics.ndim + 1 and depth.shape[-1] == 1:
        depth = depth[..., 0]
    if depth.ndim != intrinsics.ndim:
        raise ValueError(
            "depth: expected [..., H, W] or [..., H, W, 1] with the leading dims of intrinsics "
            f"{shape_str(intrinsics.shape[:-2])}, got {shape_str(depth.shape)}"
        )
    height, width = depth.shape[-2:]
    v, u = torch.meshgrid(
        torch.arange(height, dtype=depth.dtype, device=depth.device),
        torch.arange(width, dtype=depth.dtype, device=depth.device),
        indexing="ij",
    )  # [H, W] each

    def entry(row: int, col: int) -> torch.Tensor:
        return intrinsics[..., row, col][..., None, None]  # [..., 1, 1]

    f_x, f_y, c_x, c_y, skew = entry(0, 0), entry(1, 1), entry(0, 2), entry(1, 2), entry(0, 1)
    y_norm = (v - c_y) / f_y
    x_cam = ((u - c_x) - skew * y_norm) * depth / f_x
    y_cam = (v - c_y) * depth / f_y
    points = torch.stack(torch.broadcast_tensors(x_cam, y_cam, depth), dim=-1)  # [..., H, W, 3]
    if extrinsics is None:
        return points
    world_from_camera = se3_inverse(extrinsics[..., :3, :])  # [..., 3, 4]
    rotation = world_from_camera[..., None, None, :3, :3]
    translation = world_from_camera[..., None, None, :3, 3]
    return (rotation @ points.unsqueeze(-1)).squeeze(-1) + translation


def project_points(
    points: torch.Tensor, intrinsics: torch.Tensor, extrinsics: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project 3-D points to pixels: ``X_c = R X + t``, ``(u, v) = (K (X_c / z))[:2]``.

    NaNs in the pixel coordinates (``0/0``, e.g. a point at the camera centre) are replaced by 0, as in VGGT.

    Args:
        points: ``[..., N, 3]`` in the world frame (or the camera frame if ``extrinsics`` is None).
        intrinsics: ``[..., 3, 3]`` with leading dims broadcastable to those of ``points``.
        extrinsics: optional ``[..., 3, 4]`` (or ``[..., 4, 4]``) camera-from-world transforms.

    Returns:
        ``uv [..., N, 2]`` pixel coordinates and ``z [..., N]`` camera-frame depths.
    """
    _check_cameras(intrinsics, extrinsics)
    check_tensor(points, "points", (-1, 3))
    if points.ndim != intrinsics.ndim:
        raise ValueError(
            f"points: expected [..., N, 3] with the leading dims of intrinsics {shape_str(intrinsics.shape[:-2])}, "
            f"got {shape_str(points.shape)}"
        )
    if extrinsics is not None:
        rotation = extrinsics[..., :3, :3]
        translation = extrinsics[..., None, :3, 3]
        points = points @ rotation.transpose(-1, -2) + translation  # [..., N, 3]
    z = points[..., 2]
    normalized = points / z[..., None]
    uv = (normalized @ intrinsics.transpose(-1, -2))[..., :2]
    return torch.nan_to_num(uv, nan=0.0, posinf=float("inf"), neginf=float("-inf")), z


def project_points_numpy(
    points: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One camera's projection in float64 numpy, same argument order as :func:`project_points`.

    World points ``[N, 3]``, intrinsics ``[3, 3]`` (last row ``[0, 0, 1]``), camera-from-world ``[3, 4]`` ->
    pixels ``uv [N, 2]`` and camera-frame depths ``z [N]``. Written component by component (no BLAS), so the
    result is bit-identical on every machine; the synthetic renderer relies on that. A depth of (nearly) 0 is
    divided as ``1e-30``, so pixels are always finite (meaningless for points behind the camera).
    """
    k = np.asarray(intrinsics, dtype=np.float64)
    e = np.asarray(extrinsics, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3).T  # [3, N]
    if k.shape != (3, 3) or e.shape != (3, 4):
        raise ValueError(f"expected intrinsics [3, 3] and extrinsics [3, 4], got {k.shape} and {e.shape}")
    cam = np.stack([e[j, 0] * pts[0] + e[j, 1] * pts[1] + e[j, 2] * pts[2] for j in range(3)]) + e[:, 3:]
    z = cam[2]
    safe_z = np.where(np.abs(z) < 1e-30, 1e-30, z)
    x, y = cam[0] / safe_z, cam[1] / safe_z
    u = k[0, 0] * x + k[0, 1] * y + k[0, 2]
    v = k[1, 0] * x + k[1, 1] * y + k[1, 2]
    return np.stack([u, v], axis=1), z
