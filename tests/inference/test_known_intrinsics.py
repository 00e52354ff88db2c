"""Known intrinsics (inference/known_intrinsics.py): K validation, PnP + BA with K fixed, exact exports.

The synthetic "prediction" is a rendered room (exact depth and point map) seen by a camera head that got the
focal length wrong by 25 % and the poses wrong by a few degrees, with the point map in its own similarity
frame, as a model's outputs can be. Given the true K, the poses must come back; without it they stay off.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from vggt_py.data.synthetic import SceneConfig, generate_scene
from vggt_py.geometry import axis_angle_to_mat, pairwise_pose_errors, unproject_depth
from vggt_py.inference.export import export, load_npz
from vggt_py.inference.known_intrinsics import apply_intrinsics, check_intrinsics
from vggt_py.inference.reconstruction import Reconstruction

pytest.importorskip("pycolmap")

HEIGHT, WIDTH = 48, 64  # model pixels; the "original photos" are twice as large
# original pixel -> model pixel for a 2x downscale, pixel centres at integers: x_m = 0.5 x_o - 0.25
TRANSFORM = np.array([[0.5, 0.0, -0.25], [0.0, 0.5, -0.25], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def scene():
    config = SceneConfig(num_frames=5, height=HEIGHT, width=WIDTH, num_tracks=0, baseline=1.5, shared_intrinsics=True)
    return generate_scene(config, seed=3)


def true_k_original(scene) -> np.ndarray:
    """The scene's K (model pixels) in the original photos' pixels."""
    return np.linalg.inv(TRANSFORM) @ scene.intrinsics[0].astype(np.float64)


def predicted(scene, focal_scale: float = 1.25, noise_deg: float = 3.0, seed: int = 0) -> Reconstruction:
    """What a camera head that misjudged the focal length would give, with the scene's exact depth and points."""
    rng = np.random.default_rng(seed)
    num = scene.num_frames
    extrinsics = scene.extrinsics.astype(np.float64).copy()
    for i in range(1, num):
        delta = axis_angle_to_mat(torch.from_numpy(rng.normal(0.0, math.radians(noise_deg), 3))).numpy()
        extrinsics[i, :, :3] = delta @ extrinsics[i, :, :3]
        extrinsics[i, :, 3] = delta @ extrinsics[i, :, 3] + rng.normal(0.0, 0.1, 3)
    intrinsics = scene.intrinsics.astype(np.float64).copy()
    intrinsics[:, 0, 0] *= focal_scale
    intrinsics[:, 1, 1] *= focal_scale
    depth = np.where(scene.valid_masks, scene.depths, 0.0).astype(np.float32)
    points = unproject_depth(torch.from_numpy(depth.astype(np.float64)), torch.from_numpy(intrinsics),
                             torch.from_numpy(extrinsics)).numpy()
    # the point map in its own frame: scaled by 0.8, rotated 20 degrees, shifted
    rotation = axis_angle_to_mat(torch.tensor([0.0, math.radians(20.0), 0.0], dtype=torch.float64)).numpy()
    head = 0.8 * scene.world_points.astype(np.float64) @ rotation.T + np.array([0.3, -0.2, 1.0])
    head[~scene.valid_masks] = np.nan
    return Reconstruction(
        extrinsics=extrinsics.astype(np.float32),
        intrinsics=intrinsics.astype(np.float32),
        depth=depth,
        depth_conf=rng.uniform(1.0, 5.0, depth.shape).astype(np.float32),
        points_from_depth=points.astype(np.float32),
        colors=scene.images.copy(),
        names=[f"frame_{i}.png" for i in range(num)],
        original_sizes=np.tile([2 * WIDTH, 2 * HEIGHT], (num, 1)).astype(np.int64),
        transforms=np.repeat(TRANSFORM[None], num, axis=0),
        valid_regions=np.tile([0, 0, WIDTH, HEIGHT], (num, 1)).astype(np.int64),
        pose_encoding=np.zeros((num, 9), dtype=np.float32),
        points_from_head=head.astype(np.float32),
        points_conf=rng.uniform(1.0, 5.0, depth.shape).astype(np.float32),
    )


