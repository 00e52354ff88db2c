"""Pictures of a reconstruction shared by the report and the viewer: colour maps, thumbnails, frusta.

Depth and confidence maps are coloured with matplotlib's colour maps (``turbo`` for depth, near = blue;
``magma`` on a log scale for confidence), over value ranges common to all frames so that colours compare
across frames. Pixels without a valid value (padding, non-positive depth) are drawn grey.

This module reads reconstructions through their attributes only (``depth``, ``depth_conf``,
``valid_regions``...), so it never imports :mod:`~vggt_py.inference.reconstruction`.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

__all__ = [
    "CONFIDENCE_CMAP",
    "DEPTH_CMAP",
    "INVALID_RGB",
    "METRIC_UNITS",
    "VERDICT_RGB",
    "colorize",
    "confidence_range",
    "depth_range",
    "frame_verdicts",
    "frustum_corners",
    "import_matplotlib",
    "png_bytes",
    "scale_units",
    "scene_size",
    "thumbnail",
    "valid_depth_mask",
]

DEPTH_CMAP = "turbo"
CONFIDENCE_CMAP = "magma"
INVALID_RGB = (200, 200, 200)
# Frame verdict -> colour (the consistency checks' "ok" / "suspect"; None: not checked).
VERDICT_RGB: dict[str | None, tuple[int, int, int]] = {"ok": (40, 160, 60), "suspect": (220, 40, 40), None: (130, 130, 130)}
# scale_source -> the unit of world coordinates, for the sources that fix the scale (inference/anchors.py):
# metric anchors (a distance, a depth) give metres; known poses give the poses' own units.
METRIC_UNITS: dict[str, str] = {"distance": "m", "depth": "m", "poses": "pose units"}


def scale_units(scale_source: str) -> str | None:
    """The unit of world coordinates (``"m"``...), or None for VGGT's normalised scale."""
    return METRIC_UNITS.get(scale_source)


def import_matplotlib() -> Any:
    """matplotlib with the Agg backend (no display needed); a clear ImportError when it is missing."""
    try:
        import matplotlib
    except ImportError as err:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("the visual report needs matplotlib: pip install matplotlib") from err
    matplotlib.use("Agg", force=False)
    return matplotlib


def valid_depth_mask(rec: Any) -> np.ndarray:
    """[S, H, W] bool: pixels showing the photo (not padding) with positive finite depth."""
    depth = np.asarray(rec.depth)
    mask = np.zeros(depth.shape, dtype=bool)
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(rec.valid_regions)):
        mask[i, y0:y1, x0:x1] = True
    return mask & np.isfinite(depth) & (depth > 0)


def depth_range(rec: Any) -> tuple[float, float]:
    """(low, high): the 2nd and 98th percentiles of all frames' valid depths ((0, 1) when there is none)."""
    values = np.asarray(rec.depth)[valid_depth_mask(rec)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(values, [2, 98]))
    return (low, high) if high > low else (low, low + max(abs(low), 1.0) * 1e-3)


def confidence_range(rec: Any) -> tuple[float, float]:
    """(low, high) of the depth confidence on a log scale: (min, 99th percentile) of the valid pixels, low > 0."""
    values = np.asarray(rec.depth_conf)[valid_depth_mask(rec)]
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return 1.0, 2.0
    low, high = float(values.min()), float(np.percentile(values, 99))
    return (low, high) if high > low * (1 + 1e-6) else (low, low * 2.0)


def colorize(values: np.ndarray, valid: np.ndarray, cmap: str, vmin: float, vmax: float, log: bool = False) -> np.ndarray:
    """[H, W, 3] uint8: ``values`` through matplotlib colour map ``cmap`` over ``[vmin, vmax]``; invalid = grey."""
    matplotlib = import_matplotlib()
    from matplotlib.colors import LogNorm, Normalize

    norm = LogNorm(vmin, vmax, clip=True) if log else Normalize(vmin, vmax, clip=True)
    values = np.asarray(values, dtype=np.float64)
    valid = valid & np.isfinite(values) & ((values > 0) if log else True)
    safe = np.where(valid, values, vmin)
    rgba = matplotlib.colormaps[cmap](norm(safe), bytes=True)
    rgb = np.ascontiguousarray(rgba[..., :3])
    rgb[~valid] = INVALID_RGB
    return rgb


