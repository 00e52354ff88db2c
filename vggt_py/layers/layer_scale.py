"""Per-channel learned residual scale (CaiT's LayerScale)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LayerScale"]


class LayerScale(nn.Module):
    def __init__(self, dim: int, init_value: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # bf16-stored gammas scale in float32, as float32 ones do under autocast
        gamma = self.gamma
        return x * gamma.to(torch.promote_types(gamma.dtype, torch.float32))
