"""COLMAP baseline on a small synthetic scene: frames register, relative rotations match."""

from __future__ import annotations

import numpy as np
import pytest

pycolmap = pytest.importorskip("pycolmap")

from vggt_py.data.colmap_baseline import run_colmap
from vggt_py.data.synthetic import SceneConfig, generate_scene


def _max_relative_rotation_error_deg(gt: np.ndarray, est: np.ndarray, registered: np.ndarray) -> float:
    idx = np.flatnonzero(registered)
    worst = 0.0
    for a in idx:
        for b in idx[idx > a]:
            rel_gt = gt[a, :, :3] @ gt[b, :, :3].T
            rel_est = est[a, :, :3] @ est[b, :, :3].T
            cos = (np.trace(rel_gt.T @ rel_est) - 1.0) / 2.0
            worst = max(worst, float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))))
    return worst


@pytest.fixture(scope="module")
def scene():
    return generate_scene(SceneConfig.preset("easy", num_frames=6, height=192, width=256, num_tracks=0), seed=0)


@pytest.mark.parametrize("known_intrinsics", [True, False])
def test_registers_and_recovers_rotations(scene, known_intrinsics: bool, tmp_path) -> None:
    result = run_colmap(scene.images, scene.intrinsics if known_intrinsics else None, work_dir=tmp_path)
    assert result.num_registered >= 5
    assert result.points.shape[0] > 50 and result.points.shape == (result.point_colors.shape[0], 3)
    assert np.isfinite(result.extrinsics[result.registered]).all()
    assert np.isnan(result.extrinsics[~result.registered]).all()
    rot = result.extrinsics[result.registered][:, :, :3]
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rot.shape), atol=1e-6)
    err = _max_relative_rotation_error_deg(scene.extrinsics.astype(np.float64), result.extrinsics, result.registered)
    assert err < 3.0
    if known_intrinsics:  # fixed cameras come back unchanged (pixel-centre convention round trip)
        np.testing.assert_allclose(
            result.intrinsics[result.registered], scene.intrinsics[result.registered], rtol=1e-5, atol=1e-4
        )
    else:
        focal_ratio = result.intrinsics[result.registered, 0, 0] / scene.intrinsics[result.registered, 0, 0]
        assert np.abs(focal_ratio - 1.0).max() < 0.05


def test_featureless_images_register_nothing(capfd: pytest.CaptureFixture) -> None:
    images = np.full((3, 64, 64, 3), 128, dtype=np.uint8)
    result = run_colmap(images)
    assert result.num_registered == 0 and result.points.shape == (0, 3)
    assert np.isnan(result.extrinsics).all() and np.isnan(result.intrinsics).all()
    out, err = capfd.readouterr()
    # COLMAP's log is silenced below errors by default: only its one error line ("Failed to create any sparse model")
    assert out == "" and [line[0] for line in err.splitlines()] == ["E"] and "sparse model" in err
    run_colmap(images, verbose=True)
    assert "Feature extraction" in capfd.readouterr().err


def test_photo_folder_and_file_list(scene, tmp_path) -> None:
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    paths = []
    for i, frame in enumerate(scene.images):
        paths.append(folder / f"view_{i}.png")
        Image.fromarray(frame).save(paths[-1])
    (folder / "notes.txt").write_text("not a photo")  # ignored, as vggt-py reconstruct ignores it
    from_folder = run_colmap(folder)
    assert from_folder.num_registered >= 5
    err = _max_relative_rotation_error_deg(scene.extrinsics.astype(np.float64), from_folder.extrinsics, from_folder.registered)
    assert err < 3.0
    # a list of files of different sizes: one camera each, in the given order
    Image.new("RGB", (40, 30), (128, 128, 128)).save(tmp_path / "grey.png")
    small = run_colmap([tmp_path / "grey.png", paths[0], paths[1]], max_num_features=512)
    assert small.registered.shape == (3,) and not small.registered[0]


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        run_colmap(np.zeros((3, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="at least 2"):
        run_colmap(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="intrinsics"):
        run_colmap(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match=r"no such photo file\(s\): .*missing\.png"):
        run_colmap(["missing.png", "other_missing.png"])
