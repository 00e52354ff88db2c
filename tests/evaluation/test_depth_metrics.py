import numpy as np
import pytest
import torch

from vggt_py.evaluation import depth_metrics, masked_median


def _depth(shape=(3, 8, 10), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(1.0, 5.0, size=shape)


@pytest.mark.parametrize("alignment", ["frame", "scene"])
def test_depth_scaled_by_a_constant_is_perfect_after_alignment(alignment):
    gt = _depth()
    metrics = depth_metrics(0.37 * gt, gt, alignment=alignment)
    assert metrics["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["delta<1.25"] == 1.0
    assert metrics["valid_pixels"] == gt.size


def test_per_frame_scales_need_frame_alignment():
    gt = np.full((3, 8, 10), 2.0)
    pred = gt * np.array([0.5, 1.0, 2.0])[:, None, None]
    assert depth_metrics(pred, gt, alignment="frame")["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    # The scene medians are both 2 (scale 1), leaving frames 0 and 2 off by a factor 2:
    # AbsRel = (0.5 + 0 + 1) / 3 and only frame 1 is within 1.25.
    scene = depth_metrics(pred, gt, alignment="scene")
    assert scene["abs_rel"] == pytest.approx(0.5)
    assert scene["delta<1.25"] == pytest.approx(1 / 3)


def test_known_values_without_alignment():
    gt = np.full((1, 2, 2), 2.0)
    pred = np.array([[[2.2, 2.2], [4.0, 2.0]]])  # errors 0.1, 0.1, 1.0, 0
    metrics = depth_metrics(pred, gt, alignment="none")
    assert metrics["abs_rel"] == pytest.approx((0.1 + 0.1 + 1.0 + 0.0) / 4)
    assert metrics["delta<1.25"] == pytest.approx(3 / 4)
    negative = depth_metrics(-gt, gt, alignment="none")
    assert negative["delta<1.25"] == 0.0


def test_valid_mask_and_invalid_ground_truth_are_excluded():
    gt = _depth(seed=1)
    pred = 2.0 * gt
    mask = np.ones(gt.shape, dtype=bool)
    mask[:, :2] = False
    pred[:, :2] = 1e6  # garbage outside the mask
    gt_with_holes = gt.copy()
    gt_with_holes[:, 5, 5] = 0.0  # no ground truth there
    pred[:, 5, 5] = 1e6
    metrics = depth_metrics(pred[..., None], torch.from_numpy(gt_with_holes), mask)
    assert metrics["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["valid_pixels"] == mask.sum() - 3


def test_masked_median_even_and_odd_counts():
    values = torch.tensor([5.0, 1.0, 3.0, 100.0], dtype=torch.float64)
    assert masked_median(values, torch.tensor([True, True, True, False])).item() == 3.0
    assert masked_median(values, torch.ones(4, dtype=torch.bool)).item() == 4.0
    assert masked_median(values, torch.zeros(4, dtype=torch.bool)).isnan()


def test_bad_inputs_raise_value_error():
    gt = _depth()
    with pytest.raises(ValueError, match="same shape"):
        depth_metrics(gt[:2], gt)
    with pytest.raises(ValueError, match=r"\[S, H, W\]"):
        depth_metrics(gt[0], gt[0])
    with pytest.raises(ValueError, match="no valid pixel"):
        depth_metrics(gt, np.zeros_like(gt))
    with pytest.raises(ValueError, match="alignment"):
        depth_metrics(gt, gt, alignment="median")
    with pytest.raises(ValueError, match="valid_mask"):
        depth_metrics(gt, gt, np.ones((3, 8), dtype=bool))
