import pytest
import torch

from vggt_py.geometry import (
    axis_angle_to_mat,
    essential_from_cameras,
    fundamental_from_cameras,
    project_points,
    sampson_error,
    skew_symmetric,
)

DT = torch.float64


def _two_views() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two cameras looking at a cloud near the origin, and that cloud ([N, 3])."""
    k1 = torch.tensor([[500.0, 0.0, 320.0], [0.0, 520.0, 240.0], [0.0, 0.0, 1.0]], dtype=DT)
    k2 = torch.tensor([[450.0, 0.0, 300.0], [0.0, 450.0, 250.0], [0.0, 0.0, 1.0]], dtype=DT)
    r1 = axis_angle_to_mat(torch.tensor([0.05, -0.1, 0.02], dtype=DT))
    r2 = axis_angle_to_mat(torch.tensor([-0.1, 0.35, 0.05], dtype=DT))
    e1 = torch.cat((r1, torch.tensor([[0.1], [-0.2], [5.0]], dtype=DT)), dim=-1)
    e2 = torch.cat((r2, torch.tensor([[-1.5], [0.1], [5.5]], dtype=DT)), dim=-1)
    points = torch.randn(12, 3, dtype=DT, generator=torch.Generator().manual_seed(0))
    return k1, e1, k2, e2, points


def _gold_standard_error(k1, e1, k2, e2, x1, x2, start) -> torch.Tensor:
    """sqrt(min_X |π1(X) - x1|^2 + |π2(X) - x2|^2) per point, by Gauss-Newton from ``start``."""
    errors = []
    for n in range(x1.shape[0]):
        point = start[n].clone()

        def residual(p: torch.Tensor, n: int = n) -> torch.Tensor:
            uv1, _ = project_points(p[None], k1, e1)
            uv2, _ = project_points(p[None], k2, e2)
            return torch.cat((uv1[0] - x1[n], uv2[0] - x2[n]))

        for _ in range(20):
            jacobian = torch.autograd.functional.jacobian(residual, point)  # [4, 3]
            step = torch.linalg.lstsq(jacobian, -residual(point)[:, None]).solution[:, 0]
            point = point + step
        errors.append(residual(point).norm())
    return torch.stack(errors)


def test_skew_symmetric_is_the_cross_product():
    generator = torch.Generator().manual_seed(1)
    v = torch.randn(4, 3, dtype=DT, generator=generator)
    w = torch.randn(4, 3, dtype=DT, generator=generator)
    torch.testing.assert_close((skew_symmetric(v) @ w[..., None])[..., 0], torch.linalg.cross(v, w))


def test_constraints_hold_on_exact_correspondences():
    k1, e1, k2, e2, points = _two_views()
    x1, _ = project_points(points, k1, e1)
    x2, _ = project_points(points, k2, e2)
    fundamental = fundamental_from_cameras(k1, e1, k2, e2)
    h1 = torch.cat((x1, torch.ones(12, 1, dtype=DT)), dim=-1)
    h2 = torch.cat((x2, torch.ones(12, 1, dtype=DT)), dim=-1)
    scale = fundamental.norm() * h1.norm(dim=-1) * h2.norm(dim=-1)
    assert (((h2 @ fundamental) * h1).sum(-1).abs() / scale).max() < 1e-12
    essential = essential_from_cameras(e1, e2)
    y1 = h1 @ torch.linalg.inv(k1).T
    y2 = h2 @ torch.linalg.inv(k2).T
    assert ((y2 @ essential) * y1).sum(-1).abs().max() < 1e-12
    # An essential matrix has two equal singular values and one zero.
    singular = torch.linalg.svdvals(essential)
    torch.testing.assert_close(singular[0], singular[1])
    assert singular[2] < 1e-12
    assert sampson_error(fundamental, x1, x2).max() < 1e-9


def test_sampson_matches_brute_force_reprojection_error():
    k1, e1, k2, e2, points = _two_views()
    x1, _ = project_points(points, k1, e1)
    x2, _ = project_points(points, k2, e2)
    fundamental = fundamental_from_cameras(k1, e1, k2, e2)
    generator = torch.Generator().manual_seed(2)
    noisy1 = x1 + 0.5 * torch.randn(x1.shape, dtype=DT, generator=generator)
    noisy2 = x2 + 0.5 * torch.randn(x2.shape, dtype=DT, generator=generator)
    sampson = sampson_error(fundamental, noisy1, noisy2)
    gold = _gold_standard_error(k1, e1, k2, e2, noisy1, noisy2, points)
    assert sampson.min() > 1e-3  # the perturbation is visible
    torch.testing.assert_close(sampson, gold, rtol=1e-3, atol=1e-6)
    # Exact data: the brute force finds ~0 as well.
    assert _gold_standard_error(k1, e1, k2, e2, x1[:2], x2[:2], points[:2]).max() < 1e-8


def test_sampson_first_order_slope_along_the_epipolar_normal():
    k1, e1, k2, e2, points = _two_views()
    x1, _ = project_points(points, k1, e1)
    x2, _ = project_points(points, k2, e2)
    fundamental = fundamental_from_cameras(k1, e1, k2, e2)
    line2 = torch.cat((x1, torch.ones(12, 1, dtype=DT)), dim=-1) @ fundamental.T  # F x1
    line1 = torch.cat((x2, torch.ones(12, 1, dtype=DT)), dim=-1) @ fundamental  # F^T x2
    normal = line2[:, :2] / line2[:, :2].norm(dim=-1, keepdim=True)
    slope = line2[:, :2].norm(dim=-1) / (line2[:, :2].square().sum(-1) + line1[:, :2].square().sum(-1)).sqrt()
    for step in (1e-2, 1e-4):
        measured = sampson_error(fundamental, x1, x2 + step * normal) / step
        torch.testing.assert_close(measured, slope, rtol=10 * step, atol=0)


def test_scale_invariance_and_batching():
    k1, e1, k2, e2, points = _two_views()
    x1, _ = project_points(points, k1, e1)
    x2, _ = project_points(points, k2, e2)
    x2 = x2 + 1.0
    fundamental = fundamental_from_cameras(k1, e1, k2, e2)
    single = sampson_error(fundamental, x1, x2)
    torch.testing.assert_close(sampson_error(-7.0 * fundamental, x1, x2), single)
    batched = sampson_error(torch.stack((fundamental, 2 * fundamental)), x1.expand(2, -1, -1), x2.expand(2, -1, -1))
    assert batched.shape == (2, 12)
    torch.testing.assert_close(batched, single.expand(2, -1))


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="same number of points"):
        sampson_error(torch.eye(3), torch.zeros(4, 2), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="points1"):
        sampson_error(torch.eye(3), torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="extrinsics2"):
        essential_from_cameras(torch.zeros(3, 4), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="intrinsics1"):
        fundamental_from_cameras(torch.zeros(2, 2), torch.zeros(3, 4), torch.eye(3), torch.zeros(3, 4))


def test_gradcheck():
    # Well-conditioned O(1) values: with pixel-scale F the finite differences are meaningless.
    generator = torch.Generator().manual_seed(3)
    fundamental = torch.randn(3, 3, dtype=DT, generator=generator, requires_grad=True)
    x1 = torch.randn(5, 2, dtype=DT, generator=generator, requires_grad=True)
    x2 = torch.randn(5, 2, dtype=DT, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(sampson_error, (fundamental, x1, x2))
    k1, e1, k2, e2, _ = _two_views()
    k1, k2 = k1 / 500.0, k2 / 500.0  # same cameras in units of 500 px
    k1[2, 2] = k2[2, 2] = 1.0
    inputs = tuple(t.clone().requires_grad_() for t in (k1, e1, k2, e2))
    assert torch.autograd.gradcheck(fundamental_from_cameras, inputs)
