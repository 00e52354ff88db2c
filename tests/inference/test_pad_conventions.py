"""Camera conventions that ``mode="pad"`` exposes (README, Conventions): focal lengths over the content box,
VGGT's half-pixel principal point, and frame 0 as the world frame."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import SHARED, write_photos
from vggt_py import VGGT, VGGTConfig
from vggt_py.geometry import pose_encoding_to_extri_intri
from vggt_py.inference.api import reconstruct
from vggt_py.inference.images import load_images

ROOM = SHARED / "examples" / "room" / "images"
needs_room = pytest.mark.skipif(not ROOM.is_dir(), reason="example photos not present")
FOV_H, FOV_W = 0.8, 1.0  # what the fixed camera head below predicts for every frame


@pytest.fixture(scope="module")
def fixed_camera_model() -> VGGT:
    """A tiny model whose camera head predicts the same camera for every frame and input (zero last layer)."""
    torch.manual_seed(0)
    config = VGGTConfig.from_preset("tiny").replace(img_size=140)
    model = VGGT(config).eval()
    with torch.no_grad():
        last = model.camera_head.pose_branch.fc2
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, FOV_H, FOV_W]) / config.camera_head.iters)
    return model


@pytest.fixture(scope="module")
def landscape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 200 x 150 -> 140 x 112 in both modes: crop keeps every row, pad adds 14 white rows above and below
    return write_photos(tmp_path_factory.mktemp("landscape"), (200, 150), count=2)


def test_pad_and_crop_give_the_same_cameras_for_the_same_fovs(fixed_camera_model: VGGT, landscape: Path) -> None:
    crop = reconstruct(landscape, fixed_camera_model, mode="crop", device="cpu")
    pad = reconstruct(landscape, fixed_camera_model, mode="pad", device="cpu")
    assert crop.image_size == (112, 140) and pad.image_size == (140, 140)
    np.testing.assert_allclose(pad.pose_encoding, crop.pose_encoding, atol=1e-6)  # the same prediction...
    np.testing.assert_allclose(pad.intrinsics_original, crop.intrinsics_original, rtol=1e-6)  # ...the same camera
    k = pad.intrinsics[0].astype(np.float64)
    # the fovs are read over the 140 x 112 content box (rows 14..126), not the 140 x 140 square
    assert k[1, 1] == pytest.approx(56 / np.tan(FOV_H / 2), rel=1e-6)
    assert k[0, 0] == pytest.approx(70 / np.tan(FOV_W / 2), rel=1e-6)
    assert (k[0, 2], k[1, 2]) == pytest.approx((70.0, 70.0))  # box centre (0 + 140/2, 14 + 112/2)


def test_crop_mode_intrinsics_are_the_raw_decoding_bit_for_bit(fixed_camera_model: VGGT, landscape: Path) -> None:
    rec = reconstruct(landscape, fixed_camera_model, mode="crop", device="cpu")
    _, raw = pose_encoding_to_extri_intri(torch.from_numpy(rec.pose_encoding), rec.image_size)
    np.testing.assert_array_equal(rec.intrinsics, raw.numpy())


def test_frames_padded_to_a_common_size_keep_their_own_focal_lengths(fixed_camera_model: VGGT, tmp_path: Path) -> None:
    wide = write_photos(tmp_path / "wide", (200, 150), count=1) / "00.png"
    tall = write_photos(tmp_path / "tall", (150, 200), count=1) / "00.png"
    with pytest.warns(UserWarning, match="different shapes"):  # crop: 140x112 and 140x140, padded to 140x140
        batch = load_images([wide, tall], mode="crop", target_size=140)
    mixed = reconstruct(batch, fixed_camera_model, device="cpu")
    alone = reconstruct([wide], fixed_camera_model, mode="crop", device="cpu")
    np.testing.assert_allclose(mixed.intrinsics_original[0], alone.intrinsics_original[0], rtol=1e-6)


def test_principal_point_is_half_a_model_pixel_past_the_centre(fixed_camera_model: VGGT, landscape: Path) -> None:
    """VGGT's convention: c = (W/2, H/2) with integer pixel centres, i.e. (0.5, 0.5) model pixels past (W-1)/2."""
    rec = reconstruct(landscape, fixed_camera_model, mode="crop", device="cpu")
    k = rec.intrinsics_original[0].astype(np.float64)
    scale = 140 / 200
    assert k[0, 2] - (200 - 1) / 2 == pytest.approx(0.5 / scale, abs=1e-4)
    assert k[1, 2] - (150 - 1) / 2 == pytest.approx(0.5 * 150 / 112, abs=1e-4)


def test_known_pose_of_frame_0_makes_it_the_world_frame_exactly(fixed_camera_model: VGGT, landscape: Path) -> None:
    rec = reconstruct(landscape, fixed_camera_model, mode="pad", device="cpu", poses={0: np.eye(4)})
    np.testing.assert_allclose(rec.extrinsics[0], np.eye(4)[:3], atol=1e-6)


@needs_room
def test_bundled_model_on_real_photos_square_pixels_in_pad_mode() -> None:
    model = VGGT.from_pretrained("bundled")
    photos = sorted(ROOM.iterdir())[:2]  # a 512x384 and a 1280x960 photo (4:3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = {mode: reconstruct(photos, model, mode=mode, device="cpu") for mode in ("crop", "pad")}
    ratios = {mode: r.intrinsics[:, 1, 1] / r.intrinsics[:, 0, 0] for mode, r in recs.items()}
    assert np.all(np.abs(ratios["crop"] - 1) < 0.1), ratios
    assert np.all(np.abs(ratios["pad"] - 1) < 0.1), ratios  # over the padded square it would be ~4/3
    # the ray through the top edge of each photo: the same angle in both modes (within a degree)
    angles = {}
    for mode, r in recs.items():
        k = r.intrinsics_original.astype(np.float64)
        angles[mode] = np.degrees(np.arctan((-0.5 - k[:, 1, 2]) / k[:, 1, 1]))
    assert np.abs(angles["pad"] - angles["crop"]).max() < 1.0, angles
