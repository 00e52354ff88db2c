"""Scene folders: round trips, atomic writes, and clear errors for broken folders."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vggt_py.data.scene_folder import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SceneFolderError,
    read_scene_folder,
    unproject_depths,
    write_scene_folder,
)
from vggt_py.data.synthetic import SceneConfig, SyntheticScene, generate_scene
from vggt_py.geometry.camera import unproject_depth


@pytest.fixture(scope="module")
def scene() -> SyntheticScene:
    config = SceneConfig(num_frames=3, height=30, width=44, num_tracks=12, open_ceiling=True, rotation_jitter_deg=20)
    return generate_scene(config, seed=4)


@pytest.fixture
def folder(scene: SyntheticScene, tmp_path: Path) -> Path:
    return write_scene_folder(scene, tmp_path / "scene")


def test_layout_and_cameras_json(folder: Path, scene: SyntheticScene) -> None:
    assert sorted(p.name for p in folder.iterdir()) == ["cameras.json", "depth", "images", "tracks.npz"]
    assert sorted(p.name for p in (folder / "images").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert sorted(p.name for p in (folder / "depth").iterdir()) == ["000000.npy", "000001.npy", "000002.npy"]
    meta = json.loads((folder / "cameras.json").read_text())
    assert meta["format"] == FORMAT_NAME and meta["version"] == FORMAT_VERSION
    frame = meta["frames"][1]
    assert frame["file"] == "000001.png" and (frame["width"], frame["height"]) == (44, 30)
    np.testing.assert_array_equal(np.array(frame["intrinsics"], dtype=np.float32), scene.intrinsics[1])
    np.testing.assert_array_equal(np.array(frame["extrinsics"], dtype=np.float32), scene.extrinsics[1])
    assert [p.name for p in folder.parent.iterdir()] == ["scene"]  # no temporary folders left behind


def test_round_trip_npy(folder: Path, scene: SyntheticScene) -> None:
    back = read_scene_folder(folder)
    for name in ("images", "depths", "intrinsics", "extrinsics", "valid_masks", "tracks", "track_visibility"):
        np.testing.assert_array_equal(getattr(back, name), getattr(scene, name), err_msg=name)
    assert (~scene.valid_masks).any()  # the open ceiling gives invalid pixels
    np.testing.assert_allclose(back.world_points, scene.world_points, atol=1e-4, rtol=1e-5)


def test_round_trip_png16(scene: SyntheticScene, tmp_path: Path) -> None:
    path = write_scene_folder(scene, tmp_path / "s16", depth_format="png16")
    png = Image.open(path / "depth" / "000000.png")
    assert np.asarray(png).dtype == np.uint16
    back = read_scene_folder(path)
    np.testing.assert_allclose(back.depths, scene.depths, atol=5.01e-4)
    np.testing.assert_array_equal(back.valid_masks, scene.valid_masks)


def test_unproject_matches_shared_geometry(scene: SyntheticScene) -> None:
    ours = unproject_depths(scene.depths, scene.intrinsics, scene.extrinsics)
    ref = unproject_depth(
        torch.from_numpy(scene.depths).double(),
        torch.from_numpy(scene.intrinsics).double(),
        torch.from_numpy(scene.extrinsics).double(),
    ).numpy()
    valid = scene.valid_masks
    np.testing.assert_allclose(ours[valid], ref[valid], atol=1e-4)
    assert (ours[~valid] == 0).all()


def test_overwrite(folder: Path, scene: SyntheticScene) -> None:
    with pytest.raises(FileExistsError):
        write_scene_folder(scene, folder)
    (folder / "stale.txt").write_text("x")
    write_scene_folder(scene, folder, overwrite=True)
    assert not (folder / "stale.txt").exists()
    assert [p.name for p in folder.parent.iterdir()] == ["scene"]
    with pytest.raises(ValueError, match="depth_format"):
        write_scene_folder(scene, folder.parent / "other", depth_format="exr")  # type: ignore[arg-type]


def test_without_tracks(folder: Path) -> None:
    (folder / "tracks.npz").unlink()
    back = read_scene_folder(folder)
    assert back.tracks.shape == (3, 0, 2) and back.track_visibility.shape == (3, 0)


def _edit_json(folder: Path, edit: Callable[[dict], object]) -> None:
    meta = json.loads((folder / "cameras.json").read_text())
    edit(meta)
    (folder / "cameras.json").write_text(json.dumps(meta))


def _check_error(folder: Path, *fragments: str) -> None:
    with pytest.raises(SceneFolderError) as info:
        read_scene_folder(folder)
    message = str(info.value)
    assert str(folder) in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_folder_and_cameras(tmp_path: Path, folder: Path) -> None:
    _check_error(tmp_path / "nope", "not a folder")
    (folder / "cameras.json").unlink()
    _check_error(folder, "cameras.json", "missing")


def test_bad_json(folder: Path) -> None:
    (folder / "cameras.json").write_text("{not json")
    _check_error(folder, "cameras.json", "JSON")


def test_wrong_format_or_version(folder: Path) -> None:
    _edit_json(folder, lambda m: m.update(version=99))
    _check_error(folder, "cameras.json", "version")
    _edit_json(folder, lambda m: m.update(format="other"))
    _check_error(folder, "cameras.json", "format")


def test_bad_frame_entries(folder: Path) -> None:
    _edit_json(folder, lambda m: m["frames"][1].pop("intrinsics"))
    _check_error(folder, "frame 1", "intrinsics")
    _edit_json(folder, lambda m: m["frames"][1].update(intrinsics=[[1, 0, 0], [0, 1, 0]], extrinsics=[[1]]))
    _check_error(folder, "frame 1", "3x3")


def test_missing_image(folder: Path) -> None:
    (folder / "images" / "000002.png").unlink()
    _check_error(folder, "images/000002.png", "missing")


def test_image_size_mismatch(folder: Path) -> None:
    Image.new("RGB", (10, 10)).save(folder / "images" / "000001.png")
    _check_error(folder, "images/000001.png", "10x10")


def test_sizes_must_agree(folder: Path) -> None:
    _edit_json(folder, lambda m: m["frames"][0].update(width=20))
    _check_error(folder, "cameras.json", "one image size")


def test_missing_or_bad_depth(folder: Path) -> None:
    np.save(folder / "depth" / "000001.npy", np.ones((5, 5), np.float32))
    _check_error(folder, "depth/000001.npy", "shape")
    (folder / "depth" / "000001.npy").unlink()
    _check_error(folder, "depth/000001", "missing")
    shutil.rmtree(folder / "depth")
    _check_error(folder, "depth/000000", "missing")


def test_bad_tracks(folder: Path) -> None:
    np.savez(folder / "tracks.npz", tracks=np.zeros((2, 4, 2)), track_visibility=np.zeros((2, 4), bool))
    _check_error(folder, "tracks.npz", "[3,N,2]")
    np.savez(folder / "tracks.npz", tracks=np.zeros((3, 4, 2)))
    _check_error(folder, "tracks.npz", "track_visibility")
