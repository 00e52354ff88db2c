"""Alternating-attention aggregator.

Axis letters: ``B`` scenes, ``S`` frames per scene, ``P`` tokens per frame (1 camera token,
``R`` registers, then ``h * w`` patches), ``C`` channels.

Frame blocks attend within each frame ([B*S, P, C]); global blocks attend across all tokens of a
scene ([B, S*P, C]). Layer ``i`` of the output is the concatenation of the frame-block and the
global-block outputs at depth ``i`` ([B, S, P, 2C]). Only the layers asked for are kept, so memory
does not grow with the depth of the trunk.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import torch
from einops import rearrange
from torch import nn

from vggt_py.aggregator.patch_embed import ConvPatchEmbed, DinoV2
from vggt_py.config import VGGTConfig
from vggt_py.layers.block import Block, run_block
from vggt_py.layers.rope import patch_positions, rope_table

if TYPE_CHECKING:  # pragma: no cover - typing only
    from vggt_py.parallel.shard import FrameShard

__all__ = ["Aggregator", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _first_frame_tokens(tokens: torch.Tensor, batch: int, frames: int, has_first: bool = True) -> torch.Tensor:
    """[1, 2, T, C] learned tokens -> [B*S, T, C]: index 0 for frame 0, index 1 for the other frames.

    ``has_first=False``: none of these frames is the scene's frame 0 (a later shard of it).
    """
    first = tokens[:, :1].expand(batch, 1, *tokens.shape[2:])
    rest = tokens[:, 1:].expand(batch, frames - 1 if has_first else frames, *tokens.shape[2:])
    return torch.cat([first, rest], dim=1).flatten(0, 1) if has_first else rest.flatten(0, 1)


class Aggregator(nn.Module):
    def __init__(self, config: VGGTConfig):
        super().__init__()
        agg, pe = config.aggregator, config.patch_embed
        dim = config.embed_dim
        self.patch_size = config.patch_size
        self.depth = agg.depth
        self.aa_block_size = agg.aa_block_size
        self.rope_freq = float(agg.rope_freq)
        self.head_dim = dim // agg.num_heads
        self.patch_start_idx = config.patch_start_idx
        self.checkpointing = config.activation_checkpointing
        if pe.type == "dinov2":
            self.patch_embed: nn.Module = DinoV2(
                img_size=config.img_size,
                patch_size=config.patch_size,
                embed_dim=pe.embed_dim,
                depth=pe.depth,
                num_heads=pe.num_heads,
                mlp_ratio=pe.mlp_ratio,
                num_register_tokens=pe.num_register_tokens,
                layer_scale_init=pe.layer_scale_init,
                norm_eps=pe.norm_eps,
            )
            self.patch_embed.checkpointing = config.activation_checkpointing
        else:
            self.patch_embed = ConvPatchEmbed(config.patch_size, 3, dim)

        def make_block() -> Block:
            return Block(
                dim,
                agg.num_heads,
                agg.mlp_ratio,
                norm_eps=agg.norm_eps,
                qk_norm=agg.qk_norm,
                layer_scale_init=agg.layer_scale_init,
            )

        self.frame_blocks = nn.ModuleList(make_block() for _ in range(agg.depth))
        self.global_blocks = nn.ModuleList(make_block() for _ in range(agg.depth))
        self.camera_token = nn.Parameter(torch.zeros(1, 2, 1, dim))
        self.register_token = nn.Parameter(torch.zeros(1, 2, agg.num_register_tokens, dim))
        self.register_buffer("_resnet_mean", torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("_resnet_std", torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1), persistent=False)

    def set_checkpointing(self, enabled: bool) -> None:
        self.checkpointing = enabled
        if isinstance(self.patch_embed, DinoV2):
            self.patch_embed.checkpointing = enabled

    def forward(
        self,
        images: torch.Tensor,
        keep_layers: Collection[int] | None = None,
        shard: FrameShard | None = None,
    ) -> tuple[dict[int, torch.Tensor], int]:
        """Run the trunk on ``images`` [B, S, 3, H, W] in [0, 1].

        Returns ``({layer: tokens [B, S, P, 2C]}, patch_start_idx)`` for the layers in
        ``keep_layers`` (negative indices count from the end; ``None`` keeps every layer).
        With ``shard``, ``images`` are this process's frames of the scene: global attention
        gathers every rank's keys and values, and frame 0's tokens go to the rank holding it.
        """
        batch, frames, _, height, width = images.shape
        keep = set(range(self.depth)) if keep_layers is None else {i % self.depth for i in keep_layers}
        last_needed = max(keep, default=-1)

        has_first = shard is None or shard.holds_first_frame
        x = (images - self._resnet_mean) / self._resnet_std
        patches = self.patch_embed(x.flatten(0, 1))  # [B*S, h*w, C]
        del x
        special = torch.cat(
            [
                _first_frame_tokens(self.camera_token, batch, frames, has_first),
                _first_frame_tokens(self.register_token, batch, frames, has_first),
            ],
            dim=1,
        )
        tokens = torch.cat([special, patches], dim=1)  # [B*S, P, C]; cat promotes to the wider dtype
        del special, patches
        tokens_per_frame = tokens.shape[1]
        kv_gather = None
        if shard is not None:

            def kv_gather(k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                kv = shard.gather(torch.stack([k, v]), dim=3, per_frame=tokens_per_frame)  # [2, B, H, S*P, D]
                return kv[0], kv[1]

        positions = patch_positions(
            height // self.patch_size, width // self.patch_size, self.patch_start_idx, device=images.device
        )
        frame_rope = rope_table(positions, self.head_dim, self.rope_freq)  # [P, D]
        global_rope = tuple(t.repeat(frames, 1) for t in frame_rope)  # [S*P, D]: no frame index

        # Under autocast (or with bf16 weights) the kept layers are stored in the compute dtype.
        device = images.device.type
        keep_dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
        outputs: dict[int, torch.Tensor] = {}
        layer = 0
        while layer <= last_needed:
            frame_outs = []
            for i in range(layer, layer + self.aa_block_size):
                tokens = run_block(self.frame_blocks[i], tokens, frame_rope, checkpointing=self.checkpointing)
                frame_outs.append(tokens if i in keep else None)
            tokens = rearrange(tokens, "(b s) p c -> b (s p) c", b=batch)
            for offset, i in enumerate(range(layer, layer + self.aa_block_size)):
                tokens = run_block(
                    self.global_blocks[i], tokens, global_rope, kv_gather, checkpointing=self.checkpointing
                )
                if i in keep:
                    outputs[i] = torch.cat(
                        [
                            rearrange(frame_outs[offset], "(b s) p c -> b s p c", b=batch),
                            rearrange(tokens, "b (s p) c -> b s p c", p=tokens_per_frame),
                        ],
                        dim=-1,
                    )
                    if keep_dtype is not None:
                        outputs[i] = outputs[i].to(keep_dtype)
                    frame_outs[offset] = None
            tokens = rearrange(tokens, "b (s p) c -> (b s) p c", p=tokens_per_frame)
            layer += self.aa_block_size
        return outputs, self.patch_start_idx
