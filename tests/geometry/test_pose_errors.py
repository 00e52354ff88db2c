import math

import pytest
import torch

from vggt_py.geometry import (
    apply_similarity,
    axis_angle_to_mat,
    pair_indices,
    pairwise_pose_errors,
    relative_poses,
    relative_rotation_error,
    se3_inverse,
    to_homogeneous,
    translation_direction_error,
)

DT = torch.float64


def _cameras(num: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    rotation = axis_angle_to_mat(torch.randn(num, 3, generator=generator, dtype=DT))
    translation = torch.randn(num, 3, 1, generator=generator, dtype=DT)
    return torch.cat((rotation, translation), dim=-1)


def test_relative_rotation_error_known_value():
    rotation = axis_angle_to_mat(torch.tensor([0.3, -0.2, 0.5], dtype=DT))
    tilt = axis_angle_to_mat(torch.tensor([0.0, math.radians(10.0), 0.0], dtype=DT))
    torch.testing.assert_close(relative_rotation_error(rotation @ tilt, rotation), torch.tensor(10.0, dtype=DT))
    torch.testing.assert_close(relative_rotation_error(rotation, rotation), torch.tensor(0.0, dtype=DT))


def test_translation_direction_error_known_values():
    x = torch.tensor([1.0, 0.0, 0.0], dtype=DT)
    cases = torch.stack((x * 5, torch.tensor([0.0, 2.0, 0.0], dtype=DT), -x, torch.tensor([1.0, 1.0, 0.0], dtype=DT)))
    expected = torch.tensor([0.0, 90.0, 180.0, 45.0], dtype=DT)
    torch.testing.assert_close(translation_direction_error(cases, x), expected)
    folded = torch.tensor([0.0, 90.0, 0.0, 45.0], dtype=DT)
    torch.testing.assert_close(translation_direction_error(cases, x, sign_ambiguous=True), folded)
    torch.testing.assert_close(translation_direction_error(torch.zeros(3, dtype=DT), x), torch.tensor(90.0, dtype=DT))


def test_pair_indices_order():
    first, second = pair_indices(4)
    assert first.tolist() == [0, 0, 0, 1, 1, 2]
    assert second.tolist() == [1, 2, 3, 2, 3, 3]
    assert pair_indices(1)[0].numel() == 0


def test_relative_poses_are_camera_j_from_camera_i():
    extrinsics = _cameras(3, seed=1)
    relative = relative_poses(extrinsics)
    assert relative.shape == (3, 3, 4)
    homogeneous = to_homogeneous(extrinsics)
    for m, (i, j) in enumerate([(0, 1), (0, 2), (1, 2)]):
        expected = homogeneous[j] @ to_homogeneous(se3_inverse(extrinsics[i]))
        torch.testing.assert_close(relative[m], expected[:3])


def test_identical_cameras_give_zero_errors():
    extrinsics = _cameras(5, seed=2)
    rotation_error, translation_error = pairwise_pose_errors(extrinsics, extrinsics)
    assert rotation_error.shape == translation_error.shape == (10,)
    torch.testing.assert_close(rotation_error, torch.zeros(10, dtype=DT), atol=1e-6, rtol=0)
    torch.testing.assert_close(translation_error, torch.zeros(10, dtype=DT), atol=1e-6, rtol=0)


def test_errors_do_not_depend_on_the_world_frame_or_scale():
    extrinsics = _cameras(4, seed=3)
    # New world X' = s Q X + c: camera-from-new-world is [R Q^T | s t - R Q^T c] up to the scale s of t.
    q = axis_angle_to_mat(torch.tensor([0.4, 1.0, -0.3], dtype=DT))
    c = torch.tensor([1.0, -2.0, 0.5], dtype=DT)
    scale = 3.0
    rotation = extrinsics[:, :, :3] @ q.T
    translation = scale * extrinsics[:, :, 3] - (rotation @ c)
    moved = torch.cat((rotation, translation[..., None]), dim=-1)
    # Check the construction: a world point maps to the same camera point (times s).
    point = torch.tensor([0.3, 0.2, 1.0], dtype=DT)
    moved_point = apply_similarity(point[None], torch.tensor(scale, dtype=DT), q, c)[0]
    torch.testing.assert_close(
        moved[0, :, :3] @ moved_point + moved[0, :, 3], scale * (extrinsics[0, :, :3] @ point + extrinsics[0, :, 3])
    )
    rotation_error, translation_error = pairwise_pose_errors(moved, extrinsics)
    torch.testing.assert_close(rotation_error, torch.zeros(6, dtype=DT), atol=1e-6, rtol=0)
    torch.testing.assert_close(translation_error, torch.zeros(6, dtype=DT), atol=1e-6, rtol=0)


def test_rotating_one_camera_about_its_centre_gives_known_pair_errors():
    gt = _cameras(3, seed=4)
    tilt = axis_angle_to_mat(torch.tensor([math.radians(12.0), 0.0, 0.0], dtype=DT))
    centre = -(gt[0, :, :3].T @ gt[0, :, 3])
    pred = gt.clone()
    pred[0, :, :3] = tilt @ gt[0, :, :3]
    pred[0, :, 3] = -(pred[0, :, :3] @ centre)
    rotation_error, translation_error = pairwise_pose_errors(pred, gt)
    # Pairs (0,1), (0,2) see the 12° tilt; the translation of camera j seen from camera i does not change.
    torch.testing.assert_close(rotation_error, torch.tensor([12.0, 12.0, 0.0], dtype=DT), atol=1e-6, rtol=0)
    torch.testing.assert_close(translation_error, torch.zeros(3, dtype=DT), atol=1e-6, rtol=0)


def test_negated_translations_flip_directions_unless_sign_ambiguous():
    gt = _cameras(3, seed=5)
    pred = torch.cat((gt[..., :3], -gt[..., 3:]), dim=-1)
    _, translation_error = pairwise_pose_errors(pred, gt)
    torch.testing.assert_close(translation_error, torch.full((3,), 180.0, dtype=DT))
    _, folded = pairwise_pose_errors(pred, gt, sign_ambiguous=True)
    torch.testing.assert_close(folded, torch.zeros(3, dtype=DT), atol=1e-6, rtol=0)


def test_batched_and_homogeneous_inputs():
    extrinsics = torch.stack((_cameras(4, seed=6), _cameras(4, seed=7)))
    other = torch.stack((_cameras(4, seed=8), _cameras(4, seed=9)))
    rotation_error, translation_error = pairwise_pose_errors(extrinsics, other)
    assert rotation_error.shape == (2, 6)
    single = pairwise_pose_errors(extrinsics[1], other[1])
    torch.testing.assert_close(rotation_error[1], single[0])
    torch.testing.assert_close(translation_error[1], single[1])
    homogeneous = pairwise_pose_errors(to_homogeneous(extrinsics), to_homogeneous(other))
    torch.testing.assert_close(homogeneous[0], rotation_error)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match=r"\[\.\.\., S, 3, 4\]"):
        pairwise_pose_errors(torch.zeros(3, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="same"):
        pairwise_pose_errors(torch.zeros(3, 3, 4), torch.zeros(4, 3, 4))
    with pytest.raises(ValueError, match="translation_gt"):
        translation_direction_error(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="num_frames"):
        pair_indices(-1)


def test_gradcheck():
    generator = torch.Generator().manual_seed(10)
    a = torch.randn(5, 3, dtype=DT, generator=generator, requires_grad=True)
    b = torch.randn(5, 3, dtype=DT, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(translation_direction_error, (a, b))
    pred = _cameras(3, seed=11).requires_grad_()
    gt = _cameras(3, seed=12)
    assert torch.autograd.gradcheck(lambda p: pairwise_pose_errors(p, gt), (pred,))
