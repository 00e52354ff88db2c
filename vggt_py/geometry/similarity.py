"""Similarity transforms (Sim(3)) as 4x4 matrices, and their robust estimation from point pairs.

A similarity ``x -> s R x + t`` is stored as the float64 numpy matrix ``[[s R, t], [0, 0, 0, 1]]``, so
composition is the matrix product (``compose(A, B)`` applies ``B`` first) and the inverse is
``[[R^T / s, -R^T t / s], [0, 1]]``. Unlike the rest of :mod:`vggt_py.geometry` these helpers are numpy
float64 (they run once per window or per alignment, never inside the model).

Applying a similarity ``M`` (new world from old world) to camera-from-world extrinsics ``[R_c | t_c]``
gives ``[R_c R^T | s t_c - R_c R^T t]``: the same camera seen in the new world, with its camera frame
scaled by ``s`` as well, so depths in the new world are ``s`` times the old ones.

:func:`robust_similarity` is RANSAC over minimal 3-point Umeyama fits (:func:`~vggt_py.geometry.umeyama`),
scored by confidence-weighted inliers, then refitted (weighted Umeyama) on the inliers a few times.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from .alignment import umeyama

__all__ = [
    "SimilarityFit",
    "compose_similarity",
    "invert_similarity",
    "robust_similarity",
    "similarity_matrix",
    "similarity_parts",
    "transform_extrinsics",
    "transform_points",
]


def _check_matrix(matrix: object, name: str) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4) or not np.isfinite(m).all() or not np.allclose(m[3], [0, 0, 0, 1]):
        raise ValueError(f"{name}: expected a finite 4x4 similarity matrix with last row [0, 0, 0, 1], got {m!r}")
    return m


def similarity_matrix(scale: float, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """``[[s R, t], [0, 1]]`` (float64 [4, 4]) from ``s > 0``, ``R [3, 3]`` and ``t [3]``."""
    if not (math.isfinite(float(scale)) and float(scale) > 0):
        raise ValueError(f"scale: expected a positive finite number, got {scale!r}")
    rot = np.asarray(rotation, dtype=np.float64)
    trans = np.asarray(translation, dtype=np.float64).reshape(-1)
    if rot.shape != (3, 3) or trans.shape != (3,):
        raise ValueError(f"rotation and translation: expected [3, 3] and [3], got {rot.shape} and {trans.shape}")
    matrix = np.eye(4)
    matrix[:3, :3] = float(scale) * rot
    matrix[:3, 3] = trans
    return matrix


def similarity_parts(matrix: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """``(s, R, t)`` of a similarity matrix (``s`` is the cube root of ``det(s R)``)."""
    m = _check_matrix(matrix, "matrix")
    det = float(np.linalg.det(m[:3, :3]))
    if not det > 0:
        raise ValueError(f"matrix: expected a similarity with positive determinant, got det {det}")
    scale = det ** (1.0 / 3.0)
    return scale, m[:3, :3] / scale, m[:3, 3].copy()


def compose_similarity(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``first @ second``: apply ``second``, then ``first``."""
    return _check_matrix(first, "first") @ _check_matrix(second, "second")


