"""The point selection shared by every point writer (GLB, PLY, COLMAP).

A point is kept when it shows image content (not padding), has positive finite depth and finite
coordinates, passes the optional confidence bounds and the optional user ``mask``; ``max_points`` then
subsamples at random (reproducibly, ``seed``). :func:`~vggt_py.inference.export.export` computes the
selection once per run and hands it to each writer (docs/architecture.md, Data flow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vggt_py.inference.reconstruction import PointSource, Reconstruction

__all__ = ["PointSelection", "apply_user_mask", "check_exportable", "check_max_points", "select_points"]


def _draw(count: int, max_points: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of ``max_points`` of ``count`` items (uniform, without replacement), or None for all."""
    if max_points is None or count <= max_points:
        return None
    return np.sort(np.random.default_rng(seed).choice(count, size=int(max_points), replace=False))


@dataclass(frozen=True)
class PointSelection:
    """Kept points: where each comes from (frame, model pixel) and its position and colour."""

    frames: np.ndarray  # [M] int64, source frame
    pixels: np.ndarray  # [M, 2] int64, model pixel (x, y) in the source frame
    xyz: np.ndarray  # [M, 3] float32, world coordinates
    rgb: np.ndarray  # [M, 3] uint8

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def subsample(self, max_points: int | None, seed: int = 0) -> PointSelection:
        """At most ``max_points`` of these points, drawn as :func:`select_points` draws them.

        ``select_points(rec, ..., max_points=n, seed=s)`` equals
        ``select_points(rec, ..., max_points=None).subsample(n, s)``, so one selection can serve several writers.
        """
        check_max_points(max_points)
        chosen = _draw(len(self), max_points, seed)
        if chosen is None:
            return self
        return PointSelection(self.frames[chosen], self.pixels[chosen], self.xyz[chosen], self.rgb[chosen])


def check_exportable(rec: object) -> None:
    """``TypeError`` unless ``rec`` is a :class:`Reconstruction`."""
    if not isinstance(rec, Reconstruction):
        raise TypeError(f"expected a vggt_py Reconstruction, got {type(rec).__name__}")


def check_max_points(max_points: int | None) -> None:
    if max_points is not None and (isinstance(max_points, bool) or int(max_points) != max_points or max_points < 0):
        raise ValueError(f"max_points must be None or an integer >= 0, got {max_points!r}")


def apply_user_mask(keep: np.ndarray, mask: object | None) -> np.ndarray:
    """``keep`` [S,H,W] (bool) and-ed with a caller's ``mask`` of the same shape (None: ``keep`` unchanged)."""
    if mask is None:
        return keep
    user = np.asarray(mask)
    if user.shape != keep.shape or user.dtype != np.bool_:
        raise ValueError(f"mask must be a bool array of shape {keep.shape} (S, H, W), got {user.dtype} {user.shape}")
    return keep & user


def select_points(
    rec: Reconstruction,
    conf_threshold: float | None = None,
    conf_percentile: float | None = None,
    source: PointSource | None = None,
    mask: np.ndarray | None = None,
    max_points: int | None = None,
    seed: int = 0,
) -> PointSelection:
    """The points an export writes.

    Args:
        rec: the reconstruction.
        conf_threshold: keep confidences >= this value.
        conf_percentile: keep confidences at or above this percentile (0-100) of the content pixels.
        source: ``"depth"`` (depth unprojected with the cameras) or ``"head"`` (point head);
            default ``rec.point_source``.
        mask: optional [S, H, W] bool of pixels to keep; combined (AND) with the checks above, so
            padding and invalid depth are never exported.
        max_points: keep at most this many, drawn uniformly at random without replacement.
        seed: seed of that draw.
    """
    check_exportable(rec)
    check_max_points(max_points)
    keep = rec.mask(conf_threshold, conf_percentile, source)  # [S, H, W]
    keep = apply_user_mask(keep, mask)
    frames, rows, cols = np.nonzero(keep)
    chosen = _draw(len(frames), max_points, seed)
    if chosen is not None:
        frames, rows, cols = frames[chosen], rows[chosen], cols[chosen]
    xyz = rec.points(source)[frames, rows, cols].astype(np.float32)
    rgb = rec.colors[frames, rows, cols].astype(np.uint8)
    pixels = np.stack([cols, rows], axis=-1).astype(np.int64).reshape(-1, 2)
    return PointSelection(frames.astype(np.int64), pixels, xyz.reshape(-1, 3), rgb.reshape(-1, 3))

