import math

import pytest
import torch

from vggt_py.geometry import (
    content_intrinsics,
    extri_intri_to_pose_encoding,
    mat_to_quat,
    pose_encoding_to_extri_intri,
    quat_to_mat,
)

S45 = math.sqrt(0.5)


def _random_encoding(shape: tuple[int, ...], seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    translation = torch.randn((*shape, 3), generator=generator, dtype=dtype)
    quaternion = mat_to_quat(quat_to_mat(torch.randn((*shape, 4), generator=generator, dtype=dtype)))
    fov = 0.5 + torch.rand((*shape, 2), generator=generator, dtype=dtype)
    return torch.cat((translation, quaternion, fov), dim=-1)


def test_hand_built_encoding_gives_expected_k_and_rt():
    # H = 480, W = 640; fov_h = 2 atan(1/2) -> f_y = 240 / (1/2) = 480; fov_w = 90° -> f_x = 320.
    encoding = torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0, S45, S45, 2 * math.atan(0.5), math.pi / 2], dtype=torch.float64)
    extrinsics, intrinsics = pose_encoding_to_extri_intri(encoding, (480, 640))
    expected_extrinsics = torch.tensor(
        [[0.0, -1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 1.0, 3.0]], dtype=torch.float64
    )
    expected_intrinsics = torch.tensor([[320.0, 0.0, 320.0], [0.0, 480.0, 240.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(extrinsics, expected_extrinsics)
    torch.testing.assert_close(intrinsics, expected_intrinsics)


def test_fov_index_7_is_vertical_and_index_8_horizontal():
    encoding = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.6, 1.4], dtype=torch.float64)
    _, intrinsics = pose_encoding_to_extri_intri(encoding, (200, 500))
    torch.testing.assert_close(intrinsics[1, 1], torch.tensor(100.0 / math.tan(0.3), dtype=torch.float64))
    torch.testing.assert_close(intrinsics[0, 0], torch.tensor(250.0 / math.tan(0.7), dtype=torch.float64))
    assert intrinsics[0, 2].item() == 250.0 and intrinsics[1, 2].item() == 100.0


def test_float32_values_match_the_reference_formula_bit_for_bit():
    encoding = _random_encoding((2, 3), seed=1, dtype=torch.float32)
    height, width = 294, 518
    extrinsics, intrinsics = pose_encoding_to_extri_intri(encoding, (height, width))
    assert extrinsics.dtype == intrinsics.dtype == torch.float32
    assert torch.equal(intrinsics[..., 1, 1], (height / 2.0) / torch.tan(encoding[..., 7] / 2.0))
    assert torch.equal(intrinsics[..., 0, 0], (width / 2.0) / torch.tan(encoding[..., 8] / 2.0))
    assert torch.equal(intrinsics[..., 0, 2], torch.full((2, 3), width / 2.0))
    assert torch.equal(intrinsics[..., 1, 2], torch.full((2, 3), height / 2.0))
    assert torch.equal(extrinsics[..., :3], quat_to_mat(encoding[..., 3:7]))
    assert torch.equal(extrinsics[..., 3], encoding[..., :3])


@pytest.mark.parametrize("shape", [(), (4,), (2, 3)])
def test_round_trip_and_shapes(shape):
    encoding = _random_encoding(shape, seed=2)
    extrinsics, intrinsics = pose_encoding_to_extri_intri(encoding, (518, 392))
    assert extrinsics.shape == (*shape, 3, 4) and intrinsics.shape == (*shape, 3, 3)
    recovered = extri_intri_to_pose_encoding(extrinsics, intrinsics, (518, 392))
    assert recovered.shape == (*shape, 9)
    torch.testing.assert_close(recovered, encoding)


def test_matrices_to_encoding_known_value():
    extrinsics = torch.tensor([[0.0, -1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 1.0, 3.0]], dtype=torch.float64)
    intrinsics = torch.tensor([[320.0, 0.0, 320.0], [0.0, 480.0, 240.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    encoding = extri_intri_to_pose_encoding(extrinsics, intrinsics, (480, 640))
    expected = torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0, S45, S45, 2 * math.atan(0.5), math.pi / 2], dtype=torch.float64)
    torch.testing.assert_close(encoding, expected)


@pytest.mark.parametrize("image_hw", [(0, 10), (10,), (10.0, 20), "hw", (True, 5), None])
def test_bad_image_size_raises(image_hw):
    with pytest.raises(ValueError, match="image_hw"):
        pose_encoding_to_extri_intri(torch.zeros(9), image_hw)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\[\.\.\., 9\]"):
        pose_encoding_to_extri_intri(torch.zeros(2, 8), (10, 10))
    with pytest.raises(ValueError, match="leading dims"):
        extri_intri_to_pose_encoding(torch.zeros(2, 3, 4), torch.zeros(3, 3, 3), (10, 10))
    with pytest.raises(ValueError, match="extrinsics"):
        extri_intri_to_pose_encoding(torch.zeros(2, 2, 4), torch.zeros(2, 3, 3), (10, 10))


def test_gradcheck_both_directions():
    encoding = _random_encoding((2,), seed=3).requires_grad_()
    assert torch.autograd.gradcheck(lambda e: pose_encoding_to_extri_intri(e, (60, 80)), (encoding,))
    extrinsics, intrinsics = pose_encoding_to_extri_intri(encoding.detach(), (60, 80))
    extrinsics.requires_grad_()
    intrinsics.requires_grad_()
    assert torch.autograd.gradcheck(lambda e, k: extri_intri_to_pose_encoding(e, k, (60, 80)), (extrinsics, intrinsics))


# ---------------------------------------------------------------------------------------------
# content_intrinsics: the fovs read over a content box


def test_content_intrinsics_over_the_whole_image_equal_the_reference_bit_for_bit():
    encoding = _random_encoding((2, 3), seed=4, dtype=torch.float32)
    _, expected = pose_encoding_to_extri_intri(encoding, (168, 224))
    boxes = torch.tensor([0, 0, 224, 168]).expand(2, 3, 4)  # int64, as ImageBatch.valid_regions
    assert torch.equal(content_intrinsics(encoding, boxes), expected)


def test_content_intrinsics_read_the_fovs_over_the_box():
    # a 640 x 480 photo padded to 640 x 640 (80 white rows above and below); fov_h = 2 atan(3/4), fov_w = 90°
    encoding = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2 * math.atan(0.75), math.pi / 2], dtype=torch.float64)
    k = content_intrinsics(encoding, torch.tensor([0, 80, 640, 560]))
    # f_y = 240 / (3/4) = 320 = f_x: square pixels; the principal point is the box's centre (VGGT's W/2 rule)
    torch.testing.assert_close(k, torch.tensor([[320.0, 0, 320.0], [0, 320.0, 320.0], [0, 0, 1]], dtype=torch.float64))
    _, whole = pose_encoding_to_extri_intri(encoding, (640, 640))
    assert whole[1, 1] / whole[0, 0] == pytest.approx(4 / 3)  # read over the padded square: f_y/f_x = 4/3
    off_centre = content_intrinsics(encoding, torch.tensor([10.0, 0.0, 110.0, 50.0]))
    assert off_centre[0, 2].item() == 60.0 and off_centre[1, 2].item() == 25.0


def test_content_intrinsics_bad_boxes():
    encoding = _random_encoding((2,), seed=5)
    with pytest.raises(ValueError, match=r"x1 > x0 and y1 > y0, got \[5, 0, 5, 10\]"):
        content_intrinsics(encoding, torch.tensor([[0, 0, 10, 10], [5, 0, 5, 10]]))
    with pytest.raises(ValueError, match=r"shape \[\.\.\., 4\]"):
        content_intrinsics(encoding, torch.zeros(2, 3))
    with pytest.raises(TypeError, match="content_boxes"):
        content_intrinsics(encoding, [0, 0, 10, 10])
