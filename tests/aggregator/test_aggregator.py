from __future__ import annotations

import pytest
import torch

from helpers import random_images
from vggt_py.aggregator import Aggregator, DinoV2
from vggt_py.config import VGGTConfig
from vggt_py.layers.rope import patch_positions, rope_table


@pytest.fixture
def config() -> VGGTConfig:
    return VGGTConfig.from_preset("tiny")


def test_outputs_concatenate_frame_and_global(config: VGGTConfig) -> None:
    torch.manual_seed(0)
    agg = Aggregator(config).eval()
    images = random_images(2, 3, 28, 42)
    with torch.no_grad():
        layers, start = agg(images)
    assert sorted(layers) == [0, 1, 2, 3] and start == 5
    tokens = layers[3]
    assert tokens.shape == (2, 3, 5 + 2 * 3, 128)
    # frame half of layer i+1 is frame_blocks[i+1] applied to the global half of layer i
    with torch.no_grad():
        rope = rope_table(patch_positions(2, 3, 5), 16, 100.0)
        rebuilt = agg.frame_blocks[1](layers[0][..., 64:].flatten(0, 1), rope)
    torch.testing.assert_close(rebuilt.unflatten(0, (2, 3)), layers[1][..., :64], rtol=1e-5, atol=1e-6)


def test_first_frame_tokens(config: VGGTConfig) -> None:
    agg = Aggregator(config).eval()
    with torch.no_grad():
        agg.camera_token.copy_(torch.stack([torch.full((1, 64), 1.0), torch.full((1, 64), 2.0)])[None])
    # inspect the assembled tokens as the first block receives them
    seen = {}
    agg.frame_blocks[0].register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0].clone()))
    with torch.no_grad():
        agg(random_images(1, 3, 14, 14), keep_layers=[0])
    x = seen["x"].unflatten(0, (1, 3))
    assert torch.equal(x[0, 0, 0], torch.full((64,), 1.0))
    assert torch.equal(x[0, 1, 0], torch.full((64,), 2.0)) and torch.equal(x[0, 2, 0], torch.full((64,), 2.0))


def test_aa_block_size_two(config: VGGTConfig) -> None:
    config.aggregator.aa_block_size = 2
    agg = Aggregator(config).eval()
    with torch.no_grad():
        layers, _ = agg(random_images(1, 2, 28, 28), keep_layers=[1, 3])
    assert sorted(layers) == [1, 3]


def test_negative_keep_indices(config: VGGTConfig) -> None:
    agg = Aggregator(config).eval()
    with torch.no_grad():
        layers, _ = agg(random_images(1, 1, 14, 28), keep_layers=[-1])
    assert list(layers) == [3]


def test_dino_position_embedding_resize() -> None:
    torch.manual_seed(0)
    dino = DinoV2(img_size=56, patch_size=14, embed_dim=8, depth=1, num_heads=2)
    torch.nn.init.normal_(dino.pos_embed)
    same = dino._position_embedding(4, 4, square=True)
    assert same is dino.pos_embed  # stored grid used as is
    # identity resize when only the aspect differs from square but sizes match: antialiased bicubic, out == in
    resized = dino._position_embedding(4, 4, square=False)
    torch.testing.assert_close(resized, dino.pos_embed, rtol=0, atol=1e-6)
    rect = dino._position_embedding(2, 6, square=False)
    assert rect.shape == (1, 1 + 12, 8)
    assert torch.equal(rect[:, 0], dino.pos_embed[:, 0])  # class position untouched
    grid = dino.pos_embed[:, 1:].reshape(1, 4, 4, 8).permute(0, 3, 1, 2)
    plain = torch.nn.functional.interpolate(grid, size=(2, 6), mode="bicubic", antialias=False)
    assert not torch.allclose(rect[:, 1:], plain.permute(0, 2, 3, 1).flatten(1, 2), atol=1e-3)


def test_dino_output_is_normed_patch_tokens() -> None:
    dino = DinoV2(img_size=28, patch_size=14, embed_dim=8, depth=1, num_heads=2, num_register_tokens=3)
    out = dino(torch.rand(2, 3, 28, 42))
    assert out.shape == (2, 6, 8)
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 6), atol=1e-5, rtol=0)
