"""Scene types of the training data: :class:`Frame`, :class:`Scene`, :class:`ArrayScene`, :class:`SceneError`.

Also the two pixel <-> world helpers the data pipeline shares (:func:`pixels_to_world`,
:func:`world_to_pixels`) and :data:`VALID_DEPTH`, the smallest depth that counts as known.

Conventions (docs/architecture.md, "Conventions"): images are RGB uint8; intrinsics are OpenCV K
with the integer pixel at the pixel centre; extrinsics are camera-from-world ``[R | t]`` (OpenCV
axes); depth is camera-frame z, 0 where unknown.
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass

import numpy as np

from vggt_py.data.synthetic import SyntheticScene
from vggt_py.errors import InputError
from vggt_py.geometry.pixels import MIN_DEPTH

__all__ = [
    "ROTATION_TOLERANCE",
    "VALID_DEPTH",
    "ArrayScene",
    "Frame",
    "Scene",
    "SceneError",
    "pixels_to_world",
    "rotation_problem",
    "world_to_pixels",
]

VALID_DEPTH = MIN_DEPTH
"""Depth values at or below this are "unknown" throughout the data pipeline (the package-wide minimum depth)."""


class SceneError(InputError):
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
    """A set of posed views: cameras held in memory (given to the constructor), images and depth maybe loaded lazily."""

    def __init__(self, name: str, intrinsics: np.ndarray, extrinsics: np.ndarray):
        self.name = name
        self._intrinsics = intrinsics
        self._extrinsics = extrinsics

    @property
    def intrinsics(self) -> np.ndarray:
        """[F,3,3] float64."""
        return self._intrinsics

    @property
    def extrinsics(self) -> np.ndarray:
        """[F,3,4] float64 camera-from-world."""
        return self._extrinsics

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
    for i, rotation in enumerate(extrinsics[:, :, :3]):
        problem = rotation_problem(rotation)
        if problem:
            raise SceneError(name, None, f"frame {i}: the extrinsics' 3x3 part is not a rotation ({problem})")


ROTATION_TOLERANCE = 1e-3  # |R^T R - I| and |det R - 1| allowed (cameras stored as float32 text)


def rotation_problem(rotation: np.ndarray) -> str | None:
    """Why ``rotation`` ([3, 3]) is not a rotation matrix (orthonormal, determinant +1), or None."""
    r = np.asarray(rotation, dtype=np.float64)
    off = float(np.abs(r.T @ r - np.eye(3)).max())
    det = float(np.linalg.det(r))
    if off > ROTATION_TOLERANCE:
        return f"R^T R differs from the identity by {off:.3g}; scale or shear in the camera matrix?"
    if abs(det - 1.0) > ROTATION_TOLERANCE:
        return f"determinant {det:.3g}, expected +1 (a reflection?)"
    return None


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
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise SceneError(name, None, f"images must be uint8 [F,H,W,3], got {images.dtype} {images.shape}")
        intrinsics = np.asarray(intrinsics, dtype=np.float64)
        extrinsics = np.asarray(extrinsics, dtype=np.float64)
        _check_cameras(name, intrinsics, extrinsics)
        super().__init__(name, intrinsics, extrinsics)
        if images.shape[0] != intrinsics.shape[0]:
            raise SceneError(name, None, f"{images.shape[0]} images but {intrinsics.shape[0]} cameras")
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
    def has_depth(self) -> bool:
        return self._depths is not None

    def image_size(self, index: int) -> tuple[int, int]:
        return int(self._images.shape[1]), int(self._images.shape[2])

    def depth(self, index: int) -> np.ndarray | None:
        return None if self._depths is None else self._depths[index]

    def load_frame(self, index: int) -> Frame:
        return Frame(self._images[index], self.depth(index), self.intrinsics[index], self.extrinsics[index])


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
