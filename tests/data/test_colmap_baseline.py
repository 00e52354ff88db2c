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


def test_featureless_images_register_nothing() -> None:
    images = np.full((3, 64, 64, 3), 128, dtype=np.uint8)
    result = run_colmap(images)
    assert result.num_registered == 0 and result.points.shape == (0, 3)
    assert np.isnan(result.extrinsics).all() and np.isnan(result.intrinsics).all()


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        run_colmap(np.zeros((3, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="at least 2"):
        run_colmap(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="intrinsics"):
        run_colmap(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((3, 3, 3)))
