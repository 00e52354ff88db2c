"""Iterative correlation tracker of the track head.

Axis letters: ``B`` scenes, ``S`` frames, ``N`` query points, ``C`` latent feature channels,
``HH x WW`` feature-map size, ``D`` update-transformer token width (``3C + 4``).

Frame 0 is the query frame. Each iteration samples a multi-scale correlation window around the
current estimate in every frame, embeds it with the flow from the query and the per-frame track
features, and lets an update transformer (attention over time, and over points through a few
"virtual" tracks) predict coordinate and feature updates. Coordinates live in feature-map pixels
(``align_corners=True`` convention: integer values are pixel centres).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vggt_py.config import TrackHeadConfig
from vggt_py.geometry.pixels import grid_sample_pixels as sample_bilinear
from vggt_py.layers.mlp import Mlp

if TYPE_CHECKING:  # pragma: no cover - typing only
    from vggt_py.parallel.shard import FrameShard

__all__ = ["Tracker", "UpdateFormer", "sample_bilinear", "correlation_pyramid", "sample_correlation"]


# ----------------------------------------------------------------------------------------- sampling
def _sample_points(maps: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Sample maps [M, C, H, W] at points [M, N, 2] with border padding -> [M, N, C]."""
    return sample_bilinear(maps, points[:, :, None, :]).squeeze(-1).transpose(1, 2)


