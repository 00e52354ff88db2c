"""Multi-view training data: scenes, frame sampling, augmentation, batching and GT normalisation.

Pipeline (ARCHITECTURE §10.3, §10.6), for one sample of a batch:

1. a :class:`DynamicBatchSampler` draws, per batch, the frame count ``S`` and the image size
   ``H x W`` shared by every scene of the batch, and a seed per sample (:class:`SampleRequest`);
2. :class:`MultiViewDataset` opens the scene (:class:`SceneCollection`: synthetic scenes rendered on
   the fly, scene folders, or COLMAP models), picks ``S`` frames (:func:`sample_frames`: an anchor
   frame first, then frames whose depth reprojects into it), crops and resizes each frame around
   its principal point with the intrinsics updated (:func:`crop_resize_frame`), jitters colours
   (:func:`color_jitter`), builds ground-truth tracks from depth (:func:`tracks_from_depth`) and
   normalises the ground truth to the first camera and unit mean point distance
   (:func:`normalize_to_first_camera`).

Every random draw of a sample comes from its own seed, so a sample is a pure function of its
request: data loading is reproducible across runs, worker counts, world sizes and resumes.

Conventions: images are RGB; intrinsics are OpenCV K with the integer pixel at the pixel centre;
extrinsics are camera-from-world ``[R | t]`` (OpenCV axes); depth is camera-frame z, 0 where unknown.
"""

from __future__ import annotations

import abc
import functools
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from PIL import Image

from vggt_py.data.synthetic import SceneConfig, SyntheticScene, generate_scene
from vggt_py.geometry import se3_inverse, to_homogeneous, unproject_depth

__all__ = [
    "ArrayScene",
    "AugmentConfig",
    "DynamicBatchSampler",
    "Frame",
    "MultiViewDataset",
    "SampleRequest",
    "Scene",
    "SceneCollection",
    "SceneError",
    "batch_image_size",
    "color_jitter",
    "covisibility_scores",
    "crop_resize_frame",
    "normalize_to_first_camera",
    "pixels_to_world",
    "sample_frames",
    "tracks_from_depth",
    "world_to_pixels",
]

SceneKind = Literal["auto", "folder", "colmap"]
_VALID_DEPTH = 1e-8
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class SceneError(ValueError):
    """A scene that cannot be used; the message names the scene and the file at fault."""

    def __init__(self, scene: str, file: str | os.PathLike[str] | None, message: str):
        where = f"scene {scene!r}" + (f", file {str(file)!r}" if file is not None else "")
        super().__init__(f"{where}: {message}")
        self.scene = scene
        self.file = None if file is None else str(file)


# ------------------------------------------------------------------------------------------- scenes
@dataclass(frozen=True, eq=False)
class Frame:
    """One view: ``image`` [H,W,3] uint8, ``depth`` [H,W] float32 (0 = unknown) or None, K [3,3], [R|t] [3,4]."""

    image: np.ndarray
    depth: np.ndarray | None
    intrinsics: np.ndarray
    extrinsics: np.ndarray


class Scene(abc.ABC):
    """A set of posed views. Cameras are held in memory; images and depth may be loaded lazily."""

    def __init__(self, name: str):
        self.name = name

    @property
    @abc.abstractmethod
    def intrinsics(self) -> np.ndarray:
        """[F,3,3] float64."""

    @property
    @abc.abstractmethod
    def extrinsics(self) -> np.ndarray:
        """[F,3,4] float64 camera-from-world."""

    @property
    @abc.abstractmethod
    def has_depth(self) -> bool:
        """Whether :meth:`depth` returns maps (dense or sparse)."""

    @abc.abstractmethod
    def image_size(self, index: int) -> tuple[int, int]:
        """(H, W) of frame ``index``."""

    @abc.abstractmethod
    def load_frame(self, index: int) -> Frame:
        """Image, depth and cameras of frame ``index``."""

    def depth(self, index: int) -> np.ndarray | None:
        """[H,W] float32 depth of frame ``index`` (0 = unknown), or None without depth."""
        return self.load_frame(index).depth

    @property
    def num_frames(self) -> int:
        return int(self.intrinsics.shape[0])


