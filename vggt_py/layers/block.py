"""Pre-norm transformer block with LayerScale (DINOv2, aggregator and camera trunk)."""

from __future__ import annotations

import torch
import torch.utils.checkpoint
from torch import nn

from vggt_py.layers.attention import Attention, KVGather
from vggt_py.layers.layer_scale import LayerScale
from vggt_py.layers.mlp import Mlp
from vggt_py.layers.rope import RopeTable

__all__ = ["Block", "run_block"]


# Tokens per slice of the MLP half in inference (bounds its 4x-wide hidden activation).
MLP_TOKEN_CHUNK = 4096


class Block(nn.Module):
    """``x + ls1(attn(norm1(x)))`` then ``x + ls2(mlp(norm2(x)))``.

    Without autograd the MLP half runs on slices of ``MLP_TOKEN_CHUNK`` tokens with its activation
    in place, so its hidden tensor no longer grows with the sequence: every operation of that half
    acts per token, so the result is the same.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        norm_eps: float = 1e-5,
        qk_norm: bool = False,
        layer_scale_init: float = 0.01,
        bias: bool = True,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=bias, proj_bias=bias, qk_norm=qk_norm, norm_eps=norm_eps)
        self.ls1 = LayerScale(dim, layer_scale_init)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), bias=bias)
        self.ls2 = LayerScale(dim, layer_scale_init)

    def forward(self, x: torch.Tensor, rope: RopeTable | None = None, kv_gather: KVGather | None = None) -> torch.Tensor:
        if torch.is_grad_enabled():
            x = x + self.ls1(self.attn(self.norm1(x), rope, kv_gather))
            return x + self.ls2(self.mlp(self.norm2(x)))
        update = self.attn(self.norm1(x), rope, kv_gather)
        x = x + self.ls1(update)
        del update
        return self._mlp_residual(x)

    def _mlp_residual(self, x: torch.Tensor) -> torch.Tensor:
        """``x + ls2(mlp(norm2(x)))`` slice by slice of tokens (inference only)."""
        flat = x.reshape(-1, x.shape[-1])  # [B*N, C]
        if flat.shape[0] <= MLP_TOKEN_CHUNK:
            return x + self.ls2(self.mlp.forward_inplace(self.norm2(x)))
        out = torch.empty_like(flat)
        for start in range(0, flat.shape[0], MLP_TOKEN_CHUNK):
            part = flat[start : start + MLP_TOKEN_CHUNK]
            out[start : start + MLP_TOKEN_CHUNK] = part + self.ls2(self.mlp.forward_inplace(self.norm2(part)))
        return out.view_as(x)


def run_block(block: nn.Module, x: torch.Tensor, *args, checkpointing: bool = False) -> torch.Tensor:
    """Run ``block(x, *args)``; with ``checkpointing`` and autograd recording, recompute it in backward.

    Activation checkpointing is an explicit choice of the caller, never implied by train mode.
    """
    if checkpointing and torch.is_grad_enabled():
        return torch.utils.checkpoint.checkpoint(block, x, *args, use_reentrant=False)
    return block(x, *args)
