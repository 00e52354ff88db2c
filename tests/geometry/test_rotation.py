import math

import pytest
import torch

from vggt_py.geometry import axis_angle_to_mat, mat_to_quat, quat_to_mat, rotation_angle

S45 = math.sqrt(0.5)


def _random_rotations(n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return quat_to_mat(torch.randn(n, 4, generator=generator, dtype=torch.float64))


def _canonical(q: torch.Tensor) -> torch.Tensor:
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., 3:] < 0, -q, q)


def test_quat_to_mat_plus_90_about_z_maps_x_to_y():
    rotation = quat_to_mat(torch.tensor([0.0, 0.0, S45, S45], dtype=torch.float64))
    expected = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(rotation, expected)
    x_hat, y_hat = torch.eye(3, dtype=torch.float64)[:2]
    torch.testing.assert_close(rotation @ x_hat, y_hat)


def test_quat_to_mat_accepts_non_unit_quaternions():
    q = torch.tensor([0.1, -0.4, 0.3, 0.8], dtype=torch.float64)
    torch.testing.assert_close(quat_to_mat(3.7 * q), quat_to_mat(q))
    torch.testing.assert_close(quat_to_mat(-q), quat_to_mat(q))


def test_quat_to_mat_gives_proper_rotations_with_arbitrary_leading_dims():
    q = torch.randn(2, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    rotation = quat_to_mat(q)
    assert rotation.shape == (2, 5, 3, 3)
    torch.testing.assert_close(
        rotation @ rotation.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(2, 5, 3, 3)
    )
    torch.testing.assert_close(torch.linalg.det(rotation), torch.ones(2, 5, dtype=torch.float64))


def test_quat_to_mat_matches_scipy_scalar_last_convention():
    transform = pytest.importorskip("scipy.spatial.transform")
    q = torch.randn(20, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    expected = transform.Rotation.from_quat(q.numpy()).as_matrix()
    torch.testing.assert_close(quat_to_mat(q), torch.from_numpy(expected))


@pytest.mark.parametrize(
    ("rotation", "expected"),
    [
        ([[1, 0, 0], [0, 1, 0], [0, 0, 1]], [0, 0, 0, 1]),
        ([[1, 0, 0], [0, 0, -1], [0, 1, 0]], [S45, 0, 0, S45]),  # +90° about x
        ([[0, 1, 0], [-1, 0, 0], [0, 0, 1]], [0, 0, -S45, S45]),  # -90° about z: w >= 0 kept
        ([[1, 0, 0], [0, -1, 0], [0, 0, -1]], [1, 0, 0, 0]),  # 180° about x: i-candidate
        ([[-1, 0, 0], [0, 1, 0], [0, 0, -1]], [0, 1, 0, 0]),  # 180° about y: j-candidate
        ([[-1, 0, 0], [0, -1, 0], [0, 0, 1]], [0, 0, 1, 0]),  # 180° about z: k-candidate
    ],
)
def test_mat_to_quat_known_values(rotation, expected):
    q = mat_to_quat(torch.tensor(rotation, dtype=torch.float64))
    torch.testing.assert_close(q, torch.tensor(expected, dtype=torch.float64))


def test_mat_to_quat_round_trip_up_to_sign_and_w_non_negative():
    q = torch.randn(500, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    recovered = mat_to_quat(quat_to_mat(q))
    assert (recovered[:, 3] >= 0).all()
    torch.testing.assert_close(recovered, _canonical(q))
    torch.testing.assert_close(quat_to_mat(recovered), quat_to_mat(q))


def test_mat_to_quat_near_180_degrees_uses_the_stable_candidate():
    axis = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    axis = axis / axis.norm()
    rotation = axis_angle_to_mat(axis * (math.pi - 1e-9))
    recovered = mat_to_quat(rotation)
    torch.testing.assert_close(quat_to_mat(recovered), rotation, atol=1e-12, rtol=0)
    torch.testing.assert_close(recovered.norm(), torch.tensor(1.0, dtype=torch.float64))


def test_mat_to_quat_float32_matches_float64():
    rotations = _random_rotations(50, seed=4)
    torch.testing.assert_close(mat_to_quat(rotations.float()).double(), mat_to_quat(rotations), atol=1e-6, rtol=0)


def test_axis_angle_to_mat_known_values_and_zero():
    rotation = axis_angle_to_mat(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64))
    torch.testing.assert_close(
        rotation @ torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
        torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64),
    )
    torch.testing.assert_close(
        axis_angle_to_mat(torch.zeros(3, dtype=torch.float64)), torch.eye(3, dtype=torch.float64)
    )


@pytest.mark.parametrize("degrees", [0.0, 1e-4, 10.0, 90.0, 179.0, 180.0])
def test_rotation_angle_known_values(degrees):
    axis = torch.tensor([1.0, 2.0, -2.0], dtype=torch.float64) / 3.0
    rotation = axis_angle_to_mat(axis * math.radians(degrees))
    torch.testing.assert_close(rotation_angle(rotation), torch.tensor(degrees, dtype=torch.float64), atol=1e-9, rtol=0)


def test_rotation_angle_matches_quaternion_angle():
    q = _canonical(torch.randn(100, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5)))
    expected = torch.rad2deg(2 * torch.acos(q[:, 3]))
    torch.testing.assert_close(rotation_angle(quat_to_mat(q)), expected)


@pytest.mark.parametrize(
    ("func", "shape"),
    [
        (quat_to_mat, (3,)),
        (quat_to_mat, (2, 5)),
        (mat_to_quat, (3, 4)),
        (mat_to_quat, (3,)),
        (axis_angle_to_mat, (4,)),
        (rotation_angle, (2, 3)),
    ],
)
def test_bad_shapes_raise_value_error(func, shape):
    with pytest.raises(ValueError, match="expected shape"):
        func(torch.zeros(shape))


def test_non_float_and_non_tensor_inputs_are_rejected():
    with pytest.raises(ValueError, match="floating-point"):
        quat_to_mat(torch.zeros(4, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        mat_to_quat([[1, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_gradcheck_quat_to_mat_and_axis_angle():
    q = torch.randn(3, 4, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(6))
    assert torch.autograd.gradcheck(quat_to_mat, (q,))
    v = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    v = torch.cat((v, torch.zeros(1, 3, dtype=torch.float64))).requires_grad_()
    assert torch.autograd.gradcheck(axis_angle_to_mat, (v,))


def test_gradcheck_mat_to_quat_and_rotation_angle():
    rotations = _random_rotations(4, seed=8).requires_grad_()
    assert torch.autograd.gradcheck(mat_to_quat, (rotations,))
    assert torch.autograd.gradcheck(rotation_angle, (rotations,))
