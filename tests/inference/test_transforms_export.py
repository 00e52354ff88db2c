"""nerfstudio ``transforms.json`` export: round trip against the exact cameras of a synthetic room."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from inference.export_scenes import GroundTruth, ground_truth_reconstruction  # tests/ is on sys.path
from PIL import Image

from vggt_py.inference.export import MANIFEST_NAME, ExportError, export
from vggt_py.inference.transforms_export import (
    DEPTH_SCALE,
    frame_file_names,
    nerfstudio_camera_to_world,
    opencv_extrinsic_from_nerfstudio,
)


def write_originals(gt: GroundTruth, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (width, height) in enumerate(gt.rec.original_sizes.tolist()):
        path = folder / gt.rec.names[i]
        Image.new("RGB", (width, height), (i * 40, 90, 200)).save(path)
        paths.append(path)
    return paths


def nerfstudio_projection(frame: dict, points: np.ndarray) -> np.ndarray:
    """Pixels [N, 2] of world points [N, 3] as nerfstudio's camera model sees them (pixel centres at +0.5).

    nerfstudio shoots the ray of pixel coordinate (u, v) along ((u - cx) / fl_x, -(v - cy) / fl_y, -1) in
    OpenGL camera axes, rotated into the world by ``transform_matrix``; this inverts that.
    """
    world_from_camera = np.asarray(frame["transform_matrix"], dtype=np.float64)
    camera = (np.linalg.inv(world_from_camera) @ np.c_[points, np.ones(len(points))].T).T[:, :3]
    forward = -camera[:, 2]
    assert (forward > 0).all()  # in front: the camera looks down -z
    u = frame["cx"] + frame["fl_x"] * camera[:, 0] / forward
    v = frame["cy"] - frame["fl_y"] * camera[:, 1] / forward
    return np.stack([u, v], axis=-1)


@pytest.mark.parametrize(("mode", "original"), [("crop", (96, 64)), ("pad", (64, 96)), ("crop", (64, 96))])
def test_round_trip_projects_known_points_onto_their_true_pixels(tmp_path: Path, mode: str, original: tuple) -> None:
    gt = ground_truth_reconstruction(frames=4, original=original, mode=mode)
    photos = write_originals(gt, tmp_path / "photos")
    out = tmp_path / "out"
    written = export(gt.rec, out, ["transforms"], image_paths=photos)
    assert set(written) == {"transforms", "ply"}  # transforms.json names the point cloud, so it comes too
    content = json.loads((out / "transforms.json").read_text())
    assert content["camera_model"] == "OPENCV" and content["ply_file_path"] == "points.ply"
    assert (out / content["ply_file_path"]).is_file()
    rng = np.random.default_rng(0)
    width, height = original
    for i, frame in enumerate(content["frames"]):
        assert (out / frame["file_path"]).resolve() == photos[i].resolve()
        assert not Path(frame["file_path"]).is_absolute()
        assert (frame["w"], frame["h"]) == original
        assert [frame[k] for k in ("k1", "k2", "p1", "p2")] == [0.0] * 4
        # known points: true original pixels (integer = pixel centre) at known depths, through the true camera
        pixels = rng.uniform([-0.5, -0.5], [width - 0.5, height - 0.5], size=(50, 2))
        depth = rng.uniform(0.5, 6.0, size=50)
        k, extrinsic = gt.intrinsics[i], gt.rec.extrinsics[i].astype(np.float64)
        camera = np.linalg.solve(k, np.c_[pixels, np.ones(50)].T).T * depth[:, None]
        world = (camera - extrinsic[:, 3]) @ extrinsic[:, :3]  # R^T (x - t)
        projected = nerfstudio_projection(frame, world) - 0.5  # back to integer = pixel centre
        assert np.abs(projected - pixels).max() < 1e-3
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["outputs"] == {"ply": "points.ply", "transforms": "transforms.json"}


def test_conventions_invert_and_flip_y_and_z() -> None:
    gt = ground_truth_reconstruction(frames=3)
    for extrinsic in gt.rec.extrinsics.astype(np.float64):
        pose = nerfstudio_camera_to_world(extrinsic)
        centre = -extrinsic[:, :3].T @ extrinsic[:, 3]
        np.testing.assert_allclose(pose[:3, 3], centre, atol=1e-9)
        np.testing.assert_allclose(pose[:3, 2], -extrinsic[2, :3], atol=1e-9)  # +z back = -(viewing direction)
        np.testing.assert_allclose(pose[:3, 1], -extrinsic[1, :3], atol=1e-9)  # +y up = -(image down)
        np.testing.assert_allclose(pose[:3, 0], extrinsic[0, :3], atol=1e-9)
        np.testing.assert_allclose(opencv_extrinsic_from_nerfstudio(pose), extrinsic, atol=1e-6)  # float32 R


def test_depth_files_hold_depth_times_1000_where_kept(tmp_path: Path) -> None:
    gt = ground_truth_reconstruction(frames=3, original=(64, 96), mode="pad")  # padded left and right
    rec = gt.rec
    rec.depth_conf[:] = np.linspace(1.0, 3.0, rec.depth_conf[0].size).reshape(rec.depth_conf.shape[1:])
    out = tmp_path / "out"
    photos = write_originals(gt, tmp_path / "p")
    export(rec, out, ["transforms"], transforms_depth=True, conf_percentile=50, image_paths=photos)
    content = json.loads((out / "transforms.json").read_text())
    kept_somewhere = 0
    for i, frame in enumerate(content["frames"]):
        stored = np.load(out / frame["depth_file_path"])
        assert stored.shape == (96, 64) and stored.dtype == np.float32
        truth = rec.depth_original(i)
        valid = stored > 0
        np.testing.assert_allclose(stored[valid] / DEPTH_SCALE, truth[valid], rtol=1e-5)
        # the confidence filter keeps the upper half of the (row-major increasing) confidence: bottom rows only
        assert not valid[:5].any() and valid[-5:, 20:40].all()
        kept_somewhere += int(valid.sum())
    assert kept_somewhere > 0
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["outputs"]["transforms:depths"] == "depths"
    assert sum(name.startswith("depths/") for name in manifest["files"]) == 3


def test_frames_without_photos_are_written_as_pngs(tmp_path: Path) -> None:
    gt = ground_truth_reconstruction(frames=2)
    rec = gt.rec
    rec.names = ["clip.mp4#frame=0", "clip.mp4#frame=7"]
    out = tmp_path / "out"

    def load(index: int) -> np.ndarray:
        return np.full((64, 96, 3), 10 * index, dtype=np.uint8)

    export(rec, out, ["transforms"], load_image=load)
    content = json.loads((out / "transforms.json").read_text())
    assert [f["file_path"] for f in content["frames"]] == ["images/clip_frame0.png", "images/clip_frame7.png"]
    with Image.open(out / "images/clip_frame7.png") as image:
        assert image.size == (96, 64) and image.getpixel((3, 3)) == (10, 10, 10)  # frame index 1
    # a second export replaces the images of the first one (they are part of its manifest)
    export(rec, out, ["transforms"], load_image=load, overwrite=True)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["clip_frame0.png", "clip_frame7.png"]


def test_a_folder_of_the_user_is_never_replaced(tmp_path: Path) -> None:
    gt = ground_truth_reconstruction(frames=2)
    out = tmp_path / "out"
    (out / "depths").mkdir(parents=True)
    (out / "depths" / "mine.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not part of a vggt-py export"):
        export(gt.rec, out, ["transforms"], transforms_depth=True)
    assert (out / "depths" / "mine.txt").read_text() == "keep me"
    assert not (out / "transforms.json").exists()


def test_bad_arguments(tmp_path: Path) -> None:
    gt = ground_truth_reconstruction(frames=2)
    with pytest.raises(ValueError, match="transforms_camera_model must be one of"):
        export(gt.rec, tmp_path / "a", ["transforms"], transforms_camera_model="FISHEYE")
    with pytest.raises(ValueError, match="expected 2 paths"):
        export(gt.rec, tmp_path / "b", ["transforms"], image_paths=["one.png"])
    assert frame_file_names(["a.png", "a.jpg", "v.mp4#frame=3"], ".npy") == ["a.npy", "a~2.npy", "v_frame3.npy"]
