"""Known values of the pixel primitives in vggt_py.geometry.pixels."""

import numpy as np
import pytest
import torch

from vggt_py.geometry.pixels import (
    MIN_DEPTH,
    bilinear_sample,
    grid_sample_pixels,
    inside_image,
    intrinsics_to_original,
    model_to_original,
    original_to_model,
    resample_to_original,
)

# original (x, y) -> model: scale by 0.5, then shift by (+3, -1)
TRANSFORM = np.array([[0.5, 0.0, 3.0], [0.0, 0.5, -1.0], [0.0, 0.0, 1.0]])


def test_min_depth_is_vggts_bound() -> None:
    assert MIN_DEPTH == 1e-8


def test_original_to_model_known_values_numpy_and_torch() -> None:
    xy = np.array([[0.0, 0.0], [4.0, 10.0]])
    expected = np.array([[3.0, -1.0], [5.0, 4.0]])
    np.testing.assert_array_equal(original_to_model(TRANSFORM, xy), expected)
    out_t = original_to_model(torch.from_numpy(TRANSFORM), torch.tensor(xy, dtype=torch.float32))
    assert out_t.dtype == torch.float32
    assert torch.equal(out_t, torch.tensor(expected, dtype=torch.float32))


def test_model_to_original_inverts() -> None:
    np.testing.assert_allclose(model_to_original(TRANSFORM, np.array([[5.0, 4.0]])), [[4.0, 10.0]], atol=1e-12)
    xy = np.random.default_rng(0).uniform(-5, 50, (7, 3, 2))
    np.testing.assert_allclose(model_to_original(TRANSFORM, original_to_model(TRANSFORM, xy)), xy, atol=1e-12)


def test_mapping_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[\.\.\., 2\]"):
        original_to_model(TRANSFORM, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="3, 3"):
        original_to_model(np.eye(2), np.zeros((4, 2)))


def test_intrinsics_to_original_known_values() -> None:
    k_model = np.array([[10.0, 0.0, 5.0], [0.0, 10.0, 4.0], [0.0, 0.0, 1.0]])
    # K_orig = T^-1 K: focal doubles, principal point maps back through the inverse shift
    expected = np.array([[20.0, 0.0, 4.0], [0.0, 20.0, 10.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(intrinsics_to_original(TRANSFORM, k_model), expected, atol=1e-12)
    out_t = intrinsics_to_original(torch.from_numpy(TRANSFORM), torch.tensor(k_model, dtype=torch.float32))
    assert out_t.dtype == torch.float32
    assert torch.allclose(out_t, torch.tensor(expected, dtype=torch.float32))


def test_bilinear_sample_known_values() -> None:
    values = np.array([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]])  # [H=2, W=3]
    xy = np.array([[0.5, 0.5], [2.0, 1.0], [-3.0, 0.0], [9.0, 9.0], [1.25, 0.0]])
    np.testing.assert_allclose(bilinear_sample(values, xy), [5.5, 12.0, 0.0, 12.0, 1.25])
    rgb = np.stack([values, 2 * values], axis=-1)  # [H, W, 2]
    np.testing.assert_allclose(bilinear_sample(rgb, xy[:1]), [[5.5, 11.0]])


def test_bilinear_sample_propagates_nan_corners_only() -> None:
    values = np.array([[np.nan, 1.0, 2.0], [10.0, 11.0, 12.0]])
    out = bilinear_sample(values, np.array([[0.5, 0.5], [1.5, 0.5]]))
    assert np.isnan(out[0]) and out[1] == pytest.approx(6.5)


def test_inside_image_uses_pixel_squares() -> None:
    xy = np.array([[-0.5, -0.5], [2.5, 1.5], [2.51, 0.0], [0.0, -0.51]])
    assert inside_image(xy, (2, 3)).tolist() == [True, True, False, False]


def test_resample_to_original_known_values() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)  # [H=3, W=4], value = 4 y + x
    half = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]])  # original is twice as large
    out = resample_to_original(values, half, (10, 6))  # (w, h)
    assert out.shape == (6, 10) and out.dtype == np.float32
    assert out[2, 3] == pytest.approx(4 * 1.0 + 1.5)  # model (1.5, 1.0)
    assert np.isnan(out[0, 8]) and np.isnan(out[0, 9])  # model x = 4.0, 4.5 > W - 0.5
    assert out[0, 7] == pytest.approx(3.0)  # model x = 3.5: on the last pixel's square, clamped


def test_grid_sample_pixels_matches_bilinear_sample_with_border_padding() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(5, 7))
    xy = rng.uniform(-2, 9, size=(11, 2))
    maps = torch.from_numpy(values)[None, None]  # [1, 1, H, W]
    coords = torch.from_numpy(xy)[None, :, None, :]  # [1, N, 1, 2]
    torch_out = grid_sample_pixels(maps, coords)[0, 0, :, 0].numpy()
    np.testing.assert_allclose(torch_out, bilinear_sample(values, xy), atol=1e-12)


def test_project_points_numpy_matches_torch_and_known_values() -> None:
    from vggt_py.geometry import project_points, project_points_numpy

    k = np.array([[100.0, 0.0, 50.0], [0.0, 80.0, 40.0], [0.0, 0.0, 1.0]])
    e = np.array([[1.0, 0.0, 0.0, 0.5], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 2.0]])
    points = np.array([[0.5, 0.4, 2.0], [-0.5, 0.0, 0.0]])
    uv, z = project_points_numpy(points, k, e)
    np.testing.assert_allclose(z, [4.0, 2.0])
    np.testing.assert_allclose(uv, [[75.0, 48.0], [50.0, 40.0]])
    uv_t, z_t = project_points(torch.from_numpy(points), torch.from_numpy(k), torch.from_numpy(e))
    np.testing.assert_allclose(uv_t.numpy(), uv, atol=1e-12)
    np.testing.assert_allclose(z_t.numpy(), z)
    with pytest.raises(ValueError, match=r"\[3, 4\]"):
        project_points_numpy(points, k, e[:2])
