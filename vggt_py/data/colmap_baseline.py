"""Classical structure-from-motion baseline: COLMAP (via pycolmap) on a scene's images alone.

Pipeline: SIFT feature extraction, exhaustive matching with geometric verification and
incremental mapping, all from pycolmap (``pip install pycolmap``; tested with 4.x). The
largest reconstruction is returned in vggt_py conventions: camera-from-world [R | t] (OpenCV
axes, as COLMAP's own) and K with the integer pixel at the pixel centre. COLMAP puts pixel
centres at +0.5, so principal points are shifted by 0.5 on the way in and out.

Poses are only defined up to a similarity transform (COLMAP's gauge), so compare them
through gauge-invariant quantities (relative rotations, aligned trajectories).

Input: an array of frames, a folder of photos or a list of photo files (each photo is read as
:func:`vggt_py.inference.images.read_image` reads it: EXIF orientation applied, 8-bit RGB; photos
may differ in size, each frame gets its own camera). COLMAP's log (a few hundred lines for a few
dozen photos) is silenced below errors unless ``verbose=True``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["ColmapResult", "run_colmap"]


@dataclass(eq=False)
class ColmapResult:
    """Output of :func:`run_colmap` for S input frames and P sparse points.

    Attributes:
        extrinsics: [S,3,4] float64 camera-from-world; NaN rows for unregistered frames.
        intrinsics: [S,3,3] float64 K (pixel-centre convention); NaN for unregistered frames.
        registered: [S] bool, frames registered in the returned reconstruction.
        points: [P,3] float64 sparse 3-D points (same world frame as ``extrinsics``).
        point_colors: [P,3] uint8.
        point_errors: [P] float64 mean reprojection error in pixels.
        num_models: number of reconstructions COLMAP produced (the largest is returned).
    """

    extrinsics: np.ndarray
    intrinsics: np.ndarray
    registered: np.ndarray
    points: np.ndarray
    point_colors: np.ndarray
    point_errors: np.ndarray
    num_models: int

    @property
    def num_registered(self) -> int:
        return int(self.registered.sum())


def _import_pycolmap():
    try:
        import pycolmap
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the COLMAP baseline needs pycolmap: pip install pycolmap") from err
    return pycolmap


ImageInput = np.ndarray | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def _frames(images: ImageInput) -> list[np.ndarray]:
    """[H,W,3] uint8 RGB frames from an array, a folder of photos or a list of photo files."""
    if isinstance(images, (str, os.PathLike)) or (
        isinstance(images, Sequence) and not isinstance(images, np.ndarray) and images
        and all(isinstance(p, (str, os.PathLike)) for p in images)
    ):
        from vggt_py.inference.images import list_images, read_image  # the package's one photo reader

        paths = list_images(images) if isinstance(images, (str, os.PathLike)) and Path(images).is_dir() else None
        if paths is None:
            paths = [Path(images)] if isinstance(images, (str, os.PathLike)) else [Path(p) for p in images]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ValueError(f"images: no such photo file(s): {', '.join(missing)}")
        return [np.asarray(read_image(p), dtype=np.uint8) for p in paths]
    array = np.asarray(images)
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 [S,H,W,3], a folder of photos or a list of photo files, got {array.dtype} {array.shape}"
        )
    return list(array)


def _check_inputs(frames: list[np.ndarray], intrinsics: np.ndarray | None) -> None:
    if len(frames) < 2:
        raise ValueError(f"structure from motion needs at least 2 frames, got {len(frames)}")
    if intrinsics is not None and intrinsics.shape != (len(frames), 3, 3):
        raise ValueError(f"intrinsics must be [S,3,3] = [{len(frames)},3,3], got {intrinsics.shape}")


@contextlib.contextmanager
def _colmap_log(pycolmap, verbose: bool) -> Iterator[None]:
    """COLMAP's (glog) messages below ERROR silenced for the block unless ``verbose``."""
    previous = pycolmap.logging.minloglevel
    if not verbose:
        pycolmap.logging.minloglevel = 2  # glog: 0 INFO, 1 WARNING, 2 ERROR
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = previous


def _set_known_cameras(pycolmap, database: Path, names: list[str], intrinsics: np.ndarray) -> None:
    """Replace the cameras found by feature extraction with fixed PINHOLE cameras."""
    db = pycolmap.Database.open(str(database))
    try:
        for name, k in zip(names, intrinsics):
            image = db.read_image_with_name(name)
            camera = db.read_camera(image.camera_id)
            params = [k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5]
            fixed = pycolmap.Camera(
                camera_id=camera.camera_id,
                model="PINHOLE",
                width=camera.width,
                height=camera.height,
                params=params,
                has_prior_focal_length=True,
            )
            db.update_camera(fixed)
    finally:
        db.close()


