from __future__ import annotations

import torch

from vggt_py.heads.tracker import correlation_pyramid, flow_embedding, grid_sincos_table, sample_correlation


def test_correlation_window_is_x_major() -> None:
    # one-channel map whose value at (y, x) is 100 y + x; a unit feature reads it back (x 1/sqrt(1))
    height, width = 9, 9
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    fmap = (100 * ys + xs).float()[None, None, None]  # [B=1, S=1, C=1, H, W]
    pyramid = correlation_pyramid(fmap, levels=1)
    coords = torch.tensor([[[[4.0, 4.0]]]])  # x=4, y=4
    corr = sample_correlation(pyramid, torch.ones(1, 1, 1, 1), coords, radius=1)[0, 0, 0]
    # k = 3a + b at (dx, dy) = (a - 1, b - 1)
    expected = [100 * (4 + b - 1) + (4 + a - 1) for a in range(3) for b in range(3)]
    assert corr.tolist() == expected


def test_correlation_zero_padding_and_pyramid_sizes() -> None:
    fmap = torch.ones(1, 2, 4, 16, 12)
    pyramid = correlation_pyramid(fmap, levels=3)
    assert [tuple(p.shape[-2:]) for p in pyramid] == [(16, 12), (8, 6), (4, 3)]
    coords = torch.zeros(1, 2, 1, 2)  # the top-left corner: half the window falls outside
    corr = sample_correlation(pyramid, torch.ones(1, 2, 1, 4), coords, radius=1)
    assert corr.shape == (1, 2, 1, 27)
    window = corr[0, 0, 0, :9]
    assert (window.abs() < 1e-5).sum() == 5  # outside the map: zeros
    assert window[4].item() == 2.0  # 4 unit channels / sqrt(4)


def test_flow_embedding_layout() -> None:
    emb = flow_embedding(torch.tensor([[0.5, -2.0]]), dim=4)  # freqs 0 and 500
    expected_x = [0.0, 1.0, torch.sin(torch.tensor(250.0)).item(), torch.cos(torch.tensor(250.0)).item()]
    torch.testing.assert_close(emb[0, :4], torch.tensor(expected_x))
    assert emb.shape == (1, 8)


def test_position_table_x_first() -> None:
    table = grid_sincos_table(8, height=3, width=5, device=torch.device("cpu"))
    assert table.shape == (1, 8, 3, 5) and table.dtype == torch.float32
    assert table[0, 0, 2, 4].item() == torch.sin(torch.tensor(4.0)).item()  # sin(x * 1) at x = 4
    assert table[0, 4, 2, 4].item() == torch.sin(torch.tensor(2.0)).item()  # sin(y * 1) at y = 2
