"""DPT head: dense per-pixel predictions from four aggregator layers.

Axis letters: ``B`` scenes, ``S`` frames, ``L`` patch tokens, ``C`` token channels, ``F`` fusion
features, ``h x w`` patch grid, ``H x W`` image size.

Each selected layer's patch tokens are layer-normed, projected by a 1x1 convolution and brought
to 4x, 2x, 1x and 1/2x the patch grid; a RefineNet-style fusion merges them from coarse to fine,
and the result is upsampled to the image (or to ``1/down_ratio`` of it for feature maps). All
bilinear resizes use ``align_corners=True``. Frames are independent, so they can be processed in
chunks to bound activation memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DPTHead", "add_uv_embedding_", "uv_position_embedding", "POINT_ACTIVATIONS", "CONF_ACTIVATIONS"]


def _inverse_log(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(torch.abs(x))


POINT_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "exp": torch.exp,
    "inv_log": _inverse_log,
    "linear": lambda x: x,
    "relu": F.relu,
}
CONF_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "expp1": lambda c: 1 + c.exp(),
    "expp0": torch.exp,
    "sigmoid": torch.sigmoid,
}


def uv_embedding_factors(
    channels: int, rows: int, cols: int, aspect_ratio: float, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two separable halves of :func:`uv_position_embedding`: x part [C/2, cols], y part [C/2, rows]."""
    if channels % 4:
        raise ValueError(f"UV embedding needs channels divisible by 4, got {channels}")
    diag = (aspect_ratio**2 + 1.0) ** 0.5
    span_x, span_y = aspect_ratio / diag, 1.0 / diag
    xs = torch.linspace(-span_x * (cols - 1) / cols, span_x * (cols - 1) / cols, cols, dtype=dtype, device=device)
    ys = torch.linspace(-span_y * (rows - 1) / rows, span_y * (rows - 1) / rows, rows, dtype=dtype, device=device)
    quarter = channels // 4
    omega = torch.arange(quarter, dtype=torch.float64, device=device) / (2 * quarter / 2.0)
    omega = 1.0 / 100**omega

    def embed(values: torch.Tensor) -> torch.Tensor:  # [n] -> [2Q, n]
        angles = values.double()[:, None] * omega
        return torch.cat([angles.sin(), angles.cos()], dim=-1).float().T

    return embed(xs), embed(ys)