def _check_cameras(name: str, intrinsics: np.ndarray, extrinsics: np.ndarray) -> None:
    frames = intrinsics.shape[0] if intrinsics.ndim else 0
    if intrinsics.shape != (frames, 3, 3) or extrinsics.shape != (frames, 3, 4) or frames == 0:
        raise SceneError(
            name,
            None,
            f"expected intrinsics [F,3,3] and extrinsics [F,3,4] with F >= 1, "
            f"got {intrinsics.shape} and {extrinsics.shape}",
        )
    if not (np.isfinite(intrinsics).all() and np.isfinite(extrinsics).all()):
        raise SceneError(name, None, "cameras contain NaN or infinite values")
    if not ((intrinsics[:, 0, 0] > 0).all() and (intrinsics[:, 1, 1] > 0).all()):
        raise SceneError(name, None, "focal lengths must be positive")


class ArrayScene(Scene):
    """A scene held in memory as arrays (synthetic scenes, scene folders)."""

    def __init__(
        self,
        name: str,
        images: np.ndarray,
        intrinsics: np.ndarray,
        extrinsics: np.ndarray,
        depths: np.ndarray | None = None,
    ):
        super().__init__(name)
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise SceneError(name, None, f"images must be uint8 [F,H,W,3], got {images.dtype} {images.shape}")
        self._intrinsics = np.asarray(intrinsics, dtype=np.float64)
        self._extrinsics = np.asarray(extrinsics, dtype=np.float64)
        _check_cameras(name, self._intrinsics, self._extrinsics)
        if images.shape[0] != self._intrinsics.shape[0]:
            raise SceneError(name, None, f"{images.shape[0]} images but {self._intrinsics.shape[0]} cameras")
        if depths is not None:
            depths = np.asarray(depths, dtype=np.float32)
            if depths.shape != images.shape[:3]:
                raise SceneError(name, None, f"depths must be [F,H,W] = {images.shape[:3]}, got {depths.shape}")
            depths = np.where(np.isfinite(depths) & (depths > 0), depths, 0.0).astype(np.float32)
        self._images = images
        self._depths = depths

    @classmethod
    def from_synthetic(cls, scene: SyntheticScene, name: str) -> ArrayScene:
        """Wrap a :class:`~vggt_py.data.synthetic.SyntheticScene` (depth outside ``valid_masks`` is dropped)."""
        depths = np.where(scene.valid_masks, scene.depths, 0.0)
        return cls(name, scene.images, scene.intrinsics, scene.extrinsics, depths)

    @property
    def intrinsics(self) -> np.ndarray:
        return self._intrinsics

    @property
    def extrinsics(self) -> np.ndarray:
        return self._extrinsics

    @property
    def has_depth(self) -> bool:
        return self._depths is not None

    def image_size(self, index: int) -> tuple[int, int]:
        return int(self._images.shape[1]), int(self._images.shape[2])

    def depth(self, index: int) -> np.ndarray | None:
        return None if self._depths is None else self._depths[index]

    def load_frame(self, index: int) -> Frame:
        return Frame(self._images[index], self.depth(index), self._intrinsics[index], self._extrinsics[index])


def _open_synthetic(config: SceneConfig, seed: int, name: str) -> Scene:
    return ArrayScene.from_synthetic(generate_scene(config, seed), name)


def _open_folder(path: str) -> Scene:
    from vggt_py.data.scene_folder import read_scene_folder

    return ArrayScene.from_synthetic(read_scene_folder(path), path)


def _open_colmap(path: str) -> Scene:
    from vggt_py.data.colmap_scenes import read_colmap_scene

    return read_colmap_scene(path)


def _scene_kind(path: Path) -> str | None:
    """ "folder" (a ``cameras.json``), "colmap" (a ``sparse/`` model) or None."""
    if (path / "cameras.json").is_file():
        return "folder"
    if (path / "sparse").is_dir():
        return "colmap"
    return None


