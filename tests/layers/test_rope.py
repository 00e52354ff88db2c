from __future__ import annotations

import math

import pytest
import torch

from vggt_py.layers.rope import apply_rope, patch_positions, rope_table


def test_positions_layout() -> None:
    pos = patch_positions(2, 3, num_special=2)
    assert pos.tolist() == [[0, 0], [0, 0], [1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [2, 3]]


def test_known_rotation() -> None:
    # head_dim 8: quarter 2, frequencies 100^0 = 1 and 100^-1/2 = 0.1
    table = rope_table(torch.tensor([[3, 5]]), head_dim=8, base=100.0)
    x = torch.zeros(1, 8)
    x[0, 0] = 1.0  # first y-pair, u part
    x[0, 4] = 1.0  # first x-pair, u part
    out = apply_rope(x, table)[0]
    assert out[0].item() == pytest.approx(math.cos(3.0), abs=1e-6)
    assert out[2].item() == pytest.approx(math.sin(3.0), abs=1e-6)  # v' = u sin θ
    assert out[4].item() == pytest.approx(math.cos(5.0), abs=1e-6)
    assert out[6].item() == pytest.approx(math.sin(5.0), abs=1e-6)


def test_origin_is_identity_and_norm_preserved() -> None:
    x = torch.randn(2, 4, 6, 16)
    pos = patch_positions(1, 5, num_special=1)
    out = apply_rope(x, rope_table(pos, 16, 100.0))
    assert torch.equal(out[..., 0, :], x[..., 0, :])
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1))


def test_relative_position_property() -> None:
    # <R(p) q, R(p') k> depends only on p - p'
    q, k = torch.randn(16), torch.randn(16)
    def score(p, r):
        t = rope_table(torch.tensor([p, r]), 16, 100.0)
        rot = apply_rope(torch.stack([q, k]), t)
        return (rot[0] * rot[1]).sum()
    torch.testing.assert_close(score([2, 3], [1, 1]), score([5, 7], [4, 5]), rtol=1e-5, atol=1e-5)


def test_head_dim_must_divide_by_four() -> None:
    with pytest.raises(ValueError, match="divisible by 4"):
        rope_table(torch.zeros(1, 2), head_dim=6, base=100.0)


def test_gradient() -> None:
    x = torch.randn(1, 3, 8, dtype=torch.float64, requires_grad=True)
    pos = patch_positions(1, 2, 1)
    cos, sin = rope_table(pos, 8, 100.0)
    assert torch.autograd.gradcheck(lambda t: apply_rope(t, (cos.double(), sin.double())), (x,))
