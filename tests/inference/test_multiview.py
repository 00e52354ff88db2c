"""Known values of the multi-view toolkit (vggt_py.inference.multiview) on small hand-made scenes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vggt_py.inference.multiview import (
    MIN_PNP_POINTS,
    ReconstructionLike,
    Similarity,
    check_frames,
    check_reconstruction,
    fit_head_alignment,
    frame_points,
    head_tracks,
    import_pycolmap,
    json_value,
    pnp_pose,
    prepare_scene,
    project,
    weighted_median,
)
from vggt_py.inference.reconstruction import Reconstruction

S, H, W, F = 2, 8, 10, 10.0
K = np.array([[F, 0.0, 4.5], [0.0, F, 3.5], [0.0, 0.0, 1.0]])


def _plane_reconstruction(depth_value: float = 2.0, with_head: bool = True) -> Reconstruction:
    """Two cameras at x = 0 and x = 1 looking down +z at a fronto-parallel plane z = ``depth_value``."""
    extrinsics = np.zeros((S, 3, 4), dtype=np.float32)
    extrinsics[:, :, :3] = np.eye(3)
    extrinsics[1, 0, 3] = -1.0  # camera 1 centre at world x = +1
    depth = np.full((S, H, W), depth_value, dtype=np.float32)
    depth[0, 0, 0] = 0.0  # an invalid pixel
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    cam = np.stack([(u - K[0, 2]) / F * depth_value, (v - K[1, 2]) / F * depth_value, np.full_like(u, depth_value)], -1)
    world = np.stack([cam, cam + np.array([1.0, 0.0, 0.0])]).astype(np.float32)
    head = (0.5 * world + np.array([1.0, 2.0, 3.0])).astype(np.float32) if with_head else None  # a known similarity
    return Reconstruction(
        extrinsics=extrinsics,
        intrinsics=np.repeat(K[None], S, axis=0).astype(np.float32),
        depth=depth,
        depth_conf=np.full((S, H, W), 2.0, dtype=np.float32),
        points_from_depth=world,
        colors=np.zeros((S, H, W, 3), dtype=np.uint8),
        points_from_head=head,
        points_conf=np.full((S, H, W), 2.0, dtype=np.float32) if with_head else None,
        names=["a.png", "b.png"],
        original_sizes=np.array([[W, H]] * S),
        transforms=np.repeat(np.eye(3)[None], S, axis=0),
        valid_regions=np.array([[0, 0, W, H]] * S),
        pose_encoding=np.zeros((S, 9), dtype=np.float32),
    )


def test_json_value_known_values() -> None:
    assert json_value(np.float32(1.5)) == 1.5 and isinstance(json_value(np.float32(1.5)), float)
    assert json_value(math.nan) is None and json_value(np.float64(math.inf)) is None
    assert json_value(np.int64(7)) == 7 and isinstance(json_value(np.int64(7)), int)
    assert json_value("x") == "x"


def test_weighted_median_known_values() -> None:
    assert weighted_median(np.array([1.0, 2.0, 3.0]), np.ones(3)) == 2.0
    assert weighted_median(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 5.0])) == 3.0
    assert weighted_median(np.array([np.nan, 4.0, 9.0]), np.array([10.0, 1.0, 0.1])) == 4.0
    assert math.isnan(weighted_median(np.array([np.nan]), np.ones(1)))


def test_check_frames() -> None:
    assert check_frames(None, 3) == [0, 1, 2]
    assert check_frames([2, 0, 2], 3) == [2, 0]
    with pytest.raises(ValueError, match=r"\[0, 3\).*\[3\]"):
        check_frames([3], 3)
    with pytest.raises(ValueError, match="non-empty"):
        check_frames([], 3)


def test_similarity_apply_known_value() -> None:
    sim = Similarity(2.0, np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), np.array([1.0, 0.0, 0.0]))
    out = sim.apply(np.array([[1.0, 0.0, 0.0]], dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[1.0, 2.0, 0.0]], atol=1e-6)


def test_reconstruction_satisfies_the_protocol_and_is_validated() -> None:
    rec = _plane_reconstruction()
    assert isinstance(rec, ReconstructionLike)
    assert check_reconstruction(rec) is rec
    with pytest.raises(TypeError, match="expected a Reconstruction, got dict"):
        check_reconstruction({})
    rec.names = ["only one"]
    with pytest.raises(ValueError, match="expected 2 names, got 1"):
        check_reconstruction(rec)


def test_prepare_scene_masks_invalid_depth_and_weights() -> None:
    scene = prepare_scene(_plane_reconstruction())
    assert scene.num_frames == 2 and scene.size == (H, W)
    assert not scene.valid[0, 0, 0] and np.isnan(scene.depth[0, 0, 0]) and scene.valid.sum() == S * H * W - 1
    np.testing.assert_allclose(scene.weights[1], 2.0)  # geometric mean of depth and point confidences


def test_frame_points_and_project_round_trip() -> None:
    rec = _plane_reconstruction()
    scene = prepare_scene(rec)
    points = frame_points(scene, 1)  # [H, W, 3] world
    np.testing.assert_allclose(points[3, 4], rec.points_from_depth[1, 3, 4], atol=1e-6)
    assert np.isnan(frame_points(scene, 0)[0, 0]).all()
    uv, z = project(points[2:4, 5].reshape(-1, 3), scene.intrinsics[1], scene.extrinsics[1])
    np.testing.assert_allclose(uv, [[5.0, 2.0], [5.0, 3.0]], atol=1e-9)
    np.testing.assert_allclose(z, 2.0)
    # frame 1's points seen from camera 0 (one unit to the left): shifted by F / depth = 5 pixels
    uv0, _ = project(points[3, 4][None], scene.intrinsics[0], scene.extrinsics[0])
    np.testing.assert_allclose(uv0, [[9.0, 3.0]], atol=1e-9)


def test_fit_head_alignment_recovers_the_known_similarity() -> None:
    scene = prepare_scene(_plane_reconstruction())
    sim = fit_head_alignment(scene, np.random.default_rng(0), inlier_floor=0.025)
    assert sim is not None
    assert sim.scale == pytest.approx(2.0, rel=1e-5)  # head = 0.5 world + shift
    np.testing.assert_allclose(sim.rotation, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(sim.translation, [-2.0, -4.0, -6.0], atol=1e-4)
    headless = prepare_scene(_plane_reconstruction(with_head=False))
    assert fit_head_alignment(headless, np.random.default_rng(0), 0.025) is None


def test_head_tracks_none_without_tracks_and_known_visibility() -> None:
    rec = _plane_reconstruction()
    assert head_tracks(rec) is None
    rec.tracks = np.array([[[1.0, 1.0], [2.0, 2.0]], [[3.0, 1.0], [50.0, 2.0]]], dtype=np.float32)  # [S, N, 2]
    rec.track_visibility = np.array([[1.0, 1.0], [0.9, 0.9]], dtype=np.float32)
    tracks = head_tracks(rec)
    assert tracks is not None
    np.testing.assert_allclose(tracks.xy[0], [[1.0, 1.0], [3.0, 1.0]])
    assert tracks.visible.tolist() == [[True, True], [True, False]]  # x = 50 is outside the 10-pixel image


def test_pnp_pose_recovers_a_known_pose() -> None:
    try:
        pycolmap = import_pycolmap()
    except ImportError:
        pytest.skip("pycolmap not installed")
    rng = np.random.default_rng(0)
    world = rng.uniform((-1.0, -1.0, 3.0), (1.0, 1.0, 5.0), (40, 3))
    pose = np.concatenate([np.eye(3), [[0.2], [-0.1], [0.3]]], axis=1)
    cam = world @ pose[:, :3].T + pose[:, 3]
    xy = cam[:, :2] / cam[:, 2:] * F + K[:2, 2]
    estimate, inliers = pnp_pose(pycolmap, xy, world, K, (H, W), max_error=1.0, seed=0)
    assert inliers == 40
    np.testing.assert_allclose(estimate, pose, atol=1e-6)
    assert pnp_pose(pycolmap, xy[: MIN_PNP_POINTS - 1], world[: MIN_PNP_POINTS - 1], K, (H, W), 1.0, 0) == (None, 0)