class SceneCollection:
    """An indexable list of scenes, each opened on demand by a (picklable) loader."""

    def __init__(self, entries: Sequence[tuple[str, Callable[[], Scene]]]):
        if len(entries) == 0:
            raise ValueError("a SceneCollection needs at least one scene")
        self._names = [name for name, _ in entries]
        self._loaders = [loader for _, loader in entries]

    def __len__(self) -> int:
        return len(self._names)

    def name(self, index: int) -> str:
        return self._names[index]

    def open(self, index: int) -> Scene:
        return self._loaders[index]()

    def validate(self) -> None:
        """Open every scene once, so a broken scene fails now (naming scene and file) rather than mid-training."""
        for index in range(len(self)):
            self.open(index)

    def __add__(self, other: SceneCollection) -> SceneCollection:
        return SceneCollection(list(zip(self._names, self._loaders)) + list(zip(other._names, other._loaders)))

    @classmethod
    def synthetic(cls, config: SceneConfig, num_scenes: int, seed: int = 0) -> SceneCollection:
        """Scenes ``generate_scene(config, seed + i)`` for ``i < num_scenes``, rendered when opened."""
        if num_scenes < 1:
            raise ValueError(f"num_scenes must be >= 1, got {num_scenes}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        entries = []
        for i in range(num_scenes):
            name = f"synthetic-{seed + i:06d}"
            entries.append((name, functools.partial(_open_synthetic, config, seed + i, name)))
        return cls(entries)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], kind: SceneKind = "auto") -> SceneCollection:
        """Scenes at ``path``: the folder itself if it is a scene, else its scene sub-folders (sorted).

        A scene folder holds ``cameras.json`` (:mod:`vggt_py.data.scene_folder`); a COLMAP scene holds
        ``sparse/`` and ``images/`` (:mod:`vggt_py.data.colmap_scenes`). ``kind`` forces one format.
        """
        if kind not in ("auto", "folder", "colmap"):
            raise ValueError(f"kind must be 'auto', 'folder' or 'colmap', got {kind!r}")
        root = Path(path)
        if not root.is_dir():
            raise ValueError(f"scene path {str(root)!r} is not a folder")
        candidates = [root] if _scene_kind(root) else sorted(p for p in root.iterdir() if p.is_dir())
        entries = []
        for folder in candidates:
            found = _scene_kind(folder)
            if found is None or (kind != "auto" and found != kind):
                continue
            opener = _open_folder if found == "folder" else _open_colmap
            entries.append((str(folder), functools.partial(opener, str(folder))))
        if not entries:
            wanted = {"auto": "cameras.json or sparse/", "folder": "cameras.json", "colmap": "sparse/"}[kind]
            raise ValueError(f"no scenes found at {str(root)!r}: expected it or its sub-folders to hold {wanted}")
        return cls(entries)


# -------------------------------------------------------------------------------- pixel geometry
def pixels_to_world(uv: np.ndarray, depth: np.ndarray, K: np.ndarray, E: np.ndarray) -> np.ndarray:
    """World points [P,3] of pixels ``uv`` [P,2] at z-depths [P] of camera (K [3,3], camera-from-world E [3,4])."""
    K, E = np.asarray(K, dtype=np.float64), np.asarray(E, dtype=np.float64)
    y = (uv[:, 1] - K[1, 2]) / K[1, 1]
    x = (uv[:, 0] - K[0, 2] - K[0, 1] * y) / K[0, 0]
    camera = np.stack([x * depth, y * depth, depth], axis=1)
    return (camera - E[:, 3]) @ E[:, :3]  # R^T (X_c - t)


