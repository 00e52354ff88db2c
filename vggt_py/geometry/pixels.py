"""Pixel-level primitives shared by inference, export and the checks: one implementation of each.

* Integer pixel coordinates are pixel centres, in model pixels and in original pixels alike
  (docs/architecture.md, Conventions).
* ``transform`` is the ``[3, 3]`` affine that maps original pixel coordinates ``(x, y, 1)`` of a frame to its
  model pixel coordinates (resize plus crop or pad, see :mod:`vggt_py.inference.images`).
* ``MIN_DEPTH`` is the one validity bound on depth: a depth is valid when finite and ``> MIN_DEPTH``.

Functions that take points accept numpy arrays or torch tensors and return the kind they were given; the
arithmetic is done once, in float64 torch.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "MIN_DEPTH",
    "bilinear_sample",
    "grid_sample_pixels",
    "inside_image",
    "intrinsics_to_original",
    "model_to_original",
    "original_to_model",
    "resample_to_original",
]

MIN_DEPTH = 1e-8  # VGGT's validity bound on depth (predicted depth is valid where > 1e-8)

_PointsT = TypeVar("_PointsT", np.ndarray, torch.Tensor)


def _as_matrix(matrix: np.ndarray | torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    m = torch.from_numpy(np.asarray(matrix, dtype=np.float64)) if isinstance(matrix, np.ndarray) else matrix
    if tuple(m.shape[-2:]) != (3, 3):
        raise ValueError(f"transform: expected a [3, 3] affine, got {tuple(m.shape)}")
    return m.to(device=device, dtype=torch.float64)


def _apply_affine(matrix: torch.Tensor, points: _PointsT) -> _PointsT:
    """Apply a float64 ``[3, 3]`` affine to points ``[..., 2]``; returns the input's kind (numpy or torch)."""
    if tuple(points.shape[-1:]) != (2,):
        raise ValueError(f"points must have shape [..., 2] (x, y), got {tuple(points.shape)}")
    if isinstance(points, np.ndarray):
        return _apply_affine(matrix, torch.from_numpy(points.astype(np.float64))).numpy()
    dtype = points.dtype if points.is_floating_point() else torch.float64
    m = matrix.to(device=points.device)
    mapped = points.to(torch.float64) @ m[:2, :2].T + m[:2, 2]
    return mapped.to(dtype)


def original_to_model(transform: np.ndarray | torch.Tensor, points: _PointsT) -> _PointsT:
    """Original pixel coordinates ``[..., 2]`` (x, y) -> model pixel coordinates, through ``transform``."""
    return _apply_affine(_as_matrix(transform), points)


def model_to_original(transform: np.ndarray | torch.Tensor, points: _PointsT) -> _PointsT:
    """Model pixel coordinates ``[..., 2]`` (x, y) -> original pixel coordinates (the inverse of ``transform``)."""
    return _apply_affine(torch.linalg.inv(_as_matrix(transform)), points)


def intrinsics_to_original(transforms: _PointsT, intrinsics: _PointsT) -> _PointsT:
    """Model-pixel intrinsics ``[..., 3, 3]`` -> intrinsics in original pixels: ``inverse(transform) @ K``.

    Both sides use the pixel-centre convention, so no half-pixel shift enters. numpy input is computed in
    float64 (a degenerate focal length gives non-finite entries, for the caller to report); torch input keeps
    the dtype and device of ``intrinsics``.
    """
    if isinstance(intrinsics, np.ndarray):
        with np.errstate(invalid="ignore"):
            return np.linalg.inv(np.asarray(transforms, dtype=np.float64)) @ intrinsics.astype(np.float64)
    inverse = torch.linalg.inv(transforms).to(device=intrinsics.device, dtype=intrinsics.dtype)
    return inverse @ intrinsics


def inside_image(xy: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``[...]`` bool: ``xy [..., 2]`` lies on a map of ``size = (H, W)`` (pixel squares, so ``-0.5 .. W-0.5``)."""
    height, width = size
    x, y = xy[..., 0], xy[..., 1]
    return (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)


def bilinear_sample(values: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Sample ``values [H, W, ...]`` at ``xy [..., 2]`` (x, y) -> ``[..., *values.shape[2:]]`` (float64 weights).

    Coordinates are clamped to the map (border padding); a NaN among the four neighbours gives NaN.
    """
    height, width = values.shape[:2]
    x = np.clip(xy[..., 0], 0, width - 1)
    y = np.clip(xy[..., 1], 0, height - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), max(width - 2, 0))
    y0 = np.minimum(np.floor(y).astype(np.int64), max(height - 2, 0))
    x1 = np.minimum(x0 + 1, width - 1)
    y1 = np.minimum(y0 + 1, height - 1)
    trailing = (1,) * (values.ndim - 2)
    fx = (x - x0).reshape(x.shape + trailing)
    fy = (y - y0).reshape(y.shape + trailing)
    top = values[y0, x0] * (1 - fx) + values[y0, x1] * fx
    bottom = values[y1, x0] * (1 - fx) + values[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def resample_to_original(values: np.ndarray, transform: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Model-resolution ``values [H, W, ...]`` sampled at every pixel of an original image of ``size = (w, h)``.

    Returns float32 ``[h, w, ...]``; pixels whose model position falls outside the model image get NaN.
    """
    width, height = size
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    mx = transform[0, 0] * xs + transform[0, 1] * ys + transform[0, 2]
    my = transform[1, 0] * xs + transform[1, 1] * ys + transform[1, 2]
    model_xy = np.stack([mx, my], axis=-1)  # [h, w, 2]
    out = bilinear_sample(values, model_xy).astype(np.float32)
    out[~inside_image(model_xy, values.shape[:2])] = np.nan
    return out


def grid_sample_pixels(maps: torch.Tensor, coords: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """Bilinearly sample ``maps [M, C, H, W]`` at pixel coords ``[M, Ho, Wo, 2]`` (x, y) -> ``[M, C, Ho, Wo]``.

    The differentiable torch sampler of the track head (``grid_sample``, ``align_corners=True``): integer
    coordinates are pixel centres; coordinates are cast to the maps' dtype and normalised as
    ``p * (2 / max(size - 1, 1)) - 1``. With ``padding_mode="border"`` it samples like :func:`bilinear_sample`.
    """
    height, width = maps.shape[-2:]
    coords = coords.detach().to(maps.dtype)
    scale = torch.tensor([2 / max(width - 1, 1), 2 / max(height - 1, 1)], dtype=maps.dtype, device=maps.device)
    grid = coords * scale - 1
    return F.grid_sample(maps, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)