def correlation_pyramid(fmaps: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Feature maps [B, S, C, H, W] and ``levels - 1`` successive 2x2 average-pooled copies."""
    pyramid = [fmaps]
    for _ in range(levels - 1):
        prev = pyramid[-1]
        pooled = F.avg_pool2d(prev.flatten(0, 1), kernel_size=2, stride=2)
        pyramid.append(pooled.unflatten(0, prev.shape[:2]))
    return pyramid


def sample_correlation(
    pyramid: list[torch.Tensor], track_feats: torch.Tensor, coords: torch.Tensor, radius: int
) -> torch.Tensor:
    """Correlation windows [B, S, N, levels * (2r+1)^2] around coords [B, S, N, 2].

    Level ``l`` correlates the track features with the level's map (scaled by ``1/sqrt(C)``) and
    samples a ``(2r+1)^2`` window around ``coords / 2^l`` with zero padding. Window index
    ``k = (2r+1) * a + b`` sits at offset ``(dx, dy) = (a - r, b - r)``: x is the major index.
    """
    batch, frames, num_points, channels = track_feats.shape
    side = 2 * radius + 1
    steps = torch.linspace(-radius, radius, side, device=coords.device, dtype=coords.dtype)
    offsets = torch.stack(torch.meshgrid(steps, steps, indexing="ij"), dim=-1)  # [side, side, 2] = (dx, dy)
    out = []
    for level, fmap in enumerate(pyramid):
        height, width = fmap.shape[-2:]
        corr = torch.matmul(track_feats, fmap.flatten(-2)) / math.sqrt(channels)  # [B, S, N, H*W]
        corr = corr.reshape(batch * frames * num_points, 1, height, width)
        centres = coords.reshape(-1, 1, 1, 2) / (2**level)
        window = centres + offsets.to(coords.dtype)  # [BSN, side, side, 2]
        sampled = sample_bilinear(corr, window, padding_mode="zeros")  # [BSN, 1, side, side]
        out.append(sampled.reshape(batch, frames, num_points, side * side))
    return torch.cat(out, dim=-1)


# ------------------------------------------------------------------------------------ embeddings
def flow_embedding(flow: torch.Tensor, dim: int) -> torch.Tensor:
    """Interleaved sin/cos embedding of flow [..., 2] -> [..., 2 * dim] (x first, then y).

    Frequencies are ``2k * 1000 / dim`` for ``k < dim/2``, evaluated in float32.
    """
    freqs = torch.arange(0, dim, 2, device=flow.device, dtype=torch.float32) * (1000.0 / dim)
    parts = []
    for axis in range(2):
        angles = flow[..., axis : axis + 1].float() * freqs  # [..., dim/2]
        parts.append(torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2))
    return torch.cat(parts, dim=-1)


def grid_sincos_table(dim: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """Sin/cos table [1, dim, H, W] of pixel positions: ``[sin(xω), cos(xω), sin(yω), cos(yω)]``.

    ``ω_k = 10000^(-k / (dim/4))``; computed in float64, returned as float32.
    """
    quarter = dim // 4
    omega = torch.arange(quarter, dtype=torch.float64, device=device) / (dim / 4.0)
    omega = 1.0 / 10000**omega

    def embed(values: torch.Tensor) -> torch.Tensor:
        angles = values[:, None] * omega
        return torch.cat([angles.sin(), angles.cos()], dim=-1)

    ex = embed(torch.arange(width, dtype=torch.float64, device=device))[None].expand(height, width, -1)
    ey = embed(torch.arange(height, dtype=torch.float64, device=device))[:, None].expand(height, width, -1)
    return torch.cat([ex, ey], dim=-1).permute(2, 0, 1)[None].float()


# ------------------------------------------------------------------------------ update transformer
class AttnBlock(nn.Module):
    """Self-attention block whose residual stream starts from the normalised input."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x)
        # need_weights=True keeps the reference's (non-fused) kernel path: the tracker amplifies
        # float noise ~100x per iteration, and this path makes tracks agree bit for bit.
        x = x + self.attn(x, x, x, need_weights=True)[0]
        return x + self.mlp(self.norm2(x))


class CrossBlock(nn.Module):
    """Cross-attention block (queries from ``x``, keys and values from ``context``)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x)
        context = self.norm_context(context)
        x = x + self.cross_attn(x, context, context, need_weights=True)[0]
        return x + self.mlp(self.norm2(x))


class UpdateFormer(nn.Module):
    """Alternating attention over time (per track) and over tracks (per frame, via virtual tracks)."""

    def __init__(
        self, input_dim: int, hidden_size: int, output_dim: int, depth: int, num_heads: int, num_virtual: int
    ):
        super().__init__()
        self.num_virtual = num_virtual
        self.input_norm = nn.LayerNorm(input_dim)
        self.input_transform = nn.Linear(input_dim, hidden_size)
        self.output_norm = nn.LayerNorm(hidden_size)
        self.flow_head = nn.Linear(hidden_size, output_dim)
        # The checkpoint spells this key "virual_tracks"; the name is kept so it loads unchanged.
        self.virual_tracks = nn.Parameter(torch.zeros(1, num_virtual, 1, hidden_size))
        self.time_blocks = nn.ModuleList(AttnBlock(hidden_size, num_heads) for _ in range(depth))
        self.space_virtual_blocks = nn.ModuleList(AttnBlock(hidden_size, num_heads) for _ in range(depth))
        self.space_point2virtual_blocks = nn.ModuleList(CrossBlock(hidden_size, num_heads) for _ in range(depth))
        self.space_virtual2point_blocks = nn.ModuleList(CrossBlock(hidden_size, num_heads) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, N, S, input_dim] -> [B, N, S, output_dim]."""
        tokens = self.input_transform(self.input_norm(x))
        init = tokens
        batch, num_points, frames, _ = tokens.shape
        virtual = self.virual_tracks.expand(batch, -1, frames, -1)
        tokens = torch.cat([tokens, virtual], dim=1)  # [B, N+V, S, D]
        for time_block, v2p, virtual_block, p2v in zip(
            self.time_blocks,
            self.space_virtual2point_blocks,
            self.space_virtual_blocks,
            self.space_point2virtual_blocks,
        ):
            tokens = rearrange(time_block(rearrange(tokens, "b n s d -> (b n) s d")), "(b n) s d -> b s n d", b=batch)
            tokens = tokens.flatten(0, 1)  # [B*S, N+V, D]
            points, virtual = tokens[:, :num_points], tokens[:, num_points:]
            virtual = virtual_block(v2p(virtual, points))
            points = p2v(points, virtual)
            tokens = rearrange(torch.cat([points, virtual], dim=1), "(b s) n d -> b n s d", b=batch)
        tokens = tokens[:, :num_points] + init
        return self.flow_head(self.output_norm(tokens))


# ---------------------------------------------------------------------------------------- tracker
class Tracker(nn.Module):
    def __init__(self, config: TrackHeadConfig, stride: int = 2):
        super().__init__()
        latent = config.features
        self.stride = stride
        self.latent_dim = latent
        self.corr_levels = config.corr_levels
        self.corr_radius = config.corr_radius
        self.max_scale = config.max_scale
        self.flow_dim = latent // 2
        self.token_dim = 3 * latent + 4
        corr_dim = config.corr_levels * (2 * config.corr_radius + 1) ** 2
        self.corr_mlp = Mlp(corr_dim, config.hidden_size, latent)
        self.query_ref_token = nn.Parameter(torch.zeros(1, 2, self.token_dim))
        self.updateformer = UpdateFormer(
            input_dim=self.token_dim,
            hidden_size=config.hidden_size,
            output_dim=latent + 2,
            depth=config.transformer_depth,
            num_heads=config.transformer_heads,
            num_virtual=config.num_virtual_tracks,
        )
        self.fmap_norm = nn.LayerNorm(latent)
        self.ffeat_norm = nn.GroupNorm(1, latent)
        self.ffeat_updater = nn.Sequential(nn.Linear(latent, latent), nn.GELU())
        self.vis_predictor = nn.Sequential(nn.Linear(latent, 1))
        self.conf_predictor = nn.Sequential(nn.Linear(latent, 1))

    def forward(
        self,
        query_points: torch.Tensor,
        fmaps: torch.Tensor,
        iters: int,
        apply_sigmoid: bool = True,
        shard: FrameShard | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Track ``query_points`` [B, N, 2] (image pixels in frame 0) through fmaps [B, S, C, HH, WW].

        Returns the per-iteration tracks [B, S, N, 2] in image pixels, visibility and confidence
        [B, S, N] (probabilities, or logits with ``apply_sigmoid=False``). With ``shard``, ``fmaps``
        are this rank's frames: the query features come from the rank holding frame 0, and the
        update transformer (it attends over time) runs on every rank's tokens, gathered.
        """
        batch, num_points, _ = query_points.shape
        frames, _, fm_h, fm_w = fmaps.shape[1:]
        has_first = shard is None or shard.holds_first_frame
        fmaps = self.fmap_norm(fmaps.permute(0, 1, 3, 4, 2)).permute(0, 1, 4, 2, 3)

        query = query_points / float(self.stride)  # feature-map pixels
        coords = query[:, None].expand(batch, frames, num_points, 2).clone()
        if has_first:
            query_feats = _sample_points(fmaps[:, 0], query)  # [B, N, C]
        else:
            query_feats = fmaps.new_empty(batch, num_points, fmaps.shape[2])
        if shard is not None:
            query_feats = shard.broadcast_from_first(query_feats)
        track_feats = query_feats[:, None].expand(-1, frames, -1, -1)  # [B, S, N, C]
        pyramid = correlation_pyramid(fmaps, self.corr_levels)
        pos_table = grid_sincos_table(self.token_dim, fm_h, fm_w, fmaps.device).expand(batch, -1, -1, -1)
        query_pos = rearrange(_sample_points(pos_table, query), "b n d -> (b n) 1 d")
        first, rest = self.query_ref_token[:, :1], self.query_ref_token[:, 1:]
        if has_first:
            ref_token = torch.cat([first, rest.expand(-1, frames - 1, -1)], dim=1)
        else:
            ref_token = rest.expand(-1, frames, -1)

        predictions = []
        for _ in range(iters):
            coords = coords.detach()
            corr = sample_correlation(pyramid, track_feats, coords, self.corr_radius)
            corr = self.corr_mlp(rearrange(corr, "b s n c -> (b n) s c"))
            flow = rearrange(coords - query[:, None], "b s n c -> (b n) s c")  # frame 0 stays at the query
            flow_emb = torch.cat(
                [flow_embedding(flow, self.flow_dim), flow / self.max_scale, flow / self.max_scale], dim=-1
            )
            feats = rearrange(track_feats, "b s n c -> (b n) s c")
            x = torch.cat([flow_emb, corr, feats], dim=-1) + query_pos
            x = x + ref_token.to(x.dtype)
            x = rearrange(x, "(b n) s d -> b n s d", b=batch)
            if shard is None:
                delta = self.updateformer(x)
            else:  # attention over time needs every frame; each rank keeps its own
                delta = self.updateformer(shard.gather(x, dim=2))[:, :, shard.frames]
            delta = rearrange(delta, "b n s d -> (b n) s d")
            feat_update = self.ffeat_updater(self.ffeat_norm(delta[..., 2:].flatten(0, 1)))
            feats = feat_update + feats.flatten(0, 1)
            track_feats = rearrange(feats, "(b n s) c -> b s n c", b=batch, n=num_points)
            coords = coords + rearrange(delta[..., :2], "(b n) s c -> b s n c", b=batch)
            if has_first:
                coords = torch.cat([query[:, None], coords[:, 1:]], dim=1)  # the query frame stays put
            predictions.append(coords * self.stride)

        vis = self.vis_predictor(track_feats).squeeze(-1)
        conf = self.conf_predictor(track_feats).squeeze(-1)
        if apply_sigmoid:
            vis, conf = torch.sigmoid(vis), torch.sigmoid(conf)
        return predictions, vis, conf