def pose_errors(extrinsics: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Mean relative rotation and translation-direction errors (degrees) over all frame pairs."""
    rotation, translation = pairwise_pose_errors(
        torch.from_numpy(extrinsics.astype(np.float64)), torch.from_numpy(truth.astype(np.float64))
    )
    return rotation.mean().item(), translation.mean().item()


@pytest.fixture(scope="module")
def solved(scene) -> tuple[Reconstruction, Reconstruction]:
    rec = predicted(scene)
    return rec, apply_intrinsics(rec, true_k_original(scene))


def test_pose_error_with_known_k_is_below_the_prediction(scene, solved):
    rec, out = solved
    before = pose_errors(rec.extrinsics, scene.extrinsics)
    after = pose_errors(out.extrinsics, scene.extrinsics)
    print(f"pose error without K: {before[0]:.2f} deg rotation, {before[1]:.2f} deg translation; "
          f"with K: {after[0]:.3f} / {after[1]:.3f}")
    assert before[0] > 2.0 and before[1] > 2.0  # the prediction is off ...
    assert after[0] < 0.5 and after[1] < 1.0  # ... and the known K brings the poses back
    assert out.metadata["known_intrinsics"]["pnp_frames"] == list(range(len(rec)))
    assert abs(out.metadata["known_intrinsics"]["pnp_scale"] - 1 / 0.8) < 0.01  # the map's own scale undone


def test_noisy_maps_still_beat_the_predicted_poses(scene):
    """1 % noise on the depth and the point map: PnP + BA with the true K stays well below the prediction's error."""
    rec = predicted(scene, seed=4)
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 0.01, rec.points_from_head.shape) * rec.depth[..., None]
    rec.points_from_head = (rec.points_from_head + noise).astype(np.float32)
    rec.depth = (rec.depth * (1 + rng.normal(0, 0.01, rec.depth.shape))).astype(np.float32)
    out = apply_intrinsics(rec, true_k_original(scene))
    before = pose_errors(rec.extrinsics, scene.extrinsics)
    after = pose_errors(out.extrinsics, scene.extrinsics)
    print(f"noisy maps, pose error without K: {before[0]:.2f} / {before[1]:.2f} deg; with K: {after[0]:.3f} / {after[1]:.3f}")
    assert after[0] < 0.5 and after[1] < 2.0 and after[0] < before[0] / 5 and after[1] < before[1] / 5


def test_depth_is_unprojected_with_the_known_k(scene, solved):
    _, out = solved
    np.testing.assert_allclose(out.intrinsics, np.broadcast_to(scene.intrinsics[0], out.intrinsics.shape), rtol=1e-6)
    again = unproject_depth(torch.from_numpy(out.depth.astype(np.float64)),
                            torch.from_numpy(out.intrinsics.astype(np.float64)),
                            torch.from_numpy(out.extrinsics.astype(np.float64))).numpy()
    np.testing.assert_allclose(out.points_from_depth, again, atol=1e-4)
    # frame 0 keeps its pose (the world stays where it was)
    np.testing.assert_allclose(out.extrinsics[0], solved[0].extrinsics[0], atol=1e-5)
    # metric structure: distances between world points match the scene's (same depth scale)
    valid = scene.valid_masks[1]
    got = out.points_from_depth[1][valid]
    want = scene.world_points[1][valid]
    pairs = np.random.default_rng(0).integers(0, len(got), (200, 2))
    ratio = np.linalg.norm(got[pairs[:, 0]] - got[pairs[:, 1]], axis=-1) / np.maximum(
        np.linalg.norm(want[pairs[:, 0]] - want[pairs[:, 1]], axis=-1), 1e-9)
    assert np.median(np.abs(ratio - 1)) < 0.01


