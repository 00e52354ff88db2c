from __future__ import annotations

import pytest
import torch

from vggt_py.layers import Attention, Block, LayerScale, Mlp


def test_attention_matches_explicit_softmax() -> None:
    torch.manual_seed(0)
    attn = Attention(32, 4, qk_norm=True)
    x = torch.randn(2, 7, 32)
    qkv = attn.qkv(x).reshape(2, 7, 3, 4, 8).permute(2, 0, 3, 1, 4)
    q, k, v = attn.q_norm(qkv[0]), attn.k_norm(qkv[1]), qkv[2]
    weights = torch.softmax(q @ k.transpose(-1, -2) / 8**0.5, dim=-1)
    expected = attn.proj((weights @ v).transpose(1, 2).reshape(2, 7, 32))
    torch.testing.assert_close(attn(x), expected, rtol=1e-5, atol=1e-6)


def test_attention_bad_heads() -> None:
    with pytest.raises(ValueError, match="divisible"):
        Attention(30, 4)


def test_block_is_pre_norm_residual_with_layer_scale() -> None:
    block = Block(16, 2, layer_scale_init=0.0)
    x = torch.randn(3, 5, 16)
    assert torch.equal(block(x), x)  # zero LayerScale: identity
    assert block.norm1.eps == 1e-5
    assert Block(16, 2, norm_eps=1e-6).norm2.eps == 1e-6


def test_mlp_and_layer_scale_shapes() -> None:
    assert Mlp(8, 32, 3)(torch.randn(4, 8)).shape == (4, 3)
    assert torch.equal(LayerScale(4, 0.5)(torch.ones(2, 4)), torch.full((2, 4), 0.5))


def test_block_gradient() -> None:
    block = Block(8, 2, qk_norm=True).double()
    x = torch.randn(1, 4, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,))


def test_inference_block_slices_mlp_within_fp32_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    import vggt_py.layers.block as block_module

    torch.manual_seed(0)
    block = Block(32, 4, qk_norm=True).eval()
    x = torch.randn(2, 37, 32)
    with torch.enable_grad():
        expected = block(x).detach()  # the autograd path: whole-sequence MLP, out-of-place GELU
    monkeypatch.setattr(block_module, "MLP_TOKEN_CHUNK", 10)  # 74 tokens -> 8 slices, the last short
    with torch.inference_mode():
        sliced = block(x)
    # a matrix product over fewer rows may round differently: fp32 noise, not bit for bit
    torch.testing.assert_close(sliced, expected, rtol=1e-6, atol=1e-6)
    assert not torch.equal(sliced, torch.zeros_like(sliced))
