"""COLMAP sparse models as training scenes (read with pycolmap).

A COLMAP scene folder holds the images and a sparse model::

    SCENE/
      images/...                 the images, named as in the model (sub-folders allowed)
      sparse/                    cameras, images and points3D (.bin or .txt), or
      sparse/0/                  one sub-model per folder (the first in sorted order is read)

Only registered images are used, in order of name. Cameras must be pinhole models
(SIMPLE_PINHOLE, PINHOLE, or a radial / OpenCV model whose distortion is zero): undistort
other data first (``colmap image_undistorter``). COLMAP puts pixel centres at +0.5, vggt_py at
integers, so principal points are shifted by -0.5 on the way in.

Depth is sparse: every 3-D point seen by an image (with a long enough track and a small enough
reprojection error) is projected into it, and its camera-frame z is written at the nearest pixel
(the closest point wins). Everything else is 0 (unknown).

Errors name the scene and the file at fault (:class:`~vggt_py.data.scene.SceneError`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from vggt_py.data.scene import Frame, Scene, SceneError, world_to_pixels

__all__ = ["ColmapScene", "find_colmap_model", "read_colmap_scene"]

_MODEL_FILES = ("cameras", "images", "points3D")
# Models whose projection is a pinhole once their extra (distortion) parameters are zero.
_PINHOLE_FAMILY = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV", "FULL_OPENCV")
_DISTORTION_TOLERANCE = 1e-8


def _import_pycolmap():
    try:
        import pycolmap
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("reading COLMAP scenes needs pycolmap: pip install pycolmap") from err
    return pycolmap


def _has_model(folder: Path) -> bool:
    return any((folder / f"cameras{ext}").is_file() for ext in (".bin", ".txt"))


def find_colmap_model(scene_dir: str | os.PathLike[str]) -> Path:
    """The sparse model folder of a scene: ``sparse/`` itself or its first sub-model (``sparse/0``)."""
    root = Path(scene_dir)
    sparse = root / "sparse"
    if not sparse.is_dir():
        raise SceneError(str(root), sparse, "no sparse/ model folder")
    if _has_model(sparse):
        return sparse
    models = sorted((p for p in sparse.iterdir() if p.is_dir() and _has_model(p)), key=lambda p: p.name)
    if not models:
        raise SceneError(
            str(root), sparse / "cameras.bin", "missing: no cameras.bin / cameras.txt in sparse/ or sparse/*/"
        )
    return models[0]


def _check_model_files(scene: str, model: Path) -> None:
    """Name the model file that is missing or empty before pycolmap reads the folder."""
    binary = (model / "cameras.bin").is_file()
    ext = ".bin" if binary else ".txt"
    for stem in _MODEL_FILES:
        path = model / f"{stem}{ext}"
        if not path.is_file():
            raise SceneError(scene, path, f"missing ({'binary' if binary else 'text'} model)")
        if binary and path.stat().st_size == 0:
            raise SceneError(scene, path, "empty file")


def _intrinsics(scene: str, file: Path, camera) -> np.ndarray:
    """K (vggt_py pixel-centre convention) of a pinhole-family camera."""
    name = camera.model_name
    if name not in _PINHOLE_FAMILY:
        raise SceneError(
            scene,
            file,
            f"camera {camera.camera_id} has model {name}; supported: {', '.join(_PINHOLE_FAMILY)} "
            "(undistort the images first, e.g. with colmap image_undistorter)",
        )
    params = np.asarray(camera.params, dtype=np.float64)
    extra = params[list(camera.extra_params_idxs())]
    if extra.size and np.abs(extra).max() > _DISTORTION_TOLERANCE:
        raise SceneError(
            scene,
            file,
            f"camera {camera.camera_id} ({name}) has non-zero distortion {extra.tolist()}; "
            "undistort the images first (colmap image_undistorter)",
        )
    K = np.asarray(camera.calibration_matrix(), dtype=np.float64)
    if not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise SceneError(scene, file, f"camera {camera.camera_id} has invalid parameters {params.tolist()}")
    K[0, 2] -= 0.5
    K[1, 2] -= 0.5
    return K


def _sparse_depth(
    xyz: np.ndarray, K: np.ndarray, E: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, cols and depths of world points [P,3] projected into a camera (nearest point per pixel)."""
    pixels, z = world_to_pixels(xyz, K, E)
    u, v = np.round(pixels).astype(np.int64).T
    keep = (z > 1e-9) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    u, v, z = u[keep], v[keep], z[keep]
    order = np.argsort(z, kind="stable")  # nearest first: np.unique keeps the first of each pixel
    _, first = np.unique((v * width + u)[order], return_index=True)
    pick = order[first]
    return v[pick], u[pick], z[pick].astype(np.float32)


