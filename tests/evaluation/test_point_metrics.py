import numpy as np
import pytest
import torch

import vggt_py.evaluation.points as points_module
from vggt_py.evaluation import nearest_neighbor_distances, point_cloud_metrics
from vggt_py.geometry import apply_similarity, axis_angle_to_mat

DT = torch.float64


def _cloud(shape=(2, 6, 8), seed: int = 0) -> torch.Tensor:
    return torch.randn((*shape, 3), dtype=DT, generator=torch.Generator().manual_seed(seed))


def _brute_force(query: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    return (query[:, None] - reference[None]).norm(dim=-1).min(dim=1).values


@pytest.mark.parametrize("backend", ["torch", "scipy", "auto"])
def test_nearest_neighbor_backends_match_brute_force(backend, monkeypatch):
    if backend == "scipy":
        pytest.importorskip("scipy")
    monkeypatch.setattr(points_module, "_BLOCK_ELEMENTS", 64)  # force many blocks in the torch backend
    generator = torch.Generator().manual_seed(1)
    query = torch.randn(50, 3, dtype=DT, generator=generator)
    reference = torch.randn(40, 3, dtype=DT, generator=generator)
    torch.testing.assert_close(nearest_neighbor_distances(query, reference, backend), _brute_force(query, reference))


def test_torch_backend_without_scipy(monkeypatch):
    monkeypatch.setattr(points_module, "_has_scipy", lambda: False)
    query = torch.zeros(1, 3, dtype=DT)
    reference = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 6.0]], dtype=DT)
    assert nearest_neighbor_distances(query, reference, "auto").item() == pytest.approx(5.0)
    cloud = 100.0 + _cloud(seed=5).reshape(-1, 3)  # far from the origin: no cancellation error
    assert torch.equal(nearest_neighbor_distances(cloud, cloud.flip(0), "auto"), torch.zeros(96, dtype=DT))


def test_similarity_transformed_cloud_has_zero_chamfer_after_alignment():
    gt = _cloud()
    rotation = axis_angle_to_mat(torch.tensor([0.3, -1.2, 0.7], dtype=DT))
    pred = apply_similarity(
        gt.reshape(-1, 3), torch.tensor(0.25, dtype=DT), rotation, torch.tensor([4.0, -1.0, 2.0], dtype=DT)
    )
    pred = pred.reshape(gt.shape)
    metrics = point_cloud_metrics(pred, gt)
    assert metrics["chamfer"] < 1e-9 and metrics["accuracy"] < 1e-9 and metrics["completeness"] < 1e-9
    assert metrics["valid_points"] == 96
    assert point_cloud_metrics(pred, gt, alignment="none")["chamfer"] > 0.1


def test_known_offset_without_alignment():
    gt = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    pred = gt + np.array([0.0, 0.0, 0.3])
    metrics = point_cloud_metrics(pred, gt, alignment="none")
    assert metrics["accuracy"] == pytest.approx(0.3)
    assert metrics["completeness"] == pytest.approx(0.3)
    assert metrics["chamfer"] == pytest.approx(0.3)
    # An extra far-away predicted point hurts accuracy only.
    pred_extra = np.concatenate((pred, [[10.0, 0.0, 0.3]]))
    gt_extra = np.concatenate((gt, [[np.nan, 0.0, 0.0]]))  # its ground truth is invalid
    metrics = point_cloud_metrics(pred_extra, gt_extra, alignment="none")
    assert metrics["valid_points"] == 4 and metrics["accuracy"] == pytest.approx(0.3)


def test_valid_mask_excludes_points_from_alignment_and_distances():
    gt = _cloud(seed=2)
    pred = gt.clone()
    mask = torch.ones(gt.shape[:-1], dtype=torch.bool)
    mask[0, 0] = False
    pred[0, 0] = 1e3
    metrics = point_cloud_metrics(pred.numpy(), gt.numpy(), mask.numpy())
    assert metrics["chamfer"] < 1e-9 and metrics["valid_points"] == 96 - 8


def test_subsampling_is_seeded_and_bounded():
    gt = _cloud(seed=3)
    pred = gt + 0.05 * _cloud(seed=4)
    first = point_cloud_metrics(pred, gt, max_points=20, seed=7)
    assert first == point_cloud_metrics(pred, gt, max_points=20, seed=7)
    assert first != point_cloud_metrics(pred, gt, max_points=20, seed=8)
    assert first["valid_points"] == 96


def test_bad_inputs_raise_value_error():
    gt = _cloud()
    with pytest.raises(ValueError, match="same shape"):
        point_cloud_metrics(gt[:1], gt)
    with pytest.raises(ValueError, match="at least 3 valid points"):
        point_cloud_metrics(gt, gt, torch.zeros(gt.shape[:-1], dtype=torch.bool))
    with pytest.raises(ValueError, match="max_points"):
        point_cloud_metrics(gt, gt, max_points=0)
    with pytest.raises(ValueError, match="alignment"):
        point_cloud_metrics(gt, gt, alignment="affine")
    with pytest.raises(ValueError, match="backend"):
        nearest_neighbor_distances(gt[0, 0], gt[0, 0], "faiss")
    with pytest.raises(ValueError, match="reference"):
        nearest_neighbor_distances(gt[0, 0], gt[0, 0, :0])
