import pytest
import torch

from vggt_py.geometry import project_points, quat_to_mat, se3_inverse, to_homogeneous, unproject_depth

DT = torch.float64


def _random_extrinsics(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    rotation = quat_to_mat(torch.randn((*shape, 4), generator=generator, dtype=DT))
    translation = torch.randn((*shape, 3, 1), generator=generator, dtype=DT)
    return torch.cat((rotation, translation), dim=-1)


def _intrinsics(f_x: float, f_y: float, c_x: float, c_y: float, skew: float = 0.0) -> torch.Tensor:
    return torch.tensor([[f_x, skew, c_x], [0.0, f_y, c_y], [0.0, 0.0, 1.0]], dtype=DT)


def test_to_homogeneous_appends_last_row_and_keeps_4x4():
    extrinsics = _random_extrinsics((2, 3))
    homogeneous = to_homogeneous(extrinsics)
    assert homogeneous.shape == (2, 3, 4, 4)
    assert torch.equal(homogeneous[..., :3, :], extrinsics)
    assert torch.equal(homogeneous[..., 3, :], torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=DT).expand(2, 3, 4))
    assert to_homogeneous(homogeneous) is homogeneous


@pytest.mark.parametrize("rows", [3, 4])
def test_se3_inverse_composes_to_identity(rows):
    extrinsics = _random_extrinsics((5,), seed=1)
    transforms = to_homogeneous(extrinsics) if rows == 4 else extrinsics
    inverse = se3_inverse(transforms)
    assert inverse.shape == transforms.shape
    eye = torch.eye(4, dtype=DT).expand(5, 4, 4)
    torch.testing.assert_close(to_homogeneous(inverse) @ to_homogeneous(transforms), eye)
    torch.testing.assert_close(to_homogeneous(transforms) @ to_homogeneous(inverse), eye)
    torch.testing.assert_close(
        inverse[..., :3, 3], -(extrinsics[..., :3].transpose(-1, -2) @ extrinsics[..., 3:])[..., 0]
    )


def test_unproject_known_pixels_in_camera_frame():
    depth = torch.full((4, 6), 2.0, dtype=DT)
    intrinsics = _intrinsics(10.0, 20.0, 3.0, 2.0)
    points = unproject_depth(depth, intrinsics)
    assert points.shape == (4, 6, 3)
    # pixel (u=0, v=0): ((0-3)*2/10, (0-2)*2/20, 2); pixel (u=5, v=3): ((5-3)*2/10, (3-2)*2/20, 2)
    torch.testing.assert_close(points[0, 0], torch.tensor([-0.6, -0.2, 2.0], dtype=DT))
    torch.testing.assert_close(points[3, 5], torch.tensor([0.4, 0.1, 2.0], dtype=DT))


def test_unproject_float32_camera_frame_matches_the_reference_formula_bit_for_bit():
    depth = 0.5 + torch.rand(2, 7, 9, generator=torch.Generator().manual_seed(10))
    intrinsics = torch.tensor([[7.3, 0.0, 4.5], [0.0, 6.1, 3.5], [0.0, 0.0, 1.0]]).expand(2, 3, 3)
    points = unproject_depth(depth, intrinsics)
    assert points.dtype == torch.float32
    v, u = torch.meshgrid(torch.arange(7.0), torch.arange(9.0), indexing="ij")
    assert torch.equal(points[..., 0], (u - 4.5) * depth / torch.tensor(7.3))
    assert torch.equal(points[..., 1], (v - 3.5) * depth / torch.tensor(6.1))
    assert torch.equal(points[..., 2], depth)


def test_unproject_world_frame_matches_explicit_formula():
    generator = torch.Generator().manual_seed(2)
    depth = 1.0 + torch.rand(2, 5, 7, generator=generator, dtype=DT)
    intrinsics = torch.stack((_intrinsics(8.0, 9.0, 3.5, 2.5), _intrinsics(6.0, 7.0, 3.0, 2.0)))
    extrinsics = _random_extrinsics((2,), seed=3)
    points = unproject_depth(depth, intrinsics, extrinsics)
    for s in range(2):
        rotation, translation = extrinsics[s, :, :3], extrinsics[s, :, 3]
        for v, u in [(0, 0), (4, 6), (2, 3)]:
            k = intrinsics[s]
            d = depth[s, v, u]
            camera = torch.stack(((u - k[0, 2]) * d / k[0, 0], (v - k[1, 2]) * d / k[1, 1], d))
            torch.testing.assert_close(points[s, v, u], rotation.T @ camera - rotation.T @ translation)