def _pipeline_options(pycolmap, fixed_intrinsics: bool, seed: int):
    options = pycolmap.IncrementalPipelineOptions()
    options.random_seed = seed
    options.min_model_size = 2
    if fixed_intrinsics:
        options.ba_refine_focal_length = False
        options.ba_refine_principal_point = False
        options.ba_refine_extra_params = False
    return options


def _to_result(reconstruction, names: list[str], num_models: int) -> ColmapResult:
    s = len(names)
    index = {name: i for i, name in enumerate(names)}
    extrinsics = np.full((s, 3, 4), np.nan)
    intrinsics = np.full((s, 3, 3), np.nan)
    registered = np.zeros(s, dtype=bool)
    if reconstruction is not None:
        for image in reconstruction.images.values():
            if not image.has_pose or image.name not in index:
                continue
            i = index[image.name]
            extrinsics[i] = image.cam_from_world().matrix()
            k = np.array(image.camera.calibration_matrix(), dtype=np.float64)
            k[0, 2] -= 0.5
            k[1, 2] -= 0.5
            intrinsics[i] = k
            registered[i] = True
        points3d = list(reconstruction.points3D.values())
    else:
        points3d = []
    return ColmapResult(
        extrinsics=extrinsics,
        intrinsics=intrinsics,
        registered=registered,
        points=np.array([p.xyz for p in points3d], dtype=np.float64).reshape(-1, 3),
        point_colors=np.array([p.color for p in points3d], dtype=np.uint8).reshape(-1, 3),
        point_errors=np.array([p.error for p in points3d], dtype=np.float64),
        num_models=num_models,
    )


def run_colmap(
    images: ImageInput,
    intrinsics: np.ndarray | None = None,
    *,
    camera_model: str = "SIMPLE_RADIAL",
    max_num_features: int = 8192,
    seed: int = 0,
    work_dir: str | Path | None = None,
    verbose: bool = False,
) -> ColmapResult:
    """Run SIFT + exhaustive matching + incremental mapping on ``images``.

    Args:
        images: [S,H,W,3] uint8 RGB frames, a folder of photos (natural file-name order, as
            :func:`vggt_py.inference.images.list_images`) or a list of photo files; S >= 2. Frames
            of the result are in this order.
        intrinsics: optional [S,3,3] known K per frame (pixel-centre convention). When given,
            cameras are fixed PINHOLE models and bundle adjustment does not refine them.
        camera_model: COLMAP camera model for unknown intrinsics (one camera per image).
        max_num_features: SIFT features per image.
        seed: COLMAP's random seed.
        work_dir: folder for the images, database and models (a temporary one if None).
        verbose: show COLMAP's log (feature extraction, matching, mapping, bundle adjustment).

    Returns:
        A :class:`ColmapResult` for the reconstruction with the most registered frames
        (all frames unregistered if COLMAP found none).
    """
    pycolmap = _import_pycolmap()
    frames = _frames(images)
    _check_inputs(frames, intrinsics)
    with tempfile.TemporaryDirectory(prefix="vggt_colmap_") as tmp, _colmap_log(pycolmap, verbose):
        root = Path(work_dir) if work_dir is not None else Path(tmp)
        image_dir, sparse_dir, database = root / "images", root / "sparse", root / "database.db"
        image_dir.mkdir(parents=True, exist_ok=True)
        sparse_dir.mkdir(parents=True, exist_ok=True)
        if database.exists():
            database.unlink()
        names = [f"{i:06d}.png" for i in range(len(frames))]
        for name, frame in zip(names, frames):
            Image.fromarray(frame).save(image_dir / name)

        pycolmap.set_random_seed(seed)
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = "PINHOLE" if intrinsics is not None else camera_model
        extraction = pycolmap.FeatureExtractionOptions()
        extraction.sift.max_num_features = max_num_features
        pycolmap.extract_features(
            database,
            image_dir,
            image_names=names,
            camera_mode=pycolmap.CameraMode.PER_IMAGE,
            reader_options=reader,
            extraction_options=extraction,
            device=pycolmap.Device.cpu,
        )
        if intrinsics is not None:
            _set_known_cameras(pycolmap, database, names, np.asarray(intrinsics, dtype=np.float64))
        pycolmap.match_exhaustive(database, device=pycolmap.Device.cpu)
        models = pycolmap.incremental_mapping(
            database, image_dir, sparse_dir, options=_pipeline_options(pycolmap, intrinsics is not None, seed)
        )
        best = max(models.values(), key=lambda r: r.num_reg_images(), default=None)
        return _to_result(best, names, len(models))