class ColmapScene(Scene):
    """A COLMAP scene: cameras in memory, images loaded on demand, sparse depth from the 3-D points."""

    def __init__(
        self,
        name: str,
        image_paths: list[Path],
        intrinsics: np.ndarray,
        extrinsics: np.ndarray,
        sizes: np.ndarray,
        sparse: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    ):
        super().__init__(name, intrinsics, extrinsics)
        self.image_paths = image_paths
        self._sizes = sizes
        self._sparse = sparse

    @property
    def has_depth(self) -> bool:
        return True

    def image_size(self, index: int) -> tuple[int, int]:
        height, width = self._sizes[index]
        return int(height), int(width)

    def depth(self, index: int) -> np.ndarray:
        rows, cols, z = self._sparse[index]
        depth = np.zeros(self.image_size(index), dtype=np.float32)
        depth[rows, cols] = z
        return depth

    def load_frame(self, index: int) -> Frame:
        path = self.image_paths[index]
        try:
            with Image.open(path) as img:
                image = np.asarray(img.convert("RGB"))
        except OSError as err:
            raise SceneError(self.name, path, f"unreadable image ({err})") from err
        if image.shape[:2] != self.image_size(index):
            height, width = self.image_size(index)
            raise SceneError(
                self.name, path, f"image is {image.shape[1]}x{image.shape[0]} but its camera is {width}x{height}"
            )
        return Frame(image, self.depth(index), self.intrinsics[index], self.extrinsics[index])


def _point_table(scene: str, file: Path, reconstruction, min_track_length: int, max_error: float | None):
    """{point3D_id: xyz} of the points that pass the track-length and error filters."""
    table: dict[int, np.ndarray] = {}
    for point_id, point in reconstruction.points3D.items():
        xyz = np.asarray(point.xyz, dtype=np.float64)
        if not np.isfinite(xyz).all():
            raise SceneError(scene, file, f"3-D point {point_id} has non-finite coordinates {xyz.tolist()}")
        if point.track.length() < min_track_length:
            continue
        if max_error is not None and point.error > max_error:
            continue
        table[int(point_id)] = xyz
    return table


def read_colmap_scene(
    scene_dir: str | os.PathLike[str],
    *,
    model_dir: str | os.PathLike[str] | None = None,
    image_dir: str | os.PathLike[str] | None = None,
    min_track_length: int = 2,
    max_reprojection_error: float | None = None,
    check_images: bool = True,
) -> ColmapScene:
    """Read a COLMAP scene (layout in the module docstring).

    Args:
        scene_dir: the scene folder (its path is the scene name).
        model_dir: the sparse model folder (default: :func:`find_colmap_model`).
        image_dir: the image folder (default ``scene_dir/images``).
        min_track_length: 3-D points seen by fewer images give no depth.
        max_reprojection_error: 3-D points with a larger mean error (px) give no depth (None: keep all).
        check_images: open every image header now to check it exists and matches its camera size.

    Raises:
        SceneError: naming the scene and the file, for a missing or unreadable model file or image,
            an unsupported or distorted camera, non-finite poses or points, or no registered image.
    """
    pycolmap = _import_pycolmap()
    root = Path(scene_dir)
    name = str(root)
    if not root.is_dir():
        raise SceneError(name, None, "not a folder")
    model = Path(model_dir) if model_dir is not None else find_colmap_model(root)
    images_root = Path(image_dir) if image_dir is not None else root / "images"
    _check_model_files(name, model)
    ext = ".bin" if (model / "cameras.bin").is_file() else ".txt"
    cameras_file, images_file, points_file = (model / f"{stem}{ext}" for stem in _MODEL_FILES)
    try:
        reconstruction = pycolmap.Reconstruction(str(model))
    except Exception as err:  # pycolmap raises assorted types for corrupt files
        raise SceneError(
            name,
            model,
            f"pycolmap could not read the model ({type(err).__name__}: {err}); "
            f"check {cameras_file.name}, {images_file.name} and {points_file.name}",
        ) from err

    registered = sorted((im for im in reconstruction.images.values() if im.has_pose), key=lambda im: im.name)
    if not registered:
        raise SceneError(name, images_file, "no registered image in the model")
    points = _point_table(name, points_file, reconstruction, min_track_length, max_reprojection_error)

    paths, intrinsics, extrinsics, sizes, sparse = [], [], [], [], []
    for image in registered:
        if image.camera_id not in reconstruction.cameras:
            raise SceneError(name, images_file, f"image {image.name!r} refers to missing camera {image.camera_id}")
        camera = reconstruction.cameras[image.camera_id]
        K = _intrinsics(name, cameras_file, camera)
        E = np.asarray(image.cam_from_world().matrix(), dtype=np.float64)
        if not np.isfinite(E).all():
            raise SceneError(name, images_file, f"image {image.name!r} has a non-finite pose")
        height, width = int(camera.height), int(camera.width)
        path = images_root / image.name
        if check_images:
            _check_image_file(name, path, width, height)
        ids = [p.point3D_id for p in image.points2D if p.has_point3D() and p.point3D_id in points]
        xyz = np.array([points[i] for i in ids], dtype=np.float64).reshape(-1, 3)
        paths.append(path)
        intrinsics.append(K)
        extrinsics.append(E)
        sizes.append((height, width))
        sparse.append(_sparse_depth(xyz, K, E, height, width))
    return ColmapScene(name, paths, np.stack(intrinsics), np.stack(extrinsics), np.array(sizes), sparse)


def _check_image_file(scene: str, path: Path, width: int, height: int) -> None:
    if not path.is_file():
        raise SceneError(scene, path, "missing image")
    try:
        with Image.open(path) as img:
            size = img.size
    except OSError as err:
        raise SceneError(scene, path, f"unreadable image ({err})") from err
    if size != (width, height):
        raise SceneError(scene, path, f"image is {size[0]}x{size[1]} but its camera is {width}x{height}")