def thumbnail(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` [H, W, 3] uint8 shrunk (bilinear) so that its longer side is at most ``max_side`` pixels."""
    from PIL import Image

    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    height, width = image.shape[:2]
    factor = max_side / max(height, width)
    if factor >= 1:
        return image
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def png_bytes(image: np.ndarray) -> bytes:
    """PNG file bytes of an [H, W, 3] or [H, W, 4] uint8 image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def scene_size(points: np.ndarray, centers: np.ndarray) -> float:
    """A robust size of a scene: the diagonal of the 2-98 % box of ``points`` and the camera ``centers``; >= 1e-6."""
    parts = [p for p in (np.asarray(points, dtype=np.float64).reshape(-1, 3), np.asarray(centers, dtype=np.float64).reshape(-1, 3)) if len(p)]
    both = np.concatenate(parts) if parts else np.zeros((0, 3))
    both = both[np.isfinite(both).all(axis=1)]
    if len(both) < 2:
        return 1.0
    low, high = np.percentile(both, [2, 98], axis=0)
    size = float(np.linalg.norm(high - low))
    return size if size > 1e-6 else 1.0


def frustum_corners(extrinsic: np.ndarray, intrinsic: np.ndarray, height: int, width: int, depth: float) -> np.ndarray:
    """[5, 3] world points of a camera's frustum: the centre, then the image corners at ``depth`` (TL, TR, BR, BL).

    ``extrinsic`` is camera-from-world ``[R | t]`` (OpenCV axes), ``intrinsic`` the 3x3 matrix of an image
    of ``height x width`` pixels (integer = pixel centre, so the corners are at -0.5 and W - 0.5).
    """
    rot = np.asarray(extrinsic, dtype=np.float64)[:, :3]
    trans = np.asarray(extrinsic, dtype=np.float64)[:, 3]
    pixels = np.array([[-0.5, -0.5, 1], [width - 0.5, -0.5, 1], [width - 0.5, height - 0.5, 1], [-0.5, height - 0.5, 1]])
    rays = pixels @ np.linalg.inv(np.asarray(intrinsic, dtype=np.float64)).T
    camera = np.concatenate([np.zeros((1, 3)), rays / rays[:, 2:] * depth])
    return (camera - trans) @ rot  # R^T (x - t), row-wise


def frame_verdicts(consistency: Any, num_frames: int) -> tuple[list[str | None], list[list[str]]]:
    """Per-frame verdicts (``"ok"``, ``"suspect"``, None) and reasons from a ConsistencyReport or its JSON dict.

    ``consistency`` may be None (nothing checked: all None). A report of another number of frames is a ValueError.
    """
    if consistency is None:
        return [None] * num_frames, [[] for _ in range(num_frames)]
    frames = consistency.get("frames") if isinstance(consistency, dict) else getattr(consistency, "frames", None)
    if not isinstance(frames, list) or len(frames) != num_frames:
        found = len(frames) if isinstance(frames, list) else type(frames).__name__
        raise ValueError(f"the consistency report covers {found} frames, the reconstruction has {num_frames}")
    checks = consistency.get("checks") if isinstance(consistency, dict) else getattr(consistency, "checks", None)
    if not checks:  # no check ran (one frame, missing inputs): no verdict either
        return [None] * num_frames, [[] for _ in range(num_frames)]
    verdicts: list[str | None] = []
    reasons: list[list[str]] = []
    for frame in frames:
        if isinstance(frame, dict):
            verdict, why = frame.get("verdict"), frame.get("reasons") or []
        else:
            verdict, why = frame.verdict, list(frame.reasons)
        verdicts.append(verdict if verdict in ("ok", "suspect") else None)
        reasons.append([str(r) for r in why])
    return verdicts, reasons
