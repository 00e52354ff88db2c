"""Patch embeddings: a bare strided convolution and a DINOv2 ViT with register tokens.

Axis letters: ``BS`` frames of all scenes, ``C`` channels, ``L`` patch tokens (``h * w``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vggt_py.layers.block import Block, run_block

__all__ = ["ConvPatchEmbed", "DinoV2"]


class ConvPatchEmbed(nn.Module):
    """Non-overlapping ``patch x patch`` convolution; returns tokens [BS, L, C] in row-major order."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoV2(nn.Module):
    """DINOv2 ViT with registers, returning its final-normed patch tokens [BS, L, C].

    The learned positional grid (``img_size / patch_size`` squared, plus a class row) is resized to
    the input's patch grid with antialiased bicubic interpolation; it is used as stored only for a
    square input of the stored grid size. Register tokens are inserted after the positional
    embedding and carry none.
    """

    def __init__(
        self,
        img_size: int,
        patch_size: int,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        num_register_tokens: int = 4,
        layer_scale_init: float = 1.0,
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.grid_size = img_size // patch_size
        self.num_register_tokens = num_register_tokens
        self.patch_embed = ConvPatchEmbed(patch_size, 3, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid_size**2 + 1, embed_dim))
        self.register_tokens = nn.Parameter(torch.zeros(1, num_register_tokens, embed_dim))
        # Kept for checkpoint compatibility; masked pre-training is not part of this model.
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim), requires_grad=False)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, norm_eps=norm_eps, layer_scale_init=layer_scale_init)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.checkpointing = False

    def _position_embedding(self, rows: int, cols: int, square: bool) -> torch.Tensor:
        """Positional embedding [1, 1 + rows*cols, C] for a ``rows x cols`` patch grid."""
        n = self.grid_size
        if square and rows * cols == n * n:
            return self.pos_embed
        pos = self.pos_embed.float()
        grid = pos[:, 1:].reshape(1, n, n, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(rows, cols), mode="bicubic", antialias=True, align_corners=False)
        grid = grid.permute(0, 2, 3, 1).flatten(1, 2)
        return torch.cat([pos[:, :1], grid], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        rows, cols = height // self.patch_size, width // self.patch_size
        tokens = self.patch_embed(x)  # [BS, L, C]
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + self._position_embedding(rows, cols, height == width).to(tokens.dtype)
        registers = self.register_tokens.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([tokens[:, :1], registers, tokens[:, 1:]], dim=1)
        tokens = tokens.to(torch.promote_types(tokens.dtype, torch.float32))  # float32 stream, also under autocast
        for block in self.blocks:
            tokens = run_block(block, tokens, checkpointing=self.checkpointing)
        return self.norm(tokens[:, 1 + self.num_register_tokens :])  # per-token norm: slice first

