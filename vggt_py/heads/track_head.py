"""Track head: DPT feature maps at half resolution plus the iterative tracker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

from vggt_py.config import TrackHeadConfig
from vggt_py.heads.dpt_head import DPTHead
from vggt_py.heads.tracker import Tracker

if TYPE_CHECKING:  # pragma: no cover - typing only
    from vggt_py.parallel.shard import FrameShard

__all__ = ["TrackHead"]

FEATURE_DOWN_RATIO = 2


class TrackHead(nn.Module):
    def __init__(self, dim_in: int, patch_size: int, config: TrackHeadConfig):
        super().__init__()
        self.iters = config.iters
        self.feature_extractor = DPTHead(
            dim_in,
            patch_size,
            features=config.features,
            out_channels=config.out_channels,
            layer_indices=config.intermediate_layer_idx,
            output_dim=None,
            pos_embed=False,
            down_ratio=FEATURE_DOWN_RATIO,
            frames_chunk_size=config.frames_chunk_size,
        )
        self.tracker = Tracker(config, stride=FEATURE_DOWN_RATIO)

    def forward(
        self,
        layers: Mapping[int, torch.Tensor],
        image_hw: tuple[int, int],
        patch_start_idx: int,
        query_points: torch.Tensor,
        iters: int | None = None,
        shard: FrameShard | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Tracks of ``query_points`` [B, N, 2] (pixels of frame 0): per-iteration [B, S, N, 2], vis, conf.

        With ``shard``, the layers hold this rank's frames and so do the results.
        """
        fmaps = self.feature_extractor(layers, image_hw, patch_start_idx)  # [B, S, C, H/2, W/2]
        return self.tracker(query_points, fmaps, iters or self.iters, shard=shard)