def test_exports_write_the_given_k_exactly(scene, solved, tmp_path):
    pycolmap = pytest.importorskip("pycolmap")
    _, out = solved
    k = true_k_original(scene)
    np.testing.assert_array_equal(out.intrinsics_original, np.broadcast_to(k, (len(out), 3, 3)))
    written = export(out, tmp_path / "out", formats=("colmap", "npz", "transforms"))
    for frame in json.loads(written["transforms"].read_text())["frames"]:  # nerfstudio: centres at +0.5
        assert (frame["fl_x"], frame["fl_y"], frame["cx"] - 0.5, frame["cy"] - 0.5) == (k[0, 0], k[1, 1], k[0, 2], k[1, 2])
    model = pycolmap.Reconstruction(str(written["colmap"]))
    for camera in model.cameras.values():
        fx, fy, cx, cy = camera.params
        assert (fx, fy, cx - 0.5, cy - 0.5) == (k[0, 0], k[1, 1], k[0, 2], k[1, 2])
        assert (camera.width, camera.height) == (2 * WIDTH, 2 * HEIGHT)
    again = load_npz(written["npz"])
    assert again.known_intrinsics.dtype == np.float64
    np.testing.assert_array_equal(again.known_intrinsics, np.broadcast_to(k, (len(out), 3, 3)))
    np.testing.assert_array_equal(again.intrinsics_original, out.intrinsics_original)


def test_a_point_map_that_disagrees_with_k_keeps_the_predicted_poses(scene):
    rec = predicted(scene, noise_deg=0.0)
    rng = np.random.default_rng(1)
    rec.points_from_head = (rec.points_from_head + rng.normal(0, 2.0, rec.points_from_head.shape)).astype(np.float32)
    out = apply_intrinsics(rec, true_k_original(scene), refine=False)
    assert out.metadata["known_intrinsics"]["pnp_frames"] == []
    np.testing.assert_allclose(out.extrinsics, rec.extrinsics, atol=1e-5)
    assert out.known_intrinsics is not None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.eye(2), r"intrinsics: expected a 3x3 camera matrix or \[S, 3, 3\], got shape \[2, 2\]"),
        (np.zeros((4, 3, 3)), r"intrinsics: expected one 3x3 matrix or 5 \(one per frame\), got 4"),
        ([[-100.0, 0, 32], [0, 100, 24], [0, 0, 1]], r"intrinsics: expected positive focal lengths fx, fy, got -100.0"),
        ([[100.0, 0, 32], [0, 0.0, 24], [0, 0, 1]], r"positive focal lengths fx, fy, got 100.0, 0.0"),
        ([[100.0, 0, 32], [0, 100, 24], [0, 0.5, 1]], r"intrinsics: expected the bottom row \[0, 0, 1\].*\[0.0, 0.5, 1.0\]"),
        ([[100.0, 0, 32], [0, 100, 24], [0, 0, 2]], r"bottom row \[0, 0, 1\] of a camera matrix, got \[0.0, 0.0, 2.0\]"),
        ([[100.0, 1.0, 32], [0, 100, 24], [0, 0, 1]], r"intrinsics: expected no skew .* K\[0, 1\] = 1.0"),
        ([[math.nan, 0, 32], [0, 100, 24], [0, 0, 1]], r"intrinsics: expected finite entries"),
        ("abc", r"intrinsics: expected a 3x3 camera matrix or \[S, 3, 3\], got 'abc'"),
    ],
)
def test_bad_camera_matrices_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        check_intrinsics(value, 5)


def test_per_frame_errors_name_the_frame():
    k = np.repeat(np.array([[100.0, 0, 32], [0, 100, 24], [0, 0, 1]])[None], 3, axis=0)
    k[2, 1, 1] = -1.0
    with pytest.raises(ValueError, match=r"intrinsics\[2\]: expected positive focal lengths"):
        check_intrinsics(k, 3)


# ---------------------------------------------------------------------------------------------
# Through reconstruct() with the bundled model (tiny frames)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory: pytest.TempPathFactory, scene):
    from PIL import Image

    folder = tmp_path_factory.mktemp("known_k_photos")
    for i, image in enumerate(scene.images):
        Image.fromarray(image).resize((2 * WIDTH, 2 * HEIGHT)).save(folder / f"frame_{i}.png")
    return folder


@pytest.fixture(scope="module")
def bundled():
    from vggt_py import VGGT

    return VGGT.from_pretrained("bundled")