def world_to_pixels(points: np.ndarray, K: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels [P,2] and z-depths [P] of world points [P,3]; points at or behind the camera get pixel 0."""
    K, E = np.asarray(K, dtype=np.float64), np.asarray(E, dtype=np.float64)
    camera = points @ E[:, :3].T + E[:, 3]
    z = camera[:, 2]
    safe = np.where(z > 1e-9, z, 1.0)
    u = (K[0, 0] * camera[:, 0] + K[0, 1] * camera[:, 1]) / safe + K[0, 2]
    v = K[1, 1] * camera[:, 1] / safe + K[1, 2]
    front = z > 1e-9
    return np.stack([np.where(front, u, 0.0), np.where(front, v, 0.0)], axis=1), z


# -------------------------------------------------------------------------------- frame selection
def _frame_points(depth: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``max_points`` valid pixels (u, v) [P,2] of a depth map, evenly spread, and their depths [P]."""
    rows, cols = np.nonzero(depth > _VALID_DEPTH)
    if rows.size > max_points:
        pick = np.linspace(0, rows.size - 1, max_points).round().astype(np.int64)
        rows, cols = rows[pick], cols[pick]
    return np.stack([cols, rows], axis=1).astype(np.float64), depth[rows, cols].astype(np.float64)


def covisibility_scores(scene: Scene, anchor: int, max_points: int = 256, depth_tolerance: float = 0.1) -> np.ndarray:
    """How much of every frame's geometry the anchor frame sees: [F] in [0, 1] (1 for the anchor).

    Up to ``max_points`` valid depth pixels of frame ``j`` are unprojected and projected into the
    anchor; the score is the fraction landing inside the anchor image in front of it and not behind
    the anchor's own depth there (``z <= d (1 + depth_tolerance)``, checked where the anchor has depth).
    Frames without depth score 0.
    """
    num = scene.num_frames
    if not 0 <= anchor < num:
        raise ValueError(f"anchor must be in [0, {num}), got {anchor}")
    anchor_depth = scene.depth(anchor)
    height, width = scene.image_size(anchor)
    k_a, e_a = scene.intrinsics[anchor], scene.extrinsics[anchor]
    scores = np.zeros(num)
    for j in range(num):
        if j == anchor:
            scores[j] = 1.0
            continue
        depth = scene.depth(j)
        if depth is None:
            continue
        uv, z = _frame_points(depth, max_points)
        if z.size == 0:
            continue
        world = pixels_to_world(uv, z, scene.intrinsics[j], scene.extrinsics[j])
        pixels, za = world_to_pixels(world, k_a, e_a)
        u, v = pixels[:, 0], pixels[:, 1]
        ok = (za > 1e-9) & (u >= -0.5) & (u <= width - 0.5) & (v >= -0.5) & (v <= height - 0.5)
        if anchor_depth is not None and ok.any():
            col = np.clip(np.round(u[ok]).astype(np.int64), 0, width - 1)
            row = np.clip(np.round(v[ok]).astype(np.int64), 0, height - 1)
            ref = anchor_depth[row, col]
            occluded = (ref > _VALID_DEPTH) & (za[ok] > ref * (1 + depth_tolerance))
            ok[np.flatnonzero(ok)[occluded]] = False
        scores[j] = ok.mean()
    return scores


def sample_frames(
    scene: Scene,
    num_frames: int,
    rng: np.random.Generator,
    covisibility: bool = True,
    min_covisibility: float = 0.05,
) -> np.ndarray:
    """Indices [num_frames] of the frames of one sample: a random anchor first, then the others.

    With ``covisibility`` and depth, the other frames are drawn among those whose
    :func:`covisibility_scores` with the anchor is at least ``min_covisibility``, with probability
    proportional to the score, without replacement. When too few frames qualify (or without
    depth: uniformly among all), the remaining slots repeat qualifying frames (the anchor if none).
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    total = scene.num_frames
    anchor = int(rng.integers(total))
    others = np.array([j for j in range(total) if j != anchor], dtype=np.int64)
    weights = np.ones(others.size)
    if covisibility and scene.has_depth and others.size:
        scores = covisibility_scores(scene, anchor)[others]
        keep = scores >= min_covisibility
        others, weights = others[keep], scores[keep]
    need = num_frames - 1
    if others.size >= need:
        chosen = rng.choice(others, size=need, replace=False, p=weights / weights.sum()) if need else others[:0]
    else:
        pool = others if others.size else np.array([anchor], dtype=np.int64)
        extra = rng.choice(pool, size=need - others.size, replace=True)
        chosen = rng.permutation(np.concatenate([others, extra]))
    return np.concatenate([[anchor], chosen]).astype(np.int64)


# ------------------------------------------------------------------------------------ augmentation
@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentations (ARCHITECTURE §10.6).

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
       intrinsics follow the rule ``c += 0.5; K[:2] *= scale; c -= 0.5`` (§10.6 item 4);
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


# ------------------------------------------------------------------------------------------ tracks
def tracks_from_depth(
    depths: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    num_tracks: int,
    rng: np.random.Generator,
    border: int = 4,
    rel_tolerance: float = 0.05,
    max_candidates: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth tracks of frame-0 pixels from depth (ARCHITECTURE §10.6).

    Candidate queries are valid integer pixels of frame 0. A track is visible in frame ``i`` where
    its projection lies at least ``border`` px inside the image, in front of the camera, and one of
    the 4 depth samples around it agrees with the projected depth within ``rel_tolerance``. Tracks
    visible in frame 0 and at least one other frame (any, when S = 1) are kept; the better-seen half
    (by visible-frame count) is preferred, and ``num_tracks`` are drawn at random.

    Args:
        depths: [S,H,W] (0 = unknown); intrinsics [S,3,3]; extrinsics [S,3,4] camera-from-world.

    Returns:
        ``tracks`` [S,num_tracks,2] float32 (u, v) and ``visibility`` [S,num_tracks] bool; slots
        without a track are zero and invisible everywhere.
    """
    frames, height, width = depths.shape
    tracks = np.zeros((frames, num_tracks, 2), dtype=np.float32)
    visibility = np.zeros((frames, num_tracks), dtype=bool)
    rows, cols = np.nonzero(depths[0] > _VALID_DEPTH)
    inside = (rows >= border) & (rows <= height - 1 - border) & (cols >= border) & (cols <= width - 1 - border)
    rows, cols = rows[inside], cols[inside]
    if num_tracks == 0 or rows.size == 0:
        return tracks, visibility
    if rows.size > max_candidates:
        pick = rng.choice(rows.size, size=max_candidates, replace=False)
        rows, cols = rows[pick], cols[pick]
    queries = np.stack([cols, rows], axis=1).astype(np.float64)
    world = pixels_to_world(queries, depths[0, rows, cols].astype(np.float64), intrinsics[0], extrinsics[0])

    positions = np.zeros((frames, rows.size, 2))
    visible = np.zeros((frames, rows.size), dtype=bool)
    for i in range(frames):
        pixels, z = world_to_pixels(world, intrinsics[i], extrinsics[i])
        u, v = pixels[:, 0], pixels[:, 1]
        ok = (z > 1e-9) & (u >= border) & (u <= width - 1 - border) & (v >= border) & (v <= height - 1 - border)
        match = np.zeros_like(ok)
        for rr in (np.floor(v), np.ceil(v)):
            for cc in (np.floor(u), np.ceil(u)):
                r = np.clip(rr, 0, height - 1).astype(np.int64)
                c = np.clip(cc, 0, width - 1).astype(np.int64)
                d = depths[i, r, c]
                match |= (d > _VALID_DEPTH) & (np.abs(d - z) <= rel_tolerance * np.abs(z))
        positions[i] = pixels
        visible[i] = ok & match
    positions[0] = queries
    visible[0] = True
    counts = visible.sum(axis=0)
    keep = np.flatnonzero(counts >= min(2, frames))
    if keep.size == 0:
        return tracks, visibility
    order = keep[np.argsort(-counts[keep], kind="stable")]
    pool = order[: max(order.size // 2, min(num_tracks, order.size))]
    chosen = rng.choice(pool, size=min(num_tracks, pool.size), replace=False)
    tracks[:, : chosen.size] = positions[:, chosen]
    visibility[:, : chosen.size] = visible[:, chosen]
    return tracks, visibility


# ---------------------------------------------------------------------------------- normalisation
def normalize_to_first_camera(
    extrinsics: torch.Tensor,
    intrinsics: torch.Tensor,
    depths: torch.Tensor,
    min_scale: float = 1e-6,
    max_scale: float = 1e6,
) -> dict[str, torch.Tensor]:
    """Express ground truth in camera 0's frame at unit mean point distance (ARCHITECTURE §10.3).

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
    masks = torch.isfinite(depths) & (depths > _VALID_DEPTH)
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


# ---------------------------------------------------------------------------------------- dataset
class SampleRequest(NamedTuple):
    """What :class:`MultiViewDataset` should produce: ``num_frames`` views of ``scene`` at ``height x width``."""

    scene: int
    num_frames: int
    height: int
    width: int
    seed: int


class MultiViewDataset(torch.utils.data.Dataset):
    """Training / validation samples from a :class:`SceneCollection`.

    Indexed by :class:`SampleRequest` (normally from :class:`DynamicBatchSampler`) or by a plain scene
    index (``default_frames`` views at ``default_size``, seed = index). A sample is a dict:

    =================  =====================  ==================================================
    key                shape                  meaning
    =================  =====================  ==================================================
    images             [S,3,H,W] float32      RGB in [0, 1]
    depths             [S,H,W] float32        normalised z-depth, 0 where unknown
    intrinsics         [S,3,3] float32        K after cropping / resizing
    extrinsics         [S,3,4] float32        camera-from-world, frame 0 = identity, scale-normalised
    world_points       [S,H,W,3] float32      points in camera 0's frame, scale-normalised
    point_masks        [S,H,W] bool           valid depth
    scale              [] float32             the normalisation divisor
    frame_ids          [S] int64              frames of the scene used
    tracks             [S,N,2] float32        (with ``num_tracks``) pixel tracks of frame-0 points
    track_visibility   [S,N] bool             (with ``num_tracks``)
    scene              str                    scene name
    =================  =====================  ==================================================

    Args:
        scenes: the scenes.
        augment: training augmentations (None: deterministic crop / resize, no colour jitter).
        num_tracks: ground-truth tracks per sample (0: none).
        covisibility: prefer frames whose depth reprojects into the anchor frame.
        min_covisibility: the score a frame needs to count as covisible.
        depth_percentile: zero each frame's depth above this percentile of its valid values (None: keep).
        default_frames, default_size: used for a plain integer index.
        cache_size: opened scenes kept in memory (per process).
    """

    def __init__(
        self,
        scenes: SceneCollection,
        *,
        augment: AugmentConfig | None = None,
        num_tracks: int = 0,
        covisibility: bool = True,
        min_covisibility: float = 0.05,
        depth_percentile: float | None = 98.0,
        default_frames: int = 2,
        default_size: tuple[int, int] = (518, 518),
        cache_size: int = 4,
    ):
        if num_tracks < 0:
            raise ValueError(f"num_tracks must be >= 0, got {num_tracks}")
        if depth_percentile is not None and not 0 < depth_percentile <= 100:
            raise ValueError(f"depth_percentile must be in (0, 100] or None, got {depth_percentile}")
        if cache_size < 0 or default_frames < 1:
            raise ValueError("cache_size must be >= 0 and default_frames >= 1")
        self.scenes = scenes
        self.augment = augment
        self.num_tracks = num_tracks
        self.covisibility = covisibility
        self.min_covisibility = min_covisibility
        self.depth_percentile = depth_percentile
        self.default_frames = default_frames
        self.default_size = default_size
        self.cache_size = cache_size
        self._cache: OrderedDict[int, Scene] = OrderedDict()

    def __len__(self) -> int:
        return len(self.scenes)

    def scene(self, index: int) -> Scene:
        """Open scene ``index`` (through a small LRU cache)."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        scene = self.scenes.open(index)
        if self.cache_size:
            self._cache[index] = scene
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return scene

    def _request(self, item: SampleRequest | int) -> SampleRequest:
        if isinstance(item, SampleRequest):
            request = item
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            request = SampleRequest(int(item), self.default_frames, *self.default_size, int(item))
        else:
            raise ValueError(f"index must be a SampleRequest or an int, got {type(item).__name__}")
        if not 0 <= request.scene < len(self):
            raise IndexError(f"scene index {request.scene} out of range for {len(self)} scenes")
        if request.num_frames < 1 or request.height < 1 or request.width < 1:
            raise ValueError(f"invalid request {request}: frames, height and width must be positive")
        return request

    def _clip_depth(self, depth: np.ndarray | None) -> np.ndarray | None:
        if depth is None or self.depth_percentile is None or self.depth_percentile >= 100:
            return depth
        valid = depth > _VALID_DEPTH
        if not valid.any():
            return depth
        limit = np.percentile(depth[valid], self.depth_percentile)
        return np.where(depth > limit, 0.0, depth).astype(np.float32)

    def __getitem__(self, item: SampleRequest | int) -> dict[str, Any]:
        request = self._request(item)
        rng = np.random.default_rng(request.seed)
        scene = self.scene(request.scene)
        ids = sample_frames(scene, request.num_frames, rng, self.covisibility, self.min_covisibility)
        target = (request.height, request.width)
        frames = []
        for i in ids:
            raw = scene.load_frame(int(i))
            raw = Frame(raw.image, self._clip_depth(raw.depth), raw.intrinsics, raw.extrinsics)
            frames.append(crop_resize_frame(raw, target, rng, self.augment))
        images = np.stack([f.image for f in frames]).astype(np.float32) / 255.0
        if self.augment is not None:
            images = color_jitter(images, rng, self.augment)
        depths = np.stack([f.depth for f in frames])
        intrinsics = np.stack([f.intrinsics for f in frames])
        extrinsics = np.stack([f.extrinsics for f in frames])
        normalized = normalize_to_first_camera(
            torch.from_numpy(extrinsics), torch.from_numpy(intrinsics), torch.from_numpy(depths.astype(np.float64))
        )
        sample: dict[str, Any] = {
            "images": torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))),
            "depths": normalized["depths"].float(),
            "intrinsics": torch.from_numpy(intrinsics).float(),
            "extrinsics": normalized["extrinsics"].float(),
            "world_points": normalized["world_points"].float(),
            "point_masks": normalized["point_masks"],
            "scale": normalized["scale"].float(),
            "frame_ids": torch.from_numpy(ids),
            "scene": scene.name,
        }
        if self.num_tracks:
            tracks, visibility = tracks_from_depth(depths, intrinsics, extrinsics, self.num_tracks, rng)
            sample["tracks"] = torch.from_numpy(tracks)
            sample["track_visibility"] = torch.from_numpy(visibility)
        return sample


