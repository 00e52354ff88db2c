"""Track query points: reading them from text, and checking that the model can see them.

Query points are given in the first photo's original pixels (integer = pixel centre, so a point of
a ``W x H`` image lies in ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``); preprocessing may crop part of
that photo away (``mode="crop"``), and a point there cannot be tracked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vggt_py.errors import InputError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from vggt_py.inference.images import ImageBatch

__all__ = ["parse_points", "points_cropped_away", "points_outside_image"]


def parse_points(text: str) -> np.ndarray:
    """``"x,y;x,y"`` (or one ``x y`` / ``x,y`` per line; ``#`` starts a comment) -> [N, 2] float64.

    Raises :class:`~vggt_py.errors.InputError` (a ``ValueError``) quoting the line it cannot read.
    """
    rows: list[list[float]] = []
    for line in text.replace(";", "\n").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"cannot read point {line!r}: expected two numbers x,y") from None
        if len(values) != 2 or not all(np.isfinite(values)):
            raise InputError(f"cannot read point {line!r}: expected two finite numbers x,y")
        rows.append(values)
    if not rows:
        raise InputError("no query points given")
    return np.asarray(rows, dtype=np.float64)


def points_outside_image(batch: ImageBatch, points: np.ndarray, frame: int = 0) -> np.ndarray:
    """[N] bool: which of ``points`` ([N, 2] original pixels of ``frame``) lie outside that photo."""
    width, height = batch.original_sizes[frame]
    x, y = np.asarray(points, dtype=np.float64).T
    return ~((-0.5 <= x) & (x <= width - 0.5) & (-0.5 <= y) & (y <= height - 0.5))


def points_cropped_away(batch: ImageBatch, points: np.ndarray, frame: int = 0) -> np.ndarray:
    """[N] bool: which of ``points`` (original pixels of ``frame``) fall outside the model's valid region.

    The valid region is the part of the model input that shows the photo (``batch.valid_regions``);
    in crop mode the rest of the photo never reaches the model.
    """
    x0, y0, x1, y1 = batch.valid_regions[frame].tolist()
    mx, my = np.asarray(batch.to_model(np.asarray(points, dtype=np.float64), frame), dtype=np.float64).T
    return ~((x0 - 0.5 <= mx) & (mx <= x1 - 0.5) & (y0 - 0.5 <= my) & (my <= y1 - 0.5))


def check_queries_in_view(
    batch: ImageBatch, points: np.ndarray, mode_name: str = "mode", pad_advice: str = "use mode='pad'"
) -> None:
    """Raise :class:`InputError` when ``points`` ([N, 2] original pixels of frame 0) are not all seen by the model.

    Points outside the first photo, or cropped away by the preprocessing, cannot be tracked; the message
    quotes up to three of them. ``mode_name`` and ``pad_advice`` word the crop hint for the caller
    (the command line says ``--mode`` and ``use --mode pad``).
    """
    width, height = batch.original_sizes[0]
    outside = [f"({x:g}, {y:g})" for x, y in points[points_outside_image(batch, points, 0)]]
    if outside:
        raise InputError(
            f"query point(s) {', '.join(outside[:3])} lie outside the first image ({width} x {height} pixels, "
            "x in [0, width - 1], y in [0, height - 1])"
        )
    cropped = [f"({x:g}, {y:g})" for x, y in points[points_cropped_away(batch, points, 0)]]
    if cropped:
        raise InputError(
            f"query point(s) {', '.join(cropped[:3])} are cropped away by {mode_name} {batch.mode}; {pad_advice}"
        )