def invert_similarity(matrix: np.ndarray) -> np.ndarray:
    """Closed-form inverse ``[[R^T / s, -R^T t / s], [0, 1]]``."""
    scale, rot, trans = similarity_parts(matrix)
    inverse = np.eye(4)
    inverse[:3, :3] = rot.T / scale
    inverse[:3, 3] = -(rot.T @ trans) / scale
    return inverse


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``s R x + t`` for points ``[..., 3]``; keeps their float dtype (float64 for other inputs)."""
    m = _check_matrix(matrix, "matrix")
    pts = np.asarray(points)
    if pts.shape[-1:] != (3,):
        raise ValueError(f"points: expected shape [..., 3], got {list(pts.shape)}")
    dtype = pts.dtype if np.issubdtype(pts.dtype, np.floating) else np.float64
    out = pts.astype(np.float64) @ m[:3, :3].T + m[:3, 3]
    return out.astype(dtype, copy=False)


def transform_extrinsics(matrix: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """Camera-from-world ``[..., 3, 4]`` (or ``[..., 4, 4]``) of the old world -> of the new world ``M x``.

    Returns ``[R_c R^T | s t_c - R_c R^T t]`` with the input's shape and float dtype.
    """
    scale, rot, trans = similarity_parts(matrix)
    ext = np.asarray(extrinsics)
    if ext.ndim < 2 or ext.shape[-1] != 4 or ext.shape[-2] not in (3, 4):
        raise ValueError(f"extrinsics: expected shape [..., 3, 4] or [..., 4, 4], got {list(ext.shape)}")
    e = ext.astype(np.float64)
    rot_c, trans_c = e[..., :3, :3], e[..., :3, 3]
    new_rot = rot_c @ rot.T
    new_trans = scale * trans_c - new_rot @ trans
    out = e.copy()
    out[..., :3, :3] = new_rot
    out[..., :3, 3] = new_trans
    dtype = ext.dtype if np.issubdtype(ext.dtype, np.floating) else np.float64
    return out.astype(dtype, copy=False)


class SimilarityFit(NamedTuple):
    """The result of :func:`robust_similarity`: ``dst ≈ matrix (src)`` on the inliers."""

    matrix: np.ndarray  # [4, 4] float64
    inliers: np.ndarray  # [N] bool
    inlier_ratio: float  # confidence-weighted share of the points that are inliers
    residual: float  # weighted RMS distance of the inliers after the fit, in dst units
    threshold: float  # the inlier distance used, in dst units

    @property
    def scale(self) -> float:
        return similarity_parts(self.matrix)[0]


def _umeyama64(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray | None:
    w = None if weights is None else torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float64))
    scale, rot, trans = umeyama(torch.from_numpy(src), torch.from_numpy(dst), w)
    s = float(scale)
    if not (math.isfinite(s) and s > 0 and torch.isfinite(rot).all() and torch.isfinite(trans).all()):
        return None
    return similarity_matrix(s, rot.numpy(), trans.numpy())


def robust_similarity(
    src: np.ndarray,
    dst: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    threshold: float | None = None,
    relative_threshold: float = 0.05,
    iterations: int = 256,
    refits: int = 3,
    seed: int = 0,
) -> SimilarityFit | None:
    """Robust, confidence-weighted Sim(3) with ``dst ≈ s R src + t``; ``None`` when no fit is possible.

    RANSAC draws ``iterations`` minimal sets of 3 pairs (with probability proportional to ``weights``), fits
    each by Umeyama, and keeps the fit whose inliers (``|dst - M src| <= threshold``) carry the most weight;
    the winner is refitted ``refits`` times by weighted Umeyama on its inliers. The default ``threshold`` is
    ``relative_threshold`` times the median distance of ``dst`` to its weighted centroid (the scene's size).

    Args:
        src, dst: ``[N, 3]`` corresponding points (non-finite pairs are ignored), ``N >= 3``.
        weights: ``[N]`` non-negative confidences (default: all ones).
    """
    a = np.asarray(src, dtype=np.float64)
    b = np.asarray(dst, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3 or a.shape != b.shape:
        raise ValueError(f"src and dst: expected two [N, 3] arrays of one shape, got {a.shape} and {b.shape}")
    w = np.ones(a.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != (a.shape[0],):
        raise ValueError(f"weights: expected shape [{a.shape[0]}], got {list(np.shape(weights))}")
    usable = np.isfinite(a).all(1) & np.isfinite(b).all(1) & np.isfinite(w) & (w > 0)
    inliers = np.zeros(a.shape[0], dtype=bool)
    if np.count_nonzero(usable) < 3:
        return None
    index = np.nonzero(usable)[0]
    pa, pb, pw = a[index], b[index], w[index]
    if threshold is None:
        centre = (pw[:, None] * pb).sum(0) / pw.sum()
        threshold = relative_threshold * float(np.median(np.linalg.norm(pb - centre, axis=1)))
    if not (math.isfinite(threshold) and threshold > 0):
        return None
    rng = np.random.default_rng(seed)
    samples = np.stack([rng.choice(index.size, size=3, replace=False, p=pw / pw.sum()) for _ in range(iterations)])
    s, r, t = umeyama(torch.from_numpy(pa[samples]), torch.from_numpy(pb[samples]))  # [T], [T, 3, 3], [T, 3]
    s, r, t = s.numpy(), r.numpy(), t.numpy()
    ok = np.isfinite(s) & (s > 0) & np.isfinite(r).all((1, 2)) & np.isfinite(t).all(1)
    best, best_score = None, -1.0
    for k in np.nonzero(ok)[0]:  # [N] distances per hypothesis; T x N stays small (a few hundred x 10k)
        moved = s[k] * pa @ r[k].T + t[k]
        score = float(pw[np.linalg.norm(moved - pb, axis=1) <= threshold].sum())
        if score > best_score:
            best, best_score = similarity_matrix(float(s[k]), r[k], t[k]), score
    if best is None:
        return None
    keep = np.linalg.norm(transform_points(best, pa) - pb, axis=1) <= threshold
    for _ in range(refits):
        if np.count_nonzero(keep) < 3:
            break
        refit = _umeyama64(pa[keep], pb[keep], pw[keep])
        if refit is None:
            break
        new_keep = np.linalg.norm(transform_points(refit, pa) - pb, axis=1) <= threshold
        if pw[new_keep].sum() < pw[keep].sum():
            break
        best, keep = refit, new_keep
    distances = np.linalg.norm(transform_points(best, pa) - pb, axis=1)
    inliers[index[keep]] = True
    residual = float(np.sqrt((pw[keep] * distances[keep] ** 2).sum() / pw[keep].sum())) if keep.any() else math.inf
    return SimilarityFit(best, inliers, float(pw[keep].sum() / pw.sum()), residual, float(threshold))
