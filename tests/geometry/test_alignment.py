import math

import pytest
import torch

from vggt_py.geometry import apply_similarity, axis_angle_to_mat, umeyama

DT = torch.float64


def _similarity(seed: int, batch: tuple[int, ...] = ()) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    scale = 0.5 + torch.rand(batch, generator=generator, dtype=DT) * 2
    rotation = axis_angle_to_mat(torch.randn((*batch, 3), generator=generator, dtype=DT))
    translation = torch.randn((*batch, 3), generator=generator, dtype=DT) * 3
    return scale, rotation, translation


@pytest.mark.parametrize("batch", [(), (4,), (2, 3)])
def test_recovers_known_similarity_noise_free(batch):
    scale, rotation, translation = _similarity(0, batch)
    src = torch.randn((*batch, 20, 3), dtype=DT, generator=torch.Generator().manual_seed(1))
    dst = apply_similarity(src, scale, rotation, translation)
    s, r, t = umeyama(src, dst)
    assert s.shape == batch and r.shape == (*batch, 3, 3) and t.shape == (*batch, 3)
    torch.testing.assert_close(s, scale)
    torch.testing.assert_close(r, rotation)
    torch.testing.assert_close(t, translation)


def test_zero_weights_ignore_outliers():
    scale, rotation, translation = _similarity(2)
    src = torch.randn(30, 3, dtype=DT, generator=torch.Generator().manual_seed(3))
    dst = apply_similarity(src, scale, rotation, translation)
    dst[:5] += 10.0  # outliers
    weights = torch.ones(30, dtype=DT)
    weights[:5] = 0
    s, r, t = umeyama(src, dst, weights)
    torch.testing.assert_close(s, scale)
    torch.testing.assert_close(r, rotation)
    torch.testing.assert_close(t, translation)
    s_unweighted, _, _ = umeyama(src, dst)
    assert not torch.allclose(s_unweighted, scale, atol=1e-3)


def test_integer_weights_equal_duplicated_points():
    generator = torch.Generator().manual_seed(4)
    src = torch.randn(10, 3, dtype=DT, generator=generator)
    dst = torch.randn(10, 3, dtype=DT, generator=generator)  # not a similarity: a genuine fit
    weights = torch.tensor([1, 2, 1, 3, 1, 1, 2, 1, 1, 4], dtype=DT)
    repeats = weights.long()
    expected = umeyama(src.repeat_interleave(repeats, 0), dst.repeat_interleave(repeats, 0))
    for got, want in zip(umeyama(src, dst, weights), expected, strict=True):
        torch.testing.assert_close(got, want)


def test_rigid_mode_and_reflection_safety():
    _, rotation, translation = _similarity(5)
    src = torch.randn(15, 3, dtype=DT, generator=torch.Generator().manual_seed(6))
    s, r, t = umeyama(src, src @ rotation.T + translation, with_scale=False)
    assert s.item() == 1.0
    torch.testing.assert_close(r, rotation)
    torch.testing.assert_close(t, translation)
    mirrored = src * torch.tensor([1.0, 1.0, -1.0], dtype=DT)
    _, r, _ = umeyama(src, mirrored)
    torch.testing.assert_close(torch.linalg.det(r), torch.tensor(1.0, dtype=DT))


def test_noisy_fit_is_close_to_the_truth():
    scale, rotation, translation = _similarity(7)
    generator = torch.Generator().manual_seed(8)
    src = torch.randn(2000, 3, dtype=DT, generator=generator)
    dst = apply_similarity(src, scale, rotation, translation) + 1e-3 * torch.randn(
        2000, 3, dtype=DT, generator=generator
    )
    s, r, t = umeyama(src, dst)
    assert abs(s.item() - scale.item()) < 1e-3
    assert math.degrees(torch.arccos(((r.T @ rotation).trace() - 1) / 2).item()) < 0.05
    torch.testing.assert_close(t, translation, atol=1e-3, rtol=0)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="at least 3 points"):
        umeyama(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="same shape"):
        umeyama(torch.zeros(5, 3), torch.zeros(6, 3))
    with pytest.raises(ValueError, match="weights"):
        umeyama(torch.zeros(5, 3), torch.zeros(5, 3), torch.ones(4))
    with pytest.raises(ValueError, match=r"\[\.\.\., \*, 3\]"):
        umeyama(torch.zeros(5, 2), torch.zeros(5, 2))


def test_gradcheck():
    generator = torch.Generator().manual_seed(9)
    src = torch.randn(6, 3, dtype=DT, generator=generator, requires_grad=True)
    dst = torch.randn(6, 3, dtype=DT, generator=generator, requires_grad=True)
    weights = (0.5 + torch.rand(6, dtype=DT, generator=generator)).requires_grad_()
    assert torch.autograd.gradcheck(umeyama, (src, dst, weights))