def test_unproject_accepts_trailing_channel_and_homogeneous_extrinsics():
    depth = 1.0 + torch.rand(3, 4, 5, dtype=DT, generator=torch.Generator().manual_seed(4))
    intrinsics = _intrinsics(5.0, 5.0, 2.5, 2.0).expand(3, 3, 3)
    extrinsics = _random_extrinsics((3,), seed=5)
    expected = unproject_depth(depth, intrinsics, extrinsics)
    torch.testing.assert_close(unproject_depth(depth[..., None], intrinsics, extrinsics), expected)
    torch.testing.assert_close(unproject_depth(depth, intrinsics, to_homogeneous(extrinsics)), expected)


@pytest.mark.parametrize("skew", [0.0, 0.7])
def test_unproject_then_project_returns_the_pixel_grid(skew):
    height, width = 5, 7
    depth = 1.0 + torch.rand(2, height, width, dtype=DT, generator=torch.Generator().manual_seed(6))
    intrinsics = _intrinsics(8.0, 9.0, width / 2, height / 2, skew).expand(2, 3, 3)
    extrinsics = _random_extrinsics((2,), seed=7)
    points = unproject_depth(depth, intrinsics, extrinsics)
    uv, z = project_points(points.reshape(2, -1, 3), intrinsics, extrinsics)
    v, u = torch.meshgrid(torch.arange(height, dtype=DT), torch.arange(width, dtype=DT), indexing="ij")
    grid = torch.stack((u, v), dim=-1).reshape(1, -1, 2).expand(2, -1, -1)
    torch.testing.assert_close(uv, grid)
    torch.testing.assert_close(z, depth.reshape(2, -1))


def test_project_points_known_value_and_nan_to_zero():
    intrinsics = _intrinsics(100.0, 200.0, 50.0, 40.0)
    points = torch.tensor([[1.0, -2.0, 4.0], [0.0, 0.0, 0.0]], dtype=DT)
    uv, z = project_points(points, intrinsics)
    torch.testing.assert_close(uv[0], torch.tensor([75.0, -60.0], dtype=DT))
    assert torch.equal(uv[1], torch.zeros(2, dtype=DT))
    torch.testing.assert_close(z, torch.tensor([4.0, 0.0], dtype=DT))


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match=r"transforms: expected shape \[\.\.\., 3, 4\] or \[\.\.\., 4, 4\]"):
        se3_inverse(torch.zeros(2, 3, 3))
    with pytest.raises(ValueError, match="depth"):
        unproject_depth(torch.zeros(2, 4, 5), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="intrinsics"):
        unproject_depth(torch.zeros(4, 5), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="points"):
        project_points(torch.zeros(5, 2), torch.eye(3))
    with pytest.raises(ValueError, match="leading dims"):
        project_points(torch.zeros(2, 5, 3), torch.eye(3).expand(2, 3, 3), torch.zeros(3, 4))


def test_gradcheck_unproject_and_project():
    generator = torch.Generator().manual_seed(8)
    depth = (1.0 + torch.rand(2, 3, 4, generator=generator, dtype=DT)).requires_grad_()
    intrinsics = _intrinsics(5.0, 6.0, 2.0, 1.5, 0.3).expand(2, 3, 3).clone().requires_grad_()
    extrinsics = _random_extrinsics((2,), seed=9).requires_grad_()
    assert torch.autograd.gradcheck(unproject_depth, (depth, intrinsics, extrinsics))
    points = torch.randn(2, 6, 3, generator=generator, dtype=DT)
    points = (points + torch.tensor([0.0, 0.0, 8.0], dtype=DT)).requires_grad_()
    assert torch.autograd.gradcheck(project_points, (points, intrinsics, extrinsics))
    assert torch.autograd.gradcheck(se3_inverse, (extrinsics,))