# ---------------------------------------------------------------------------------------- batching
def batch_image_size(aspect: float, max_side: int, patch_size: int) -> tuple[int, int]:
    """(H, W) for aspect ratio H/W: the long side is ``max_side``, the other rounded down to a patch multiple."""
    if aspect <= 0:
        raise ValueError(f"aspect must be positive, got {aspect}")

    def short(length: float) -> int:
        return max(patch_size, math.floor(length / patch_size) * patch_size)

    if aspect <= 1:
        return short(max_side * aspect), max_side
    return max_side, short(max_side / aspect)


class DynamicBatchSampler(torch.utils.data.Sampler[list[SampleRequest]]):
    """Batches of :class:`SampleRequest` with a random frame count and aspect ratio per batch.

    For each global batch, ``S ~ U{frames}`` and ``aspect ~ U(aspect_range)`` (rounded to 2 decimals)
    are drawn and shared by all its scenes, which number ``max(1, images_per_batch // S)`` per
    replica (so a batch holds about ``images_per_batch`` images per process). Scenes are read from a
    stream of (shuffled) permutations of all scenes; an epoch is ``batches_per_epoch`` batches, or by
    default the batches needed to visit every scene once. Each replica (DDP rank) gets its
    contiguous slice of every global batch, so all ranks step with the same S and H x W.

    Everything is a function of ``(seed, epoch)``: set the epoch with :meth:`set_epoch` and resume
    mid-epoch with :meth:`set_start_batch`.
    """

    def __init__(
        self,
        num_scenes: int,
        *,
        frames: tuple[int, int] = (2, 24),
        aspect_range: tuple[float, float] = (0.33, 1.0),
        max_side: int = 518,
        patch_size: int = 14,
        images_per_batch: int = 48,
        batches_per_epoch: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        checks = [
            (num_scenes >= 1, f"num_scenes must be >= 1, got {num_scenes}"),
            (1 <= frames[0] <= frames[1], f"frames must satisfy 1 <= min <= max, got {frames}"),
            (0 < aspect_range[0] <= aspect_range[1], f"aspect_range must satisfy 0 < lo <= hi, got {aspect_range}"),
            (
                patch_size >= 1 and max_side >= patch_size and max_side % patch_size == 0,
                f"max_side ({max_side}) must be a positive multiple of patch_size ({patch_size})",
            ),
            (images_per_batch >= 1, f"images_per_batch must be >= 1, got {images_per_batch}"),
            (batches_per_epoch is None or batches_per_epoch >= 1, "batches_per_epoch must be >= 1 or None"),
            (
                num_replicas >= 1 and 0 <= rank < num_replicas,
                f"need 0 <= rank < num_replicas, got {rank}, {num_replicas}",
            ),
            (seed >= 0, f"seed must be >= 0, got {seed}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"DynamicBatchSampler: {message}")
        self.num_scenes = num_scenes
        self.frames = (int(frames[0]), int(frames[1]))
        self.aspect_range = (float(aspect_range[0]), float(aspect_range[1]))
        self.max_side = max_side
        self.patch_size = patch_size
        self.images_per_batch = images_per_batch
        self.batches_per_epoch = batches_per_epoch
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.start_batch = 0
        self._memo: tuple[int, list[list[SampleRequest]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.start_batch = 0

    def set_start_batch(self, start: int) -> None:
        """Skip the first ``start`` batches of the current epoch (to resume mid-epoch)."""
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.start_batch = start

    def _shape(self, epoch: int, index: int) -> tuple[int, int, int]:
        rng = np.random.default_rng((self.seed, epoch, index))
        frames = int(rng.integers(self.frames[0], self.frames[1] + 1))
        aspect = round(float(rng.uniform(*self.aspect_range)), 2)
        return (frames, *batch_image_size(aspect, self.max_side, self.patch_size))

    def _scene_stream(self, epoch: int) -> Iterator[int]:
        cycle = 0
        while True:
            if self.shuffle:
                yield from np.random.default_rng((self.seed, epoch, 2**31 + cycle)).permutation(self.num_scenes)
            else:
                yield from range(self.num_scenes)
            cycle += 1

    def global_batches(self, epoch: int) -> list[list[SampleRequest]]:
        """Every global batch of ``epoch`` (all replicas' samples, replica slices contiguous)."""
        if self._memo is not None and self._memo[0] == epoch:
            return self._memo[1]
        stream = self._scene_stream(epoch)
        batches: list[list[SampleRequest]] = []
        seen = 0
        while (len(batches) < self.batches_per_epoch) if self.batches_per_epoch else (seen < self.num_scenes):
            index = len(batches)
            frames, height, width = self._shape(epoch, index)
            size = max(1, self.images_per_batch // frames) * self.num_replicas
            seeds = np.random.SeedSequence((self.seed, epoch, index)).generate_state(size, dtype=np.uint64)
            batch = [
                SampleRequest(int(next(stream)), frames, height, width, int(seeds[k] >> np.uint64(1)))
                for k in range(size)
            ]
            batches.append(batch)
            seen += size
        self._memo = (epoch, batches)
        return batches

    def num_batches(self, epoch: int) -> int:
        """Batches in ``epoch`` (the same for every replica)."""
        return self.batches_per_epoch or len(self.global_batches(epoch))

    def __len__(self) -> int:
        return max(self.num_batches(self.epoch) - self.start_batch, 0)

    def __iter__(self) -> Iterator[list[SampleRequest]]:
        for batch in self.global_batches(self.epoch)[self.start_batch :]:
            local = len(batch) // self.num_replicas
            yield batch[self.rank * local : (self.rank + 1) * local]
