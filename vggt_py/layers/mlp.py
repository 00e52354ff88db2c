"""Two-layer perceptron with exact (erf) GELU."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Mlp"]


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))``; key names ``fc1`` / ``fc2`` as in the checkpoint."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int | None = None, bias: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features, bias=bias)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, out_features or in_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))

    def forward_inplace(self, x: torch.Tensor) -> torch.Tensor:
        """The same values as :meth:`forward`, with GELU in place on the hidden tensor (no autograd)."""
        hidden = self.fc1(x)
        if hidden.requires_grad and torch.is_grad_enabled():
            return self.fc2(self.act(hidden))
        torch.ops.aten.gelu_(hidden)
        return self.fc2(hidden)
