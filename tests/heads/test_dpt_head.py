from __future__ import annotations

import math

import pytest
import torch

from vggt_py.heads.dpt_head import DPTHead, ResidualConvUnit, add_uv_embedding_, uv_position_embedding


def test_uv_embedding_known_values() -> None:
    emb = uv_position_embedding(8, rows=2, cols=4, aspect_ratio=2.0, dtype=torch.float32, device=torch.device("cpu"))
    assert emb.shape == (8, 2, 4)
    span_x = 2.0 / math.sqrt(5.0)
    x0 = -span_x * 3 / 4
    assert emb[0, 0, 0].item() == pytest.approx(math.sin(x0), abs=1e-6)  # sin(x * 100^0)
    assert emb[2, 0, 0].item() == pytest.approx(math.cos(x0), abs=1e-6)
    y1 = (1 / math.sqrt(5.0)) * 1 / 2
    assert emb[5, 1, 3].item() == pytest.approx(math.sin(y1 * 0.1), abs=1e-6)  # second frequency: 100^-1/2
    with pytest.raises(ValueError, match="divisible by 4"):
        uv_position_embedding(6, 2, 2, 1.0, torch.float32, torch.device("cpu"))


def test_residual_unit_skip_is_rectified() -> None:
    unit = ResidualConvUnit(2)
    torch.nn.init.zeros_(unit.conv2.weight)
    torch.nn.init.zeros_(unit.conv2.bias)
    x = torch.randn(1, 2, 3, 3)
    assert torch.equal(unit(x), torch.relu(x))


@pytest.mark.parametrize(("height", "width"), [(28, 42), (56, 14)])
def test_dense_and_feature_shapes(height: int, width: int) -> None:
    layers = {i: torch.randn(2, 3, 5 + (height // 14) * (width // 14), 32) for i in range(4)}
    head = DPTHead(32, 14, 8, (4, 8, 16, 16), (0, 1, 2, 3), output_dim=4, activation="inv_log")
    points, conf = head(layers, (height, width), 5)
    assert points.shape == (2, 3, height, width, 3) and conf.shape == (2, 3, height, width)
    assert (conf >= 1).all()
    feats = DPTHead(32, 14, 8, (4, 8, 16, 16), (0, 1, 2, 3), output_dim=None, pos_embed=False, down_ratio=2)
    assert feats(layers, (height, width), 5).shape == (2, 3, 8, height // 2, width // 2)


def test_unknown_activation() -> None:
    with pytest.raises(ValueError, match="unknown activation"):
        DPTHead(32, 14, 8, (4, 8, 16, 16), (0, 1, 2, 3), output_dim=2, activation="softplus")


def test_in_place_embedding_equals_dense_form() -> None:
    x = torch.randn(2, 16, 5, 7)
    dense = x + uv_position_embedding(16, 5, 7, 7 / 5, torch.float32, torch.device("cpu")) * 0.1
    assert torch.equal(add_uv_embedding_(x.clone(), 7 / 5), dense)
