"""Camera head: iterative refinement of a 9-value pose encoding per frame.

Axis letters: ``B`` scenes, ``S`` frames, ``C`` = 2 * embed_dim.

Encoding layout ``[t_x, t_y, t_z, q_x, q_y, q_z, q_w, fov_h, fov_w]``: camera-from-world
translation and scalar-last quaternion (OpenCV axes), vertical and horizontal fields of view in
radians. Each iteration embeds the previous raw (pre-activation) estimate, modulates the
normalised camera token with it (adaLN: shift, scale, gate), runs a small transformer across the
frames of a scene and adds the predicted update. Only the returned copies are activated (ReLU on
the fields of view).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from vggt_py.config import CameraHeadConfig
from vggt_py.layers.block import Block, run_block
from vggt_py.layers.mlp import Mlp

if TYPE_CHECKING:  # pragma: no cover - typing only
    from vggt_py.parallel.shard import FrameShard

__all__ = ["CameraHead", "activate_pose_encoding", "POSE_ENCODING_DIM"]

POSE_ENCODING_DIM = 9


def activate_pose_encoding(raw: torch.Tensor) -> torch.Tensor:
    """Linear translation and quaternion, ReLU on the two fields of view."""
    return torch.cat([raw[..., :7], F.relu(raw[..., 7:])], dim=-1)


class CameraHead(nn.Module):
    def __init__(self, dim_in: int, config: CameraHeadConfig, layer_index: int = -1):
        super().__init__()
        self.iters = config.iters
        self.layer_index = layer_index
        self.checkpointing = False
        self.token_norm = nn.LayerNorm(dim_in)
        self.trunk = nn.Sequential(
            *(
                Block(dim_in, config.num_heads, config.mlp_ratio, layer_scale_init=config.layer_scale_init)
                for _ in range(config.trunk_depth)
            )
        )
        self.trunk_norm = nn.LayerNorm(dim_in)
        self.empty_pose_tokens = nn.Parameter(torch.zeros(1, 1, POSE_ENCODING_DIM))
        self.embed_pose = nn.Linear(POSE_ENCODING_DIM, dim_in)
        # Index 0 of the checkpoint's sequential is a parameter-free SiLU, applied in forward.
        self.poseLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim_in, 3 * dim_in))
        self.adaln_norm = nn.LayerNorm(dim_in, elementwise_affine=False, eps=1e-6)
        self.pose_branch = Mlp(dim_in, dim_in // 2, POSE_ENCODING_DIM)

    def forward(
        self, layers: Mapping[int, torch.Tensor], iters: int | None = None, shard: FrameShard | None = None
    ) -> list[torch.Tensor]:
        """Pose encodings [B, S, 9], one per iteration (the last is the final estimate).

        With ``shard`` the trunk, which attends across frames, runs on every rank's camera tokens
        (gathered; they are small) and each rank returns its own frames.
        """
        tokens = layers[self.layer_index][:, :, 0]  # camera token, [B, S, C]
        tokens = tokens.to(torch.promote_types(tokens.dtype, torch.float32))  # the head computes in float32
        if shard is not None:
            tokens = shard.gather(tokens, dim=1)
        tokens = self.token_norm(tokens)
        normed = self.adaln_norm(tokens)
        raw: torch.Tensor | None = None
        outputs = []
        for _ in range(iters or self.iters):
            if raw is None:
                cond = self.embed_pose(self.empty_pose_tokens.expand(*tokens.shape[:2], -1))
            else:
                cond = self.embed_pose(raw.detach())
            shift, scale, gate = self.poseLN_modulation(cond).chunk(3, dim=-1)
            x = gate * (normed * (1 + scale) + shift) + tokens
            for block in self.trunk:
                x = run_block(block, x, checkpointing=self.checkpointing)
            delta = self.pose_branch(self.trunk_norm(x))
            raw = delta if raw is None else raw + delta
            outputs.append(activate_pose_encoding(raw))
        if shard is not None:
            outputs = [out[:, shard.frames] for out in outputs]
        return outputs
