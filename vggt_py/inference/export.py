"""Write a :class:`Reconstruction` to disk: GLB scene, PLY point cloud, NPZ arrays, COLMAP sparse model,
nerfstudio ``transforms.json``, visual report.

The COLMAP writer lives in :mod:`~vggt_py.inference.colmap_export` (its multi-view tracks in
:mod:`~vggt_py.inference.colmap_tracks`), the nerfstudio writer in
:mod:`~vggt_py.inference.transforms_export`, the point selection in :mod:`~vggt_py.inference.selection`
(all importable from here too) and the visual report (``report/report.html`` + PNGs) in
:mod:`~vggt_py.inference.report`.

:func:`export` is one transaction (:mod:`~vggt_py.inference.export_transaction`, docs/guarantees.md):
every format is written into a staging folder, read back, then swapped in with a manifest
(``vggt-export.json``); a failure or a kill never leaves a truncated file or a mix of two runs.
The single-format writers (:func:`export_glb`...) write their file atomically.

Point selection is shared by all formats (:func:`select_points`): a point is kept when it shows
image content (not padding), has positive finite depth and finite coordinates, passes the optional
confidence bounds and the optional user ``mask``; ``max_points`` then subsamples at random
(reproducibly, ``seed``). :func:`export` computes it once and hands it to every writer; each writer
also takes a precomputed ``selection``.

Coordinates stay in the reconstruction's world frame: frame 0's camera, OpenCV axes (x right, y down,
z forward), in every format except the GLB scene, which is written in glTF's convention by default
(``axes="gltf"``: +Y up, the world rotated by 180 degrees about x, i.e. ``(x, y, z) -> (x, -y, -z)``,
so frame 0 looks down -Z with its image up along +Y and any glTF viewer shows the scene upright);
``axes="opencv"`` keeps the OpenCV world axes.

NPZ keys (:func:`export_npz`, read back with :func:`load_npz`), ``S`` frames at model size ``H x W``:

====================== ================== ============================================================
key                    shape / dtype      meaning
====================== ================== ============================================================
``extrinsics``         [S, 3, 4] float32  camera-from-world ``[R | t]``, OpenCV axes
``intrinsics``         [S, 3, 3] float32  at model resolution (integer = pixel centre)
``depth``              [S, H, W] float32  camera-frame z
``depth_conf``         [S, H, W] float32  depth confidence (>= 1)
``points_from_depth``  [S, H, W, 3]       depth unprojected with the predicted cameras
``colors``             [S, H, W, 3] uint8 the model input
``names``              [S] str            frame names (file names, ``video.mp4#frame=12``)
``original_sizes``     [S, 2] int64       (width, height) of the original images
``transforms``         [S, 3, 3] float64  original pixel -> model pixel
``valid_regions``      [S, 4] int64       (x0, y0, x1, y1) model pixels showing real content
``pose_encoding``      [S, 9] float32     the camera head's raw output
``point_source``       str                ``"depth"`` or ``"head"``
``scale_source``       str                ``"normalised"``, ``"poses"``, ``"distance"`` or ``"depth"``
``metadata``           str                JSON object (device, dtype, mode...)
``format_version``     int                layout version of this file (1)
``points_from_head``   [S, H, W, 3]       optional: the point head's map
``points_conf``        [S, H, W]          optional: its confidence
``query_points``       [N, 2]             optional: tracked queries, model pixels of frame 0
``tracks``             [S, N, 2]          optional: tracks in model pixels
``track_visibility``   [S, N]             optional
``track_confidence``   [S, N]             optional
``known_intrinsics``   [S, 3, 3] float64  optional: the user's camera matrices in ORIGINAL pixels, exactly
====================== ================== ============================================================
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vggt_py.errors import InputError, OutputExistsError
from vggt_py.geometry.pixels import MIN_DEPTH
from vggt_py.inference.colmap_export import COLMAP_CAMERA_MODELS, export_colmap, to_colmap
from vggt_py.inference.colmap_tracks import SparseTracks, build_tracks
from vggt_py.inference.export_transaction import (
    DERIVED_NAMES,
    MANIFEST_NAME,
    STAGING_PREFIX,
    ExportError,
    build_manifest,
    clean_leftovers,
    new_run_id,
    read_manifest,
    swap_in,
    write_manifest,
)
from vggt_py.inference.reconstruction import PointSource, Reconstruction
from vggt_py.inference.selection import PointSelection, check_exportable, select_points
from vggt_py.inference.transforms_export import (
    DEPTH_FOLDER,
    IMAGE_FOLDER,
    TRANSFORMS_CAMERA_MODELS,
    opencv_extrinsic_from_nerfstudio,
    write_transforms,
)
from vggt_py.utils.io import atomic_path, atomic_write_bytes

if TYPE_CHECKING:  # pragma: no cover - typing only
    import trimesh

__all__ = [
    "COLMAP_CAMERA_MODELS",
    "COLMAP_POINTS",
    "EXTRA_NAMES",
    "FORMATS",
    "GLB_AXES",
    "GLTF_FROM_OPENCV",
    "MANIFEST_NAME",
    "VERIFIERS",
    "check_output_dir",
    "WRITERS",
    "ExportError",
    "NPZ_FORMAT_VERSION",
    "OUTPUT_NAMES",
    "PointSelection",
    "export",
    "export_colmap",
    "export_glb",
    "export_npz",
    "export_ply",
    "load_npz",
    "scene_extent",
    "select_points",
    "to_colmap",
    "to_trimesh_scene",
    "write_transforms",
]

FORMATS: tuple[str, ...] = ("glb", "ply", "colmap", "npz", "transforms", "report")
# File (or folder, for COLMAP) written by :func:`export` for each format, relative to ``out_dir``.
OUTPUT_NAMES: dict[str, str] = {
    "glb": "scene.glb",
    "ply": "points.ply",
    "colmap": "sparse",
    "npz": "reconstruction.npz",
    "report": "report",  # report.html + PNGs (inference/report.py)
    "transforms": "transforms.json",
}
# Folders a format may write besides its main file (``transforms``: depth maps, video frames).
EXTRA_NAMES: dict[str, tuple[str, ...]] = {"transforms": (DEPTH_FOLDER, IMAGE_FOLDER)}
NPZ_FORMAT_VERSION = 1

_REQUIRED_NPZ_KEYS = (
    "extrinsics",
    "intrinsics",
    "depth",
    "depth_conf",
    "points_from_depth",
    "colors",
    "names",
    "original_sizes",
    "transforms",
    "valid_regions",
    "pose_encoding",
)
_OPTIONAL_NPZ_KEYS = (
    "points_from_head",
    "points_conf",
    "query_points",
    "tracks",
    "track_visibility",
    "track_confidence",
    "known_intrinsics",
)
# Frustum depth as a fraction of the scene extent when ``camera_scale`` is not given.
_DEFAULT_CAMERA_FRACTION = 0.05
GlbAxes = Literal["gltf", "opencv"]
ColmapPoints = Literal["auto", "tracks", "dense"]
COLMAP_POINTS: tuple[str, ...] = ("auto", "tracks", "dense")
GLB_AXES: tuple[str, ...] = ("gltf", "opencv")
# glTF world (+Y up, looking down -Z) from the OpenCV world (y down, z forward): 180 degrees about x.
GLTF_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


# ---------------------------------------------------------------------------------------------
# Point selection










def scene_extent(rec: Reconstruction, points: np.ndarray | None = None) -> float:
    """A robust size of the scene: the larger diagonal of the 2-98 % box of ``points`` and of the camera centres.

    Falls back to the median valid depth, then to 1, when both are degenerate.
    """
    diagonals = [0.0]
    centres = rec.camera_centers.astype(np.float64)
    centres = centres[np.isfinite(centres).all(axis=1)]
    if len(centres) > 1:
        diagonals.append(float(np.linalg.norm(centres.max(axis=0) - centres.min(axis=0))))
    if points is not None and len(points) > 1:
        lo, hi = np.percentile(points.astype(np.float64), [2.0, 98.0], axis=0)
        diagonals.append(float(np.linalg.norm(hi - lo)))
    extent = max(d for d in diagonals if np.isfinite(d))
    if extent > 0:
        return extent
    depth = rec.depth[rec.content_mask() & np.isfinite(rec.depth) & (rec.depth > MIN_DEPTH)]
    median = float(np.median(depth)) if depth.size else 0.0
    return median if median > 0 else 1.0


# ---------------------------------------------------------------------------------------------
# GLB and PLY (trimesh)


def _frame_colour(index: int, count: int) -> np.ndarray:
    """RGBA uint8, from red (first frame) through green to blue (last frame)."""
    t = index / max(count - 1, 1)
    rgb = np.clip([2.0 * (0.5 - t), 1.0 - 2.0 * abs(t - 0.5), 2.0 * (t - 0.5)], 0.0, 1.0)
    return np.array([*(np.rint(rgb * 255)), 255], dtype=np.uint8)


def _frustum_segments(intrinsics: np.ndarray, height: int, width: int, depth: float) -> np.ndarray:
    """Line segments [11, 2, 3] of a camera pyramid in the camera frame (OpenCV axes).

    Apex at the optical centre, base at ``z = depth`` through the four image corners (pixel edges,
    ``-0.5`` and ``W - 0.5``), plus a small triangle above the top edge marking "up" in the image.
    """
    fx, fy = float(intrinsics[0, 0]), float(intrinsics[1, 1])
    cx, cy = float(intrinsics[0, 2]), float(intrinsics[1, 2])

    def ray(u: float, v: float) -> np.ndarray:
        x, y = (u - cx) / fx, (v - cy) / fy  # fx = inf (a degenerate prediction) gives 0, not NaN
        return np.nan_to_num(np.array([x, y, 1.0]), nan=0.0, posinf=0.0, neginf=0.0) * depth

    left, right, top, bottom = -0.5, width - 0.5, -0.5, height - 0.5
    corners = [ray(left, top), ray(right, top), ray(right, bottom), ray(left, bottom)]
    apex = np.zeros(3)
    segments = [(apex, c) for c in corners]
    segments += [(corners[k], corners[(k + 1) % 4]) for k in range(4)]
    marker_height = 0.25 * float(np.linalg.norm(corners[3] - corners[0]))
    mid_left = corners[0] + 0.3 * (corners[1] - corners[0])
    mid_right = corners[0] + 0.7 * (corners[1] - corners[0])
    tip = corners[0] + 0.5 * (corners[1] - corners[0]) - np.array([0.0, marker_height, 0.0])
    segments += [(mid_left, tip), (tip, mid_right), (mid_right, mid_left)]
    return np.asarray(segments, dtype=np.float64)


def _camera_to_world(extrinsic: np.ndarray) -> np.ndarray:
    """[4, 4] world-from-camera: the inverse of a camera-from-world [3, 4] ``[R | t]``."""
    rot = extrinsic[:, :3].astype(np.float64)
    trans = extrinsic[:, 3].astype(np.float64)
    pose = np.eye(4)
    pose[:3, :3] = rot.T
    pose[:3, 3] = -rot.T @ trans
    return pose


def _world_axes(axes: str) -> np.ndarray:
    """[4, 4] GLB world from reconstruction world for ``axes`` ("gltf" or "opencv")."""
    if axes not in GLB_AXES:
        raise ValueError(f"axes must be one of {GLB_AXES}, got {axes!r}")
    return GLTF_FROM_OPENCV.copy() if axes == "gltf" else np.eye(4)


def _point_cloud(selection: PointSelection, world: np.ndarray) -> trimesh.PointCloud:
    import trimesh

    alpha = np.full((len(selection), 1), 255, dtype=np.uint8)
    xyz = (selection.xyz.astype(np.float64) @ world[:3, :3].T).astype(np.float32)  # a rotation, no shift
    return trimesh.PointCloud(xyz, colors=np.concatenate([selection.rgb, alpha], axis=1))


def to_trimesh_scene(
    rec: Reconstruction,
    conf_threshold: float | None = None,
    conf_percentile: float | None = None,
    source: PointSource | None = None,
    mask: np.ndarray | None = None,
    camera_scale: float | None = None,
    max_points: int | None = None,
    selection: PointSelection | None = None,
    axes: GlbAxes = "gltf",
) -> trimesh.Scene:
    """A ``trimesh.Scene``: node ``points`` (coloured point cloud) and one frustum node per frame.

    Frustum nodes are named ``camera_0000``, ``camera_0001``...: line pyramids in camera coordinates
    (OpenCV camera axes) placed by their node transform, the world-from-camera inverse of
    ``rec.extrinsics`` in the scene's world axes. Their depth is ``camera_scale`` world units (default:
    5 % of :func:`scene_extent`; 0 draws no cameras). Frames with non-finite poses get no frustum.
    A precomputed ``selection`` replaces the filter arguments.

    ``axes="gltf"`` (the default) writes the world in glTF's axes (+Y up): every point and camera pose
    is rotated by 180 degrees about x (:data:`GLTF_FROM_OPENCV`), so frame 0 looks down -Z with its
    image's up direction along +Y. ``axes="opencv"`` keeps the reconstruction's OpenCV world axes.
    """
    import trimesh

    if camera_scale is not None and not (np.isfinite(camera_scale) and camera_scale >= 0):
        raise ValueError(f"camera_scale must be None or a finite number >= 0, got {camera_scale!r}")
    world = _world_axes(axes)
    if selection is None:
        selection = select_points(rec, conf_threshold, conf_percentile, source, mask, max_points)
    scale = _DEFAULT_CAMERA_FRACTION * scene_extent(rec, selection.xyz) if camera_scale is None else camera_scale
    scene = trimesh.Scene()
    scene.metadata["axes"] = axes
    if len(selection):
        cloud = _point_cloud(selection, world)
        cloud.metadata["point_source"] = source or rec.point_source
        scene.add_geometry(cloud, node_name="points", geom_name="points")
    if scale > 0:
        height, width = rec.image_size
        for i in range(len(rec)):
            if not np.isfinite(rec.extrinsics[i]).all():
                continue
            path = trimesh.load_path(_frustum_segments(rec.intrinsics[i], height, width, scale))
            path.colors = np.tile(_frame_colour(i, len(rec)), (len(path.entities), 1))
            path.metadata["frame"] = rec.names[i]
            name = f"camera_{i:04d}"
            pose = world @ _camera_to_world(rec.extrinsics[i])
            scene.add_geometry(path, node_name=name, geom_name=name, transform=pose)
    if not scene.geometry:
        raise ValueError("nothing to export: no point passes the filters and camera_scale is 0")
    return scene


def export_glb(
    rec: Reconstruction,
    path: str | os.PathLike[str],
    conf_threshold: float | None = None,
    conf_percentile: float | None = None,
    source: PointSource | None = None,
    mask: np.ndarray | None = None,
    camera_scale: float | None = None,
    max_points: int | None = None,
    selection: PointSelection | None = None,
    axes: GlbAxes = "gltf",
) -> Path:
    """Write a binary glTF with the coloured point cloud and the camera frustums (see :func:`to_trimesh_scene`).

    ``axes="gltf"`` (default): glTF's +Y-up world, so glTF viewers show the scene upright;
    ``axes="opencv"``: the reconstruction's OpenCV world axes (y down).
    """
    scene = to_trimesh_scene(
        rec, conf_threshold, conf_percentile, source, mask, camera_scale, max_points, selection, axes
    )
    target = Path(path)
    atomic_write_bytes(target, scene.export(file_type="glb"))
    return target


def _ply_bytes(xyz: np.ndarray, rgb: np.ndarray) -> bytes:
    """Binary little-endian PLY: one ``vertex`` element with float x, y, z and uchar red, green, blue."""
    vertex = np.empty(len(xyz), dtype=[("xyz", "<f4", (3,)), ("rgb", "u1", (3,))])
    vertex["xyz"], vertex["rgb"] = xyz, rgb
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment written by vggt-py\n"
        f"element vertex {len(xyz)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    return header.encode("ascii") + vertex.tobytes()


def export_ply(
    rec: Reconstruction,
    path: str | os.PathLike[str],
    conf_threshold: float | None = None,
    conf_percentile: float | None = None,
    source: PointSource | None = None,
    mask: np.ndarray | None = None,
    max_points: int | None = None,
    selection: PointSelection | None = None,
) -> Path:
    """Write the kept points as a binary little-endian PLY (float x y z, uchar red green blue).

    A precomputed ``selection`` replaces the filter arguments.
    """
    if selection is None:
        selection = select_points(rec, conf_threshold, conf_percentile, source, mask, max_points)
    target = Path(path)
    atomic_write_bytes(target, _ply_bytes(selection.xyz, selection.rgb))
    return target


# ---------------------------------------------------------------------------------------------
# NPZ


def export_npz(rec: Reconstruction, path: str | os.PathLike[str]) -> Path:
    """Write every array of ``rec`` with ``np.savez_compressed`` (keys in the module docstring)."""
    check_exportable(rec)
    arrays: dict[str, np.ndarray] = {key: np.asarray(getattr(rec, key)) for key in _REQUIRED_NPZ_KEYS if key != "names"}
    arrays["names"] = np.asarray(rec.names, dtype=np.str_)
    for key in _OPTIONAL_NPZ_KEYS:
        value = getattr(rec, key)
        if value is not None:
            arrays[key] = np.asarray(value)
    arrays["point_source"] = np.asarray(rec.point_source, dtype=np.str_)
    arrays["scale_source"] = np.asarray(rec.scale_source, dtype=np.str_)
    arrays["metadata"] = np.asarray(json.dumps(rec.metadata, default=str), dtype=np.str_)
    arrays["format_version"] = np.asarray(NPZ_FORMAT_VERSION, dtype=np.int64)
    target = Path(path)
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:  # a file object: savez keeps the name as is
        np.savez_compressed(fh, **arrays)
    return target


def load_npz(path: str | os.PathLike[str]) -> Reconstruction:
    """Read a file written by :func:`export_npz` (no pickled objects are loaded)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with np.load(path, allow_pickle=False) as data:
        missing = [key for key in _REQUIRED_NPZ_KEYS if key not in data.files]
        if missing:
            raise ValueError(f"{path}: not a vggt-py reconstruction file; missing arrays {missing}")
        version = int(data["format_version"]) if "format_version" in data.files else NPZ_FORMAT_VERSION
        if version > NPZ_FORMAT_VERSION:
            raise ValueError(
                f"{path}: format version {version} is newer than this vggt-py reads ({NPZ_FORMAT_VERSION})"
            )
        fields: dict[str, Any] = {
            key: data[key] for key in (*_REQUIRED_NPZ_KEYS, *_OPTIONAL_NPZ_KEYS) if key in data.files
        }
        fields["names"] = [str(name) for name in fields["names"]]
        point_source = str(data["point_source"]) if "point_source" in data.files else "depth"
        scale_source = str(data["scale_source"]) if "scale_source" in data.files else "normalised"
        metadata = json.loads(str(data["metadata"])) if "metadata" in data.files else {}
    if point_source not in ("depth", "head"):
        raise ValueError(f"{path}: point_source must be 'depth' or 'head', got {point_source!r}")
    if scale_source not in ("normalised", "poses", "distance", "depth"):
        raise ValueError(f"{path}: scale_source must be normalised, poses, distance or depth, got {scale_source!r}")
    known = fields.get("known_intrinsics")
    if known is not None and known.shape != (len(fields["names"]), 3, 3):
        raise ValueError(
            f"{path}: known_intrinsics must be [{len(fields['names'])}, 3, 3] like the frames, got {list(known.shape)}"
        )
    return Reconstruction(
        **fields, point_source=point_source, scale_source=scale_source, metadata=metadata  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------------------------------------
# COLMAP (pycolmap)
















# ---------------------------------------------------------------------------------------------
# Everything at once


def _write_format(fmt: str, rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    """Write one format to ``path`` (a writer of :data:`WRITERS`)."""
    WRITERS[fmt](rec, path, plan)


def _write_glb(rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    export_glb(
        rec,
        path,
        source=plan["source"],
        camera_scale=plan["camera_scale"],
        selection=plan["cloud"],
        axes=plan["glb_axes"],
    )


def _write_ply(rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    export_ply(rec, path, selection=plan["cloud"])


def _write_colmap(rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    export_colmap(
        rec,
        path,
        binary=plan["colmap_binary"],
        camera_model=plan["camera_model"],
        shared_camera=plan["shared_camera"],
        selection=plan["colmap_selection"],
        tracks=plan["colmap_tracks"],
    )


def _write_npz(rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    export_npz(rec, path)


def _write_report(rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    from vggt_py.inference.report import write_report

    write_report(rec, path, selection=plan["selected"], **plan["report_options"])
def _write_transforms(rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    write_transforms(
        rec,
        path.parent,
        image_paths=plan["image_paths"],
        load_image=plan["load_image"],
        paths_relative_to=plan["out_dir"],  # the file is read from the output folder, not from staging
        camera_model=plan["transforms_camera_model"],
        ply_file_path=OUTPUT_NAMES["ply"],
        depth=plan["transforms_depth"],
        depth_mask=plan["keep"],
    )


def _verify_glb(rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    import trimesh

    scene = trimesh.load(path, file_type="glb", force="scene")
    expected = len(plan["cloud"]) if plan["cloud"] is not None else 0
    clouds = [g for g in scene.geometry.values() if isinstance(g, trimesh.PointCloud)]
    found = sum(len(c.vertices) for c in clouds)
    if found != expected:
        raise ValueError(f"holds {found} points, expected {expected}")
    world = _world_axes(plan["glb_axes"])
    for name, (transform, _) in ((n, scene.graph[n]) for n in scene.graph.nodes_geometry if n.startswith("camera_")):
        expected_pose = world @ _camera_to_world(rec.extrinsics[int(name.split("_")[1])])
        if not np.allclose(transform, expected_pose, atol=1e-4 * max(1.0, float(np.abs(expected_pose).max()))):
            raise ValueError(f"camera node {name} is not placed in the {plan['glb_axes']} world axes")


def _verify_ply(rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    data = path.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise ValueError("no PLY header")
    count = next(int(line.split()[2]) for line in data[:end].decode("ascii").splitlines() if line.startswith("element"))
    expected = len(plan["cloud"])
    body = len(data) - end - len(b"end_header\n")
    if count != expected or body != 15 * expected:
        raise ValueError(f"holds {count} vertices in {body} bytes, expected {expected} in {15 * expected}")


def _verify_npz(rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    back = load_npz(path)
    if len(back) != len(rec) or back.depth.shape != rec.depth.shape:
        raise ValueError(f"holds {len(back)} frames of {back.depth.shape}, expected {len(rec)} of {rec.depth.shape}")


def _verify_transforms(rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    from PIL import Image

    content = json.loads(path.read_text(encoding="utf-8"))
    frames = content.get("frames")
    if content.get("camera_model") not in TRANSFORMS_CAMERA_MODELS or not isinstance(frames, list):
        raise ValueError("no camera_model or frames")
    if len(frames) != len(rec):
        raise ValueError(f"holds {len(frames)} frames, expected {len(rec)}")
    ply = content.get("ply_file_path")
    if ply is not None and not (path.parent / ply).is_file():
        raise ValueError(f"ply_file_path {ply!r} is not a file beside it")
    for i, frame in enumerate(frames):
        extrinsic = opencv_extrinsic_from_nerfstudio(np.asarray(frame["transform_matrix"], dtype=np.float64))
        scale = max(1.0, float(np.abs(rec.extrinsics[i]).max()))
        if not np.allclose(extrinsic, rec.extrinsics[i], atol=1e-5 * scale):
            raise ValueError(f"frame {i}: transform_matrix does not invert to the camera's pose")
        size = [int(v) for v in rec.original_sizes[i]]
        if [frame["w"], frame["h"]] != size:
            raise ValueError(f"frame {i}: size {frame['w']} x {frame['h']}, expected {size[0]} x {size[1]}")
        image = frame["file_path"]
        local = path.parent / image
        if local.is_file():  # written by this export
            with Image.open(local) as opened:
                if list(opened.size) != size:
                    raise ValueError(f"frame {i}: {image} is {opened.size}, expected {size}")
        elif plan["image_paths"] is not None and plan["image_paths"][i] is not None and not (plan["out_dir"] / image).exists():
            raise ValueError(f"frame {i}: file_path {image!r} does not lead to the photo from the output folder")
        if "depth_file_path" in frame:
            depth = np.load(path.parent / frame["depth_file_path"], allow_pickle=False)
            if depth.shape != (size[1], size[0]) or not np.isfinite(depth).all():
                raise ValueError(f"frame {i}: depth file of shape {depth.shape}, expected {(size[1], size[0])}, finite")


def _verify_colmap(rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    from vggt_py.inference.pycolmap_support import import_pycolmap

    pycolmap = import_pycolmap("The COLMAP export check")
    model = pycolmap.Reconstruction(str(path))
    tracks: SparseTracks | None = plan["colmap_tracks"]
    found = (model.num_cameras(), model.num_images(), model.num_points3D(), model.compute_num_observations())
    points = tracks.num_points if tracks is not None else len(plan["colmap_selection"])
    observations = tracks.num_observations if tracks is not None else points
    expected = (1 if plan["shared_camera"] else len(rec), len(rec), points, observations)
    if found != expected:
        raise ValueError(f"reads back {found} (cameras, images, points, observations), expected {expected}")
    if tracks is not None and points:
        errors = np.array([p.error for p in model.points3D.values()])
        bound = plan["colmap_max_error"]
        if not np.isfinite(errors).all() or (bound is not None and errors.max() > bound + 1e-6):
            raise ValueError(f"stored point errors up to {errors.max():.4g} px, expected finite and <= {bound}")


def _verify_report(rec: Reconstruction, path: Path, plan: dict[str, Any]) -> None:
    from PIL import Image

    from vggt_py.inference.report import REPORT_HTML, referenced_files

    links = [link for link in referenced_files(path / REPORT_HTML) if not link.startswith("#")]
    outside = [link for link in links if ":" in link or link.startswith("/") or ".." in link]
    if outside:
        raise ValueError(f"report.html refers to files outside its folder: {outside[:3]}")
    for link in dict.fromkeys(links):
        with Image.open(path / link) as image:  # raises for a missing or truncated picture
            image.verify()


# Per format: write into a path, then read that path back and raise (any exception) if it is wrong.
# A new format adds an entry to FORMATS, OUTPUT_NAMES, WRITERS and VERIFIERS.
WRITERS: dict[str, Callable[[Reconstruction, Path, dict[str, Any]], None]] = {
    "glb": _write_glb,
    "ply": _write_ply,
    "colmap": _write_colmap,
    "npz": _write_npz,
    "report": _write_report,
    "transforms": _write_transforms,
}
VERIFIERS: dict[str, Callable[[Reconstruction, Path, dict[str, Any]], None]] = {
    "glb": _verify_glb,
    "ply": _verify_ply,
    "colmap": _verify_colmap,
    "npz": _verify_npz,
    "report": _verify_report,
    "transforms": _verify_transforms,
}


def _report_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    allowed = ("consistency", "check_consistency", "settings", "timings", "title", "max_points", "thumbnail_size", "seed")
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"report_options: unknown option(s) {unknown}; expected some of {list(allowed)}")
    return options


def _describe(err: BaseException) -> str:
    if isinstance(err, OSError) and err.errno is not None:
        return f"{os.strerror(err.errno).lower()} ({err.filename or err})" if err.filename else str(err)
    return str(err) or type(err).__name__


def _colmap_points(
    rec: Reconstruction,
    choice: str,
    given: SparseTracks | None,
    max_error: float | None,
    conf_threshold: float | None,
    conf_percentile: float | None,
    mask: np.ndarray | None,
    seed: int,
) -> tuple[SparseTracks | None, dict[str, Any]]:
    """The tracks the COLMAP model gets (None: the dense points) and the manifest's ``colmap`` entry."""
    if choice == "dense":
        return None, {"points_kind": "dense", "observations_per_point": 1.0, "mean_reprojection_error": 0.0}
    tracks, why = given, None
    if tracks is None:
        try:
            tracks = build_tracks(
                rec,
                conf_threshold=conf_threshold,
                conf_percentile=conf_percentile,
                mask=mask,
                max_reprojection_error=max_error,
                seed=seed,
            )
        except ValueError as err:
            if choice == "tracks":
                raise
            why = str(err)
    if tracks is not None and tracks.num_points == 0 and choice == "auto":
        tracks, why = None, f"no track has 2 observations within {max_error} px"
    if tracks is None:
        summary = {"points_kind": "dense", "observations_per_point": 1.0, "mean_reprojection_error": 0.0}
        return None, {**summary, "fallback_reason": why}
    return tracks, {"points_kind": "tracks", "max_reprojection_error": max_error, **tracks.summary(rec)}


def check_output_dir(out_dir: str | os.PathLike[str], overwrite: bool = False) -> list[str]:
    """Check that :func:`export` may write into ``out_dir``; returns the names of the export there.

    Creates the folder, removes leftovers of killed runs (see
    :func:`~vggt_py.inference.export_transaction.clean_leftovers`), and refuses a folder holding an
    export (a manifest, or any file of :data:`OUTPUT_NAMES`) unless ``overwrite``. Call it before a
    long computation to fail early; :func:`export` calls it again.

    Raises:
        ValueError: ``out_dir`` or a folder above it is a file.
        OutputExistsError: ``out_dir`` holds an export and ``overwrite`` is False.
        ExportError: the folder cannot be created or written into.
    """
    out = Path(out_dir)
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                where = "" if parent == out else f" (the output folder {out} would be under it)"
                raise InputError(f"output must be a folder, but {parent} is a file{where}")
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(f"cannot create the output folder {out}: {_describe(err)}") from err
    if not os.access(out, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write into the output folder {out}: permission denied (read-only or not yours)")
    try:
        clean_leftovers(out, [*OUTPUT_NAMES.values(), *(n for names in EXTRA_NAMES.values() for n in names)])
    except OSError as err:
        raise ExportError(f"cannot clean up an interrupted earlier run in {out}: {_describe(err)}") from err
    previous = read_manifest(out)
    old_names = [name for name in (*OUTPUT_NAMES.values(), *DERIVED_NAMES) if (out / name).exists()]
    if previous is not None:
        outputs = previous.get("outputs", {})
        old_names += [n for n in (outputs.values() if isinstance(outputs, dict) else []) if isinstance(n, str) and "/" not in n]
    old_names = [n for n in dict.fromkeys(old_names) if (out / n).exists() or (out / n).is_symlink()]
    if (previous is not None or any(n in OUTPUT_NAMES.values() for n in old_names)) and not overwrite:
        what = f"the export of run {previous['run_id']}" if previous is not None else f"an export ({', '.join(old_names)})"
        raise OutputExistsError(
            f"{out} already holds {what}; choose another folder, or overwrite=True (--overwrite) to replace it"
        )
    return old_names


def export(
    rec: Reconstruction,
    out_dir: str | os.PathLike[str],
    formats: Sequence[str] = FORMATS,
    *,
    conf_threshold: float | None = None,
    conf_percentile: float | None = None,
    source: PointSource | None = None,
    mask: np.ndarray | None = None,
    max_points: int | None = None,
    colmap_max_points: int | None = 100_000,
    colmap_points: ColmapPoints = "auto",
    colmap_tracks: SparseTracks | None = None,
    colmap_max_error: float | None = 4.0,
    colmap_binary: bool = True,
    camera_model: str = "PINHOLE",
    shared_camera: bool = False,
    camera_scale: float | None = None,
    glb_axes: GlbAxes = "gltf",
    image_paths: Sequence[str | os.PathLike[str] | None] | None = None,
    load_image: Callable[[int], np.ndarray] | None = None,
    transforms_depth: bool = False,
    transforms_camera_model: str = "OPENCV",
    seed: int = 0,
    overwrite: bool = False,
    on_format: Callable[[str], None] | None = None,
    report_options: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``formats`` into ``out_dir`` (names in :data:`OUTPUT_NAMES`) as one transaction; returns ``{format: path}``.

    The point filters apply to every format; ``max_points`` bounds the GLB and PLY clouds,
    ``colmap_max_points`` the COLMAP model. The filtered points are selected once per run and each
    writer gets its subsample of that selection (the same points it would select itself).

    Every format is written into a staging folder, read back and checked, and only then swapped in
    with a manifest (``vggt-export.json``: run id, time, model, formats, files with sizes and SHA-256);
    the previous export's files, and files derived from it (``consistency.json``), are removed once
    the swap has succeeded. On any failure ``out_dir`` is left as it was (see
    :mod:`~vggt_py.inference.export_transaction`). Leftovers of killed runs are cleaned first.

    ``"transforms"`` (nerfstudio ``transforms.json``, :mod:`~vggt_py.inference.transforms_export`)
    always comes with ``"ply"``, which its ``ply_file_path`` names; it is added when missing.

    COLMAP points (``colmap_points``): ``"tracks"`` writes multi-view points built from the model's
    correspondences (:func:`~vggt_py.inference.colmap_tracks.build_tracks`, observations within
    ``colmap_max_error`` original pixels of their point's projection, real errors stored), or
    ``colmap_tracks`` when given (e.g. the adjusted tracks of a refinement,
    :func:`~vggt_py.inference.colmap_tracks.tracks_from_refinement`); ``"dense"`` writes
    ``colmap_max_points`` of the kept pixels, each seen once by its own image (error 0); ``"auto"``
    (default) writes tracks, or the dense points when no multi-view track can be built (one frame, no
    correspondences). The manifest's ``colmap`` entry says which, with the counts and errors.

    Args:
        image_paths: the photo of each frame (None for a frame without one, e.g. a video frame), for
            ``transforms.json``'s ``file_path``s, written relative to ``out_dir``; frames without a
            path point at ``images/<name>``, where ``load_image`` (frame index -> uint8 ``[h, w, 3]``,
            e.g. ``ImageBatch.load_original``) writes them when given.
        transforms_depth: also write ``depths/`` (one ``.npy`` per frame, original size, depth x 1000,
            0 where filtered out) and name them in ``transforms.json``.
        transforms_camera_model: ``"OPENCV"`` (zero distortion) or ``"PINHOLE"``.
        glb_axes: world axes of the GLB scene: ``"gltf"`` (+Y up, the default) or ``"opencv"``
            (see :func:`to_trimesh_scene`); the other formats always use the OpenCV world axes.
        overwrite: replace an existing export in ``out_dir``; without it a folder holding one
            (a manifest or any file of :data:`OUTPUT_NAMES`) is refused.
        on_format: called with each format's name before it is written (progress display).
        report_options: keyword arguments of :func:`~vggt_py.inference.report.write_report` for the
            ``report`` format (``consistency``, ``settings``, ``timings``...); its views draw the
            export's point selection.

    Raises:
        ValueError: bad arguments, ``out_dir`` is a file, or the reconstruction cannot be exported.
        OutputExistsError: ``out_dir`` holds an export and ``overwrite`` is False (a FileExistsError).
        ExportError: a writer failed (disk full, permissions...) or a file did not read back.
    """
    check_exportable(rec)
    if isinstance(formats, str):
        formats = [formats]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}, got {list(formats)}")
    if glb_axes not in GLB_AXES:
        raise ValueError(f"glb_axes must be one of {GLB_AXES}, got {glb_axes!r}")
    if colmap_points not in COLMAP_POINTS:
        raise ValueError(f"colmap_points must be one of {COLMAP_POINTS}, got {colmap_points!r}")
    if colmap_tracks is not None and colmap_points == "dense":
        raise ValueError("colmap_tracks were given with colmap_points='dense'; pass one or the other")
    if transforms_camera_model not in TRANSFORMS_CAMERA_MODELS:
        raise ValueError(
            f"transforms_camera_model must be one of {TRANSFORMS_CAMERA_MODELS}, got {transforms_camera_model!r}"
        )
    if image_paths is not None and len(image_paths) != len(rec):
        raise ValueError(f"image_paths: expected {len(rec)} paths (one per frame), got {len(image_paths)}")
    out = Path(out_dir)
    formats = list(dict.fromkeys(formats))  # unique, in order
    if "transforms" in formats and "ply" not in formats:
        formats.insert(formats.index("transforms"), "ply")  # transforms.json names the point cloud
    old_names = check_output_dir(out, overwrite)
    extra: list[str] = []
    if "transforms" in formats:
        if transforms_depth:
            extra.append(DEPTH_FOLDER)
        if load_image is not None and (image_paths is None or any(p is None for p in image_paths)):
            extra.append(IMAGE_FOLDER)
    foreign = [name for name in extra if (out / name).exists() and name not in old_names]
    if foreign:
        raise ExportError(
            f"{out / foreign[0]} exists and is not part of a vggt-py export; move it away or choose another "
            f"output folder ({out} was left unchanged)"
        )
    plan: dict[str, Any] = {
        "source": source,
        "camera_scale": camera_scale,
        "glb_axes": glb_axes,
        "colmap_binary": colmap_binary,
        "camera_model": camera_model,
        "shared_camera": shared_camera,
        "cloud": None,
        "colmap_selection": None,
        "colmap_tracks": None,
        "colmap_max_error": colmap_max_error,
        "colmap_summary": None,
        "selected": None,
        "report_options": _report_options(report_options),
        "out_dir": out,
        "image_paths": list(image_paths) if image_paths is not None else None,
        "load_image": load_image,
        "transforms_depth": transforms_depth,
        "transforms_camera_model": transforms_camera_model,
        "keep": None,
    }
    if any(fmt in ("glb", "ply", "colmap", "report") for fmt in formats):
        selected = select_points(rec, conf_threshold, conf_percentile, source, mask)
        plan["selected"] = selected
        plan["cloud"] = selected.subsample(max_points)  # GLB and PLY draw with seed 0
        plan["colmap_selection"] = selected.subsample(colmap_max_points, seed)
    if "colmap" in formats:
        plan["colmap_tracks"], plan["colmap_summary"] = _colmap_points(
            rec, colmap_points, colmap_tracks, colmap_max_error, conf_threshold, conf_percentile, mask, seed
        )
        if plan["colmap_tracks"] is None:
            plan["colmap_summary"]["points"] = len(plan["colmap_selection"])
    if transforms_depth and "transforms" in formats:
        keep = rec.mask(conf_threshold, conf_percentile, source)
        plan["keep"] = keep & np.asarray(mask) if mask is not None else keep

    run_id = new_run_id()
    staging = out / f"{STAGING_PREFIX}{run_id}"
    entries = {fmt: OUTPUT_NAMES[fmt] for fmt in formats}
    try:
        try:
            staging.mkdir()
        except OSError as err:
            raise ExportError(f"cannot write into the output folder {out}: {_describe(err)}") from err
        for fmt in formats:
            if on_format is not None:
                on_format(fmt)
            path = staging / entries[fmt]
            try:
                _write_format(fmt, rec, path, plan)
            except OSError as err:
                raise ExportError(
                    f"{fmt} export failed writing {out / entries[fmt]}: {_describe(err)}; {out} was left unchanged"
                ) from err
        for fmt in formats:
            try:
                VERIFIERS[fmt](rec, staging / entries[fmt], plan)
            except Exception as err:  # any reader failure means the file is not what was meant
                raise ExportError(
                    f"{fmt} export did not read back ({out / entries[fmt]}): {err}; {out} was left unchanged"
                ) from err
        for fmt, names in EXTRA_NAMES.items():  # folders a writer added beside its file
            entries.update({f"{fmt}:{name}": name for name in names if fmt in formats and (staging / name).exists()})
        manifest = build_manifest(run_id, rec.model_name, len(rec), formats, entries, staging)
        if plan["colmap_summary"] is not None:
            manifest["colmap"] = plan["colmap_summary"]
        try:
            write_manifest(staging, manifest)
            swap_in(out, staging, run_id, list(entries.values()), old_names)
        except OSError as err:
            raise ExportError(f"could not put the export in place in {out}: {_describe(err)}; {out} was left unchanged") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {fmt: out / name for fmt, name in entries.items() if fmt in FORMATS}
