"""Point-map metrics: accuracy, completeness and Chamfer distance after similarity alignment.

Predicted points live in an arbitrary frame and scale, so they are first mapped onto the ground truth by
the weighted least-squares similarity (Umeyama) between corresponding valid pixels. Then, as in the DTU
protocol used by VGGT: ``accuracy`` is the mean distance from each predicted point to its nearest ground-
truth point, ``completeness`` the mean distance from each ground-truth point to its nearest predicted
point, and ``chamfer`` their average ("overall"). Distances are in ground-truth units.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

import numpy as np
import torch

from ..geometry import apply_similarity, umeyama
from ._convert import as_float64, as_mask

__all__ = ["NearestNeighborBackend", "nearest_neighbor_distances", "point_cloud_metrics"]

NearestNeighborBackend = Literal["auto", "scipy", "torch"]
_BACKENDS = ("auto", "scipy", "torch")
# Max elements of one distance block in the torch backend (2^24 float64 = 128 MiB).
_BLOCK_ELEMENTS = 1 << 24


def _has_scipy() -> bool:
    return importlib.util.find_spec("scipy") is not None


def nearest_neighbor_distances(
    query: torch.Tensor, reference: torch.Tensor, backend: NearestNeighborBackend = "auto"
) -> torch.Tensor:
    """Euclidean distance from each query point to its nearest reference point.

    Args:
        query: ``[N, 3]``.
        reference: ``[M, 3]``, ``M >= 1``.
        backend: ``"scipy"`` (``cKDTree``, fast on CPU), ``"torch"`` (brute force in blocks on the inputs'
            device: O(N M), meant for a GPU or small clouds) or ``"auto"`` (scipy when installed, else torch).

    Returns:
        ``[N]`` distances, in the dtype and on the device of ``query``.
    """
    if backend not in _BACKENDS:
        raise ValueError(f"backend: expected one of {_BACKENDS}, got {backend!r}")
    for name, value in (("query", query), ("reference", reference)):
        if not isinstance(value, torch.Tensor) or value.ndim != 2 or value.shape[1] != 3:
            raise ValueError(f"{name}: expected a tensor of shape [N, 3], got {getattr(value, 'shape', type(value))}")
    if reference.shape[0] == 0:
        raise ValueError("reference: expected at least one point")
    if backend == "scipy" or (backend == "auto" and _has_scipy()):
        from scipy.spatial import cKDTree

        tree = cKDTree(reference.detach().cpu().double().numpy())
        distances, _ = tree.query(query.detach().cpu().double().numpy(), k=1)
        return torch.from_numpy(distances).to(dtype=query.dtype, device=query.device)
    return _nearest_torch(query, reference.to(query))


def _nearest_torch(query: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Exact nearest-neighbour distances by blocks of ``|r|^2 - 2 q·r`` (a matmul), then exact re-measure."""
    reference_sq = reference.square().sum(-1)  # [M]
    rows = max(1, _BLOCK_ELEMENTS // reference.shape[0])
    blocks = []
    for chunk in query.split(rows):
        nearest = torch.addmm(reference_sq, chunk, reference.T, alpha=-2.0).argmin(dim=1)  # argmin |q - r|^2
        blocks.append(torch.linalg.vector_norm(chunk - reference[nearest], dim=-1))
    return torch.cat(blocks) if blocks else query.new_zeros(0)


def _as_points(value: object, name: str) -> torch.Tensor:
    points = as_float64(value, name)
    if points.ndim < 2 or points.shape[-1] != 3:
        raise ValueError(f"{name}: expected shape [S, H, W, 3] (or any [..., 3]), got {list(points.shape)}")
    return points


def point_cloud_metrics(
    points_pred: np.ndarray | torch.Tensor,
    points_gt: np.ndarray | torch.Tensor,
    valid_mask: np.ndarray | torch.Tensor | None = None,
    alignment: Literal["similarity", "rigid", "none"] = "similarity",
    max_points: int | None = 100_000,
    seed: int = 0,
    backend: NearestNeighborBackend = "auto",
) -> dict[str, float]:
    """Accuracy, completeness and Chamfer distance of predicted point maps against ground truth.

    Args:
        points_pred: ``[S, H, W, 3]`` predicted points (any ``[..., 3]`` with the ground truth's shape).
        points_gt: same shape; pixel-wise correspondence with ``points_pred`` is used for the alignment.
        valid_mask: optional ``[S, H, W]`` bool; points must also be finite in both inputs.
        alignment: ``"similarity"`` (scale, rotation, translation), ``"rigid"`` or ``"none"``.
        max_points: if more valid points than this, a random subset of this size (drawn with ``seed``)
            is used for the nearest-neighbour distances; the alignment always uses every valid point.
            ``None`` uses all.
        seed: seed of the subsampling.
        backend: nearest-neighbour backend, see :func:`nearest_neighbor_distances`.

    Returns:
        ``accuracy``, ``completeness``, ``chamfer`` and ``valid_points`` (before subsampling).
    """
    if alignment not in ("similarity", "rigid", "none"):
        raise ValueError(f"alignment: expected 'similarity', 'rigid' or 'none', got {alignment!r}")
    if max_points is not None and (not isinstance(max_points, int) or max_points < 3):
        raise ValueError(f"max_points: expected an int >= 3 or None, got {max_points!r}")
    pred = _as_points(points_pred, "points_pred")
    gt = _as_points(points_gt, "points_gt").to(pred.device)
    if pred.shape != gt.shape:
        raise ValueError(
            f"points_pred and points_gt: expected the same shape, got {list(pred.shape)} and {list(gt.shape)}"
        )
    valid = torch.isfinite(pred).all(-1) & torch.isfinite(gt).all(-1)
    if valid_mask is not None:
        mask = as_mask(valid_mask, "valid_mask").to(pred.device)
        if mask.shape != valid.shape:
            raise ValueError(f"valid_mask: expected shape {list(valid.shape)}, got {list(mask.shape)}")
        valid &= mask
    pred, gt = pred[valid], gt[valid]  # [N, 3] each
    if pred.shape[0] < 3:
        raise ValueError(f"points: expected at least 3 valid points, got {pred.shape[0]}")

    if alignment != "none":
        scale, rotation, translation = umeyama(pred, gt, with_scale=alignment == "similarity")
        pred = apply_similarity(pred, scale, rotation, translation)

    count = pred.shape[0]
    if max_points is not None and count > max_points:
        generator = torch.Generator().manual_seed(seed)
        keep = torch.randperm(count, generator=generator)[:max_points].to(pred.device)
        pred, gt = pred[keep], gt[keep]
    accuracy = nearest_neighbor_distances(pred, gt, backend).mean().item()
    completeness = nearest_neighbor_distances(gt, pred, backend).mean().item()
    return {
        "accuracy": accuracy,
        "completeness": completeness,
        "chamfer": 0.5 * (accuracy + completeness),
        "valid_points": float(count),
    }
