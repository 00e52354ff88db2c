"""Training augmentations that keep the cameras right: crop / resize about the principal point, colour jitter.

See docs/architecture.md, "Augmentations".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vggt_py.data.scene import Frame

__all__ = ["AugmentConfig", "color_jitter", "crop_resize_frame"]

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentations (docs/architecture.md, "Augmentations").

    Attributes:
        scale_range: per-axis factors of the crop around the principal point, drawn uniformly and
            capped at 1 (a random zoom-in / aspect change of up to 20 % per axis by default).
        resize_jitter: the resize overshoot is ``4 + T * max(target)`` px with ``T ~ triangular(0, 0,
            resize_jitter)`` (the strict crop then cuts it away).
        brightness, contrast, saturation, hue: colour-jitter strengths (factors ``U(1 - x, 1 + x)``,
            hue shift ``U(-hue, hue)`` turns).
        color_prob: probability of jittering colours; grayscale_prob: of converting to grey.
        shared_color_prob: probability that all frames of a sample share the colour parameters.
    """

    scale_range: tuple[float, float] = (0.8, 1.2)
    resize_jitter: float = 0.3
    brightness: float = 0.5
    contrast: float = 0.5
    saturation: float = 0.5
    hue: float = 0.1
    color_prob: float = 0.9
    grayscale_prob: float = 0.05
    shared_color_prob: float = 0.7

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        checks = [
            (0 < lo <= hi, f"scale_range must satisfy 0 < low <= high, got {self.scale_range}"),
            (self.resize_jitter >= 0, f"resize_jitter must be >= 0, got {self.resize_jitter}"),
            (min(self.brightness, self.contrast, self.saturation) >= 0, "brightness/contrast/saturation must be >= 0"),
            (0 <= self.hue <= 0.5, f"hue must be in [0, 0.5], got {self.hue}"),
        ]
        for name in ("color_prob", "grayscale_prob", "shared_color_prob"):
            checks.append((0 <= getattr(self, name) <= 1, f"{name} must be in [0, 1], got {getattr(self, name)}"))
        for ok, message in checks:
            if not ok:
                raise ValueError(f"AugmentConfig: {message}")


