"""COLMAP scenes: fixtures written with pycolmap from a synthetic scene, read back, and broken ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vggt_py.data.datasets import (
    MultiViewDataset,
    SampleRequest,
    SceneCollection,
    SceneError,
    tracks_from_depth,
)
from vggt_py.data.synthetic import SceneConfig, generate_scene
from vggt_py.geometry import project_points

pycolmap = pytest.importorskip("pycolmap")
from vggt_py.data.colmap_scenes import find_colmap_model, read_colmap_scene

HEIGHT, WIDTH = 48, 64


@pytest.fixture(scope="module")
def scene():
    return generate_scene(SceneConfig.preset("easy", num_frames=3, height=HEIGHT, width=WIDTH, num_tracks=0), 1)


def write_colmap_scene(
    root: Path, scene, model: str = "PINHOLE", extra: tuple[float, ...] = (), text: bool = False
) -> Path:
    """images/frame_i.png plus sparse/0 with one camera per image and 3-D points from depth tracks."""
    (root / "images").mkdir(parents=True)
    names = [f"frame_{i}.png" for i in range(scene.num_frames)]
    for name, image in zip(names, scene.images):
        Image.fromarray(image).save(root / "images" / name)
    depths = np.where(scene.valid_masks, scene.depths, 0).astype(np.float32)
    tracks, visible = tracks_from_depth(depths, scene.intrinsics, scene.extrinsics, 60, np.random.default_rng(0))
    reconstruction = pycolmap.Reconstruction()
    for i, K in enumerate(scene.intrinsics.astype(np.float64)):
        if model == "PINHOLE":
            params = [K[0, 0], K[1, 1], K[0, 2] + 0.5, K[1, 2] + 0.5]
        else:  # SIMPLE_RADIAL-like and fisheye models: focal, principal point, then the extra parameters
            params = [K[0, 0], K[0, 2] + 0.5, K[1, 2] + 0.5, *extra]
        camera = pycolmap.Camera(camera_id=i + 1, model=model, width=WIDTH, height=HEIGHT, params=params)
        reconstruction.add_camera_with_trivial_rig(camera)
    for i, (name, E) in enumerate(zip(names, scene.extrinsics.astype(np.float64))):
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d(E[:, :3]), E[:, 3])
        image = pycolmap.Image(name=name, keypoints=tracks[i].astype(np.float64) + 0.5, camera_id=i + 1, image_id=i + 1)
        reconstruction.add_image_with_trivial_frame(image, pose)
    for n in range(tracks.shape[1]):
        if visible[:, n].sum() < 2:
            continue
        track = pycolmap.Track()
        for i in np.flatnonzero(visible[:, n]):
            track.add_element(int(i) + 1, n)
        u, v = tracks[0, n].astype(int)
        reconstruction.add_point3D(scene.world_points[0, v, u].astype(np.float64), track)
    folder = root / "sparse" / "0"
    folder.mkdir(parents=True)
    (reconstruction.write_text if text else reconstruction.write)(str(folder))
    return folder


@pytest.fixture
def colmap_dir(scene, tmp_path) -> Path:
    write_colmap_scene(tmp_path / "room", scene)
    return tmp_path / "room"


def test_reads_cameras_images_and_sparse_depth(scene, colmap_dir):
    colmap = read_colmap_scene(colmap_dir)
    assert colmap.name == str(colmap_dir) and colmap.num_frames == 3
    assert [p.name for p in colmap.image_paths] == ["frame_0.png", "frame_1.png", "frame_2.png"]
    assert np.allclose(colmap.intrinsics, scene.intrinsics, atol=1e-9)
    assert np.allclose(colmap.extrinsics, scene.extrinsics, atol=1e-6)
    frame = colmap.load_frame(1)
    assert np.array_equal(frame.image, scene.images[1]) and colmap.image_size(1) == (HEIGHT, WIDTH)
    gt = np.where(scene.valid_masks, scene.depths, 0)
    reconstruction = pycolmap.Reconstruction(str(colmap_dir / "sparse" / "0"))
    for i in range(3):
        depth = colmap.depth(i)
        known = depth > 0
        assert 10 <= known.sum() <= 60  # sparse: one pixel per observed 3-D point at most
        relative = np.abs(depth[known] - gt[i][known]) / gt[i][known]
        assert np.median(relative) < 0.01  # nearest-pixel rounding (more at depth edges)
        image = reconstruction.images[i + 1]
        xyz = np.array([reconstruction.points3D[p.point3D_id].xyz for p in image.points2D if p.has_point3D()])
        uv, z = project_points(
            torch.from_numpy(xyz)[None],
            torch.from_numpy(colmap.intrinsics[i : i + 1]),
            torch.from_numpy(colmap.extrinsics[i : i + 1]),
        )
        cols, rows = np.round(uv[0].numpy()).astype(int).T
        assert (depth[rows, cols] <= z[0].numpy() + 1e-5).all() and (depth[rows, cols] > 0).all()


def test_text_models_and_model_discovery(scene, tmp_path):
    folder = write_colmap_scene(tmp_path / "text", scene, text=True)
    assert (folder / "cameras.txt").is_file() and find_colmap_model(tmp_path / "text") == folder
    assert read_colmap_scene(tmp_path / "text").num_frames == 3
    flat = tmp_path / "flat"
    shutil.copytree(tmp_path / "text", flat)
    for path in (flat / "sparse" / "0").iterdir():
        path.rename(flat / "sparse" / path.name)
    assert find_colmap_model(flat) == flat / "sparse"


def test_dataset_over_colmap_scenes(colmap_dir):
    scenes = SceneCollection.from_path(colmap_dir.parent)
    scenes.validate()
    dataset = MultiViewDataset(scenes, num_tracks=4)
    sample = dataset[SampleRequest(0, 3, 28, 42, seed=0)]
    assert sample["images"].shape == (3, 3, 28, 42)
    assert 0 < sample["point_masks"].sum() < 200  # sparse supervision
    assert torch.equal(sample["extrinsics"][0], torch.eye(3, 4))


def test_undistorted_radial_camera_is_accepted(scene, tmp_path):
    write_colmap_scene(tmp_path / "radial", scene, model="SIMPLE_RADIAL", extra=(0.0,))
    colmap = read_colmap_scene(tmp_path / "radial")
    assert np.allclose(colmap.intrinsics[:, 0, 0], scene.intrinsics[:, 0, 0])


@pytest.mark.parametrize(
    "model, extra, match",
    [
        ("SIMPLE_RADIAL", (0.1,), "non-zero distortion"),
        ("SIMPLE_RADIAL_FISHEYE", (0.0,), "has model SIMPLE_RADIAL_FISHEYE"),
    ],
)
def test_unsupported_cameras(scene, tmp_path, model, extra, match):
    write_colmap_scene(tmp_path / "cam", scene, model=model, extra=extra)
    with pytest.raises(SceneError, match=rf"cameras.bin.*{match}.*undistort"):
        read_colmap_scene(tmp_path / "cam")


def test_missing_and_empty_model_files(colmap_dir):
    model = colmap_dir / "sparse" / "0"
    (model / "points3D.bin").unlink()
    with pytest.raises(SceneError, match=r"scene '.*room', file '.*sparse/0/points3D.bin': missing"):
        read_colmap_scene(colmap_dir)
    (model / "points3D.bin").write_bytes(b"")
    with pytest.raises(SceneError, match=r"points3D.bin': empty file"):
        read_colmap_scene(colmap_dir)
    shutil.rmtree(colmap_dir / "sparse")
    with pytest.raises(SceneError, match=r"file '.*sparse': no sparse/ model folder"):
        read_colmap_scene(colmap_dir)
    (colmap_dir / "sparse" / "0").mkdir(parents=True)
    with pytest.raises(SceneError, match="cameras.bin': missing"):
        read_colmap_scene(colmap_dir)


def test_corrupt_model(colmap_dir):
    images = colmap_dir / "sparse" / "0" / "images.bin"
    images.write_bytes(images.read_bytes()[:50])
    with pytest.raises(SceneError, match=r"file '.*sparse/0': pycolmap could not read the model.*images.bin"):
        read_colmap_scene(colmap_dir)


def test_missing_or_wrong_images(colmap_dir):
    image = colmap_dir / "images" / "frame_1.png"
    Image.new("RGB", (10, 10)).save(image)
    with pytest.raises(SceneError, match=r"frame_1.png': image is 10x10 but its camera is 64x48"):
        read_colmap_scene(colmap_dir)
    image.write_bytes(b"not a png")
    with pytest.raises(SceneError, match=r"frame_1.png': unreadable image"):
        read_colmap_scene(colmap_dir)
    image.unlink()
    with pytest.raises(SceneError, match=r"frame_1.png': missing image"):
        read_colmap_scene(colmap_dir)
    lazy = read_colmap_scene(colmap_dir, check_images=False)  # found when the frame is loaded
    with pytest.raises(SceneError, match=r"frame_1.png': unreadable image"):
        lazy.load_frame(1)


def test_non_finite_point(scene, colmap_dir):
    model = colmap_dir / "sparse" / "0"
    reconstruction = pycolmap.Reconstruction(str(model))
    point_id = next(iter(reconstruction.points3D))
    reconstruction.points3D[point_id].xyz = np.array([np.nan, 0.0, 1.0])
    reconstruction.write(str(model))
    with pytest.raises(SceneError, match=r"points3D.bin': 3-D point \d+ has non-finite coordinates"):
        read_colmap_scene(colmap_dir)