def uv_position_embedding(
    channels: int, rows: int, cols: int, aspect_ratio: float, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Sinusoidal embedding [channels, rows, cols] of a normalised image-plane grid.

    The grid spans ``±aspect/diag`` in x and ``±1/diag`` in y (``diag = sqrt(aspect² + 1)``), shrunk
    by ``(n - 1) / n`` so samples sit at cell centres. Channels are ``[sin(xω), cos(xω), sin(yω),
    cos(yω)]`` with ``ω_k = 100^(-k / (channels/4))``, evaluated in float64 and returned as float32.
    """
    ex, ey = uv_embedding_factors(channels, rows, cols, aspect_ratio, dtype, device)
    return torch.cat([ex[:, None, :].expand(-1, rows, -1), ey[:, :, None].expand(-1, -1, cols)], dim=0)


def add_uv_embedding_(x: torch.Tensor, aspect_ratio: float, scale: float = 0.1) -> torch.Tensor:
    """``x += scale * uv_position_embedding(...)`` in place, without materialising the full grid.

    The embedding is separable (x channels vary along columns only, y channels along rows only),
    so each half is broadcast-added; the arithmetic per element is the same as the dense form.
    """
    channels, rows, cols = x.shape[-3:]
    ex, ey = uv_embedding_factors(channels, rows, cols, aspect_ratio, x.dtype, x.device)
    half = channels // 2
    x[..., :half, :, :] += (ex * scale)[:, None, :]
    x[..., half:, :, :] += (ey * scale)[:, :, None]
    return x


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


class ResidualConvUnit(nn.Module):
    """``relu(x) + conv2(relu(conv1(relu(x))))``.

    The skip adds ``relu(x)``, not ``x``: the reference applies its first ReLU in place, so the
    checkpoint was trained with the rectified input on the skip path.
    """

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        return x + self.conv2(F.relu(self.conv1(x)))


class FusionBlock(nn.Module):
    """``out_conv(resize(rcu2(x + rcu1(skip))))``; the coarsest block has no skip input."""

    def __init__(self, features: int, has_skip: bool = True):
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(features) if has_skip else None
        self.resConfUnit2 = ResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, features, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, size: Sequence[int]) -> torch.Tensor:
        if self.resConfUnit1 is not None:
            assert skip is not None
            x = x + self.resConfUnit1(skip)
        return self.out_conv(_resize(self.resConfUnit2(x), size))


class Scratch(nn.Module):
    """The fusion trunk; named ``scratch`` in the checkpoint."""

    def __init__(self, out_channels: Sequence[int], features: int, output_dim: int | None):
        super().__init__()
        for i, channels in enumerate(out_channels, start=1):
            setattr(self, f"layer{i}_rn", nn.Conv2d(channels, features, 3, padding=1, bias=False))
        self.refinenet1 = FusionBlock(features)
        self.refinenet2 = FusionBlock(features)
        self.refinenet3 = FusionBlock(features)
        self.refinenet4 = FusionBlock(features, has_skip=False)
        if output_dim is None:  # feature extractor: F -> F
            self.output_conv1 = nn.Conv2d(features, features, 3, padding=1)
            self.output_conv2 = None
        else:
            self.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
            self.output_conv2 = nn.Sequential(
                nn.Conv2d(features // 2, 32, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(32, output_dim, 1)
            )

    def fuse(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """Fuse the four resized layer features, finest first; ``feats`` is emptied as it goes.

        Each level is projected only when its fusion block needs it and dropped after, so at most
        one pyramid level besides the running map is alive (the values do not depend on the order).
        """
        sizes = [tuple(f.shape[-2:]) for f in feats]
        out = None
        for level in (4, 3, 2, 1):
            skip = getattr(self, f"layer{level}_rn")(feats.pop())
            size = sizes[level - 2] if level > 1 else (2 * sizes[0][0], 2 * sizes[0][1])
            block = getattr(self, f"refinenet{level}")
            out = block(skip, None, size) if out is None else block(out, skip, size)
            del skip
        return self.output_conv1(out)


class DPTHead(nn.Module):
    """Dense head. With ``output_dim=None`` it returns feature maps [B, S, F, H/r, W/r]; otherwise
    predictions [B, S, H, W, output_dim - 1] and a confidence [B, S, H, W] (last channel)."""

    def __init__(
        self,
        dim_in: int,
        patch_size: int,
        features: int,
        out_channels: Sequence[int],
        layer_indices: Sequence[int],
        output_dim: int | None,
        activation: str = "linear",
        conf_activation: str = "expp1",
        pos_embed: bool = True,
        down_ratio: int = 1,
        frames_chunk_size: int | None = 1,
    ):
        super().__init__()
        if len(out_channels) != 4 or len(layer_indices) != 4:
            raise ValueError("DPTHead needs exactly 4 out_channels and 4 layer indices")
        if output_dim is not None and (activation not in POINT_ACTIVATIONS or conf_activation not in CONF_ACTIVATIONS):
            raise ValueError(
                f"unknown activation {activation!r}/{conf_activation!r}; "
                f"expected one of {sorted(POINT_ACTIVATIONS)} / {sorted(CONF_ACTIVATIONS)}"
            )
        self.patch_size = patch_size
        self.layer_indices = tuple(layer_indices)
        self.use_pos_embed = pos_embed
        self.down_ratio = down_ratio
        self.frames_chunk_size = frames_chunk_size
        self.activation = POINT_ACTIVATIONS[activation] if output_dim is not None else None
        self.conf_activation = CONF_ACTIVATIONS[conf_activation] if output_dim is not None else None
        self.norm = nn.LayerNorm(dim_in)
        self.projects = nn.ModuleList(nn.Conv2d(dim_in, c, 1) for c in out_channels)
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(out_channels[0], out_channels[0], 4, stride=4),
                nn.ConvTranspose2d(out_channels[1], out_channels[1], 2, stride=2),
                nn.Identity(),
                nn.Conv2d(out_channels[3], out_channels[3], 3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(out_channels, features, output_dim)

    def _forward_frames(
        self, layers: Mapping[int, torch.Tensor], patch_start_idx: int, image_hw: tuple[int, int], frames: slice
    ) -> torch.Tensor:
        height, width = image_hw
        rows, cols = height // self.patch_size, width // self.patch_size
        aspect = width / height
        feats = []
        for j, index in enumerate(self.layer_indices):
            tokens = layers[index][:, frames, patch_start_idx:]  # [B, s, L, C]
            tokens = tokens.to(torch.promote_types(tokens.dtype, torch.float32))  # kept layers may be bf16
            x = self.norm(tokens.flatten(0, 1))  # [B*s, L, C]
            x = x.transpose(1, 2).unflatten(-1, (rows, cols))  # [B*s, C, h, w]
            x = self.projects[j](x)
            if self.use_pos_embed:
                x = add_uv_embedding_(x, aspect)  # x is a fresh conv output
            feats.append(self.resize_layers[j](x))
            del tokens, x
        out = self.scratch.fuse(feats)
        out = _resize(out, (rows * self.patch_size // self.down_ratio, cols * self.patch_size // self.down_ratio))
        if self.use_pos_embed:
            out = add_uv_embedding_(out, aspect)  # out is a fresh resize output
        if self.scratch.output_conv2 is not None:
            out = self.scratch.output_conv2(out)
        return out  # [B*s, D, H', W']

    def forward(
        self, layers: Mapping[int, torch.Tensor], image_hw: tuple[int, int], patch_start_idx: int
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        any_layer = layers[self.layer_indices[0]]
        batch, num_frames = any_layer.shape[:2]
        chunk = self.frames_chunk_size or num_frames
        out: torch.Tensor | None = None  # [B, S, D, H', W'], filled chunk by chunk
        for start in range(0, num_frames, chunk):
            frames = slice(start, min(start + chunk, num_frames))
            part = self._forward_frames(layers, patch_start_idx, image_hw, frames).unflatten(0, (batch, -1))
            if out is None:
                if frames.stop == num_frames:
                    out = part
                    break
                out = part.new_empty(batch, num_frames, *part.shape[2:])
            out[:, frames] = part
            del part
        if self.activation is None:
            return out
        out = out.permute(0, 1, 3, 4, 2)  # channels last
        return self.activation(out[..., :-1]), self.conf_activation(out[..., -1])