def test_reconstruct_with_known_k_end_to_end(scene, photo_folder, bundled, tmp_path):
    pycolmap = pytest.importorskip("pycolmap")
    from vggt_py.inference.api import reconstruct
    from vggt_py.inference.images import load_images

    batch = load_images(sorted(photo_folder.iterdir())[:3], target_size=70, patch_size=14)
    k = true_k_original(scene)
    plain = reconstruct(batch, bundled, device="cpu")
    rec = reconstruct(batch, bundled, device="cpu", intrinsics=k)
    np.testing.assert_array_equal(rec.known_intrinsics, np.broadcast_to(k, (len(rec), 3, 3)))
    np.testing.assert_allclose(rec.intrinsics, rec.transforms @ k, rtol=1e-6)
    np.testing.assert_array_equal(rec.depth, plain.depth)
    info = rec.metadata["known_intrinsics"]
    assert len(info["pnp_inlier_fractions"]) == len(rec)
    before = pose_errors(plain.extrinsics, scene.extrinsics[:3])
    after = pose_errors(rec.extrinsics, scene.extrinsics[:3])
    print(f"bundled model, pose error without K: {before[0]:.2f} / {before[1]:.2f} deg; with K: "
          f"{after[0]:.2f} / {after[1]:.2f} deg; PnP frames {info['pnp_frames']}, refined {info['refined']}")
    assert after[0] <= before[0] + 0.5 and after[1] <= before[1] + 0.5
    written = export(rec, tmp_path / "out", formats=("colmap", "npz"))
    for camera in pycolmap.Reconstruction(str(written["colmap"])).cameras.values():
        assert tuple(camera.params) == (k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5)
    np.testing.assert_array_equal(load_npz(written["npz"]).intrinsics_original, rec.intrinsics_original)


def test_per_frame_k_follows_keyframes(scene, photo_folder, bundled, tmp_path):
    from PIL import Image

    from vggt_py.inference.api import reconstruct
    from vggt_py.inference.images import load_images

    for name in ("frame_0.png", "frame_1.png"):
        Image.open(photo_folder / name).save(tmp_path / name)
    Image.open(photo_folder / "frame_0.png").save(tmp_path / "frame_0b.png")  # a duplicate: skipped
    base = true_k_original(scene)
    ks = np.stack([base * [[1.0], [1.0], [1.0]] + np.diag([d, d, 0.0]) for d in (0.0, 5.0, 10.0)])
    batch = load_images(tmp_path, target_size=70, patch_size=14)  # frame_0, frame_0b, frame_1
    rec = reconstruct(batch, bundled, device="cpu", keyframes=True, intrinsics=ks)
    assert rec.metadata["keyframes"] == [0, 2]
    np.testing.assert_array_equal(rec.known_intrinsics, ks[[0, 2]])
    with pytest.raises(ValueError, match=r"intrinsics: expected one 3x3 matrix or 3 \(one per frame\), got 2"):
        reconstruct(batch, bundled, device="cpu", intrinsics=ks[:2])


def test_scale_anchors_through_reconstruct(photo_folder, bundled):
    from vggt_py.inference.api import reconstruct
    from vggt_py.inference.images import load_images

    batch = load_images(sorted(photo_folder.iterdir())[:3], target_size=70, patch_size=14)
    rec = reconstruct(batch, bundled, device="cpu", scale_depth=(1, 2.5))
    assert rec.scale_source == "depth"
    assert abs(float(np.median(rec.depth[1][rec.mask()[1]])) - 2.5) < 1e-4
    # argument errors come before the model runs
    with pytest.raises(ValueError, match="give one of them"):
        reconstruct(batch, bundled, device="cpu", scale_depth=(1, 2.5), scale_distance=(0, (1, 1), (2, 2), 1.0))
    with pytest.raises(ValueError, match=r"scale_depth: expected \(frame, depth value or map\), got 2.5"):
        reconstruct(batch, bundled, device="cpu", scale_depth=2.5)
    with pytest.raises(ValueError, match=r"scale_distance: expected \(frame, \(x, y\), \(x, y\), distance\)"):
        reconstruct(batch, bundled, device="cpu", scale_distance=(0, 1.0))


def test_npz_with_mismatched_known_intrinsics_is_refused(solved, tmp_path):
    _, out = solved
    path = export(out, tmp_path / "out", formats=("npz",))["npz"]
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["known_intrinsics"] = arrays["known_intrinsics"][:2]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"known_intrinsics must be \[5, 3, 3\] like the frames, got \[2, 3, 3\]"):
        load_npz(tmp_path / "bad.npz")