def _crop(array: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """``array[top:top+height, left:left+width]`` with zero padding outside."""
    out = np.zeros((height, width, *array.shape[2:]), dtype=array.dtype)
    src_top, src_left = max(top, 0), max(left, 0)
    src_bottom, src_right = min(top + height, array.shape[0]), min(left + width, array.shape[1])
    if src_bottom > src_top and src_right > src_left:
        out[src_top - top : src_bottom - top, src_left - left : src_right - left] = array[
            src_top:src_bottom, src_left:src_right
        ]
    return out


def _window_around(center: float, extent: int, size: float) -> tuple[int, int]:
    """(start, length) of a window of at most ``size`` pixels symmetric about ``center``, inside [0, extent)."""
    half = min(size / 2, center, extent - center)
    if half < 1:  # principal point at or beyond the border: fall back to a centred window
        half = size / 2
        center = extent / 2
    start = min(max(math.floor(center) - math.floor(half), 0), extent - 1)
    return start, max(min(2 * math.floor(half), extent - start), 1)


def crop_resize_frame(
    frame: Frame,
    target_hw: tuple[int, int],
    rng: np.random.Generator | None = None,
    augment: AugmentConfig | None = None,
) -> Frame:
    """Crop ``frame`` around its principal point and resize it to ``target_hw`` = (H, W).

    1. (augment) a window of ``(int(H s_y), int(W s_x))``, ``s ~ min(U(scale_range), 1)``, is cut
       symmetrically about the principal point (as large as fits);
    2. the crop is resized by one factor ``max((target + bound) / size)`` (PIL Lanczos when
       shrinking, bicubic when enlarging, nearest for depth), ``bound = 4`` px plus the jitter;
       intrinsics follow the rule ``c += 0.5; K[:2] *= scale; c -= 0.5`` (docs/architecture.md, "Augmentations");
    3. a strict ``target_hw`` crop about the principal point (zero padding where short) leaves it
       within half a pixel of ``(W/2, H/2)``.

    Extrinsics are unchanged. ``rng`` is needed with ``augment``.
    """
    target_h, target_w = target_hw
    if target_h < 1 or target_w < 1:
        raise ValueError(f"target_hw must be positive, got {target_hw}")
    if augment is not None and rng is None:
        raise ValueError("crop_resize_frame: augment needs an rng")
    image = frame.image
    depth = frame.depth if frame.depth is not None else np.zeros(image.shape[:2], dtype=np.float32)
    K = np.array(frame.intrinsics, dtype=np.float64)
    height, width = image.shape[:2]

    # 1. window about the principal point
    crop_h, crop_w = float(height), float(width)
    if augment is not None:
        lo, hi = augment.scale_range
        crop_h = int(height * min(rng.uniform(lo, hi), 1.0))
        crop_w = int(width * min(rng.uniform(lo, hi), 1.0))
    top, rows = _window_around(K[1, 2], height, crop_h)
    left, cols = _window_around(K[0, 2], width, crop_w)
    image, depth = image[top : top + rows, left : left + cols], depth[top : top + rows, left : left + cols]
    K[0, 2] -= left
    K[1, 2] -= top

    # 2. resize with one factor (aspect kept), then the pixel-centre intrinsics rule
    bound = 4.0
    if augment is not None and augment.resize_jitter > 0:
        bound += rng.triangular(0.0, 0.0, augment.resize_jitter) * max(target_hw)
    scale = max((target_h + bound) / rows, (target_w + bound) / cols)
    new_h, new_w = max(round(rows * scale), 1), max(round(cols * scale), 1)
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
    image = np.asarray(Image.fromarray(image).resize((new_w, new_h), resample))
    depth = np.asarray(Image.fromarray(depth.astype(np.float32)).resize((new_w, new_h), Image.Resampling.NEAREST))
    K[0, 2] += 0.5
    K[1, 2] += 0.5
    K[0] *= new_w / cols
    K[1] *= new_h / rows
    K[0, 2] -= 0.5
    K[1, 2] -= 0.5

    # 3. strict crop about the principal point
    top, left = round(K[1, 2] - target_h / 2), round(K[0, 2] - target_w / 2)
    image = _crop(image, top, left, target_h, target_w)
    depth = _crop(depth, top, left, target_h, target_w)
    K[0, 2] -= left
    K[1, 2] -= top
    return Frame(image, depth.astype(np.float32), K, np.asarray(frame.extrinsics, dtype=np.float64))


def _jitter_params(rng: np.random.Generator, config: AugmentConfig) -> tuple[bool, float, float, float, float, bool]:
    jitter = rng.random() < config.color_prob
    b = rng.uniform(max(0.0, 1 - config.brightness), 1 + config.brightness)
    c = rng.uniform(max(0.0, 1 - config.contrast), 1 + config.contrast)
    s = rng.uniform(max(0.0, 1 - config.saturation), 1 + config.saturation)
    h = rng.uniform(-config.hue, config.hue)
    gray = rng.random() < config.grayscale_prob
    return jitter, b, c, s, h, gray


def _hue_rotation(turns: float) -> np.ndarray:
    """RGB -> RGB matrix rotating the chroma plane of YIQ by ``turns`` (an HSV hue shift, approximately)."""
    to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    cos, sin = math.cos(2 * math.pi * turns), math.sin(2 * math.pi * turns)
    rotate = np.array([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
    return (np.linalg.inv(to_yiq) @ rotate @ to_yiq).astype(np.float32)


def _apply_jitter(image: np.ndarray, params: tuple[bool, float, float, float, float, bool]) -> np.ndarray:
    """One [H,W,3] float image in [0, 1]: brightness, contrast, saturation, hue, then grayscale."""
    jitter, b, c, s, h, gray = params
    if jitter:
        image = np.clip(image * b, 0, 1)
        image = np.clip(c * image + (1 - c) * float((image @ _LUMA).mean()), 0, 1)
        image = np.clip(s * image + (1 - s) * (image @ _LUMA)[..., None], 0, 1)
        image = np.clip(image @ _hue_rotation(h).T, 0, 1)
    if gray:
        image = np.repeat((image @ _LUMA)[..., None], 3, axis=-1)
    return image.astype(np.float32)


def color_jitter(images: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Colour-jitter a frame stack [S,H,W,3] float32 in [0, 1] (shared or per-frame parameters)."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be [S,H,W,3], got {images.shape}")
    if rng.random() < config.shared_color_prob:
        params = _jitter_params(rng, config)
        return np.stack([_apply_jitter(im, params) for im in images])
    return np.stack([_apply_jitter(im, _jitter_params(rng, config)) for im in images])
