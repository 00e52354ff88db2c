"""Multi-head self-attention with optional per-head q/k LayerNorm and 2-D RoPE."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from vggt_py.layers.rope import RopeTable, apply_rope

__all__ = ["Attention", "KVGather"]

# Maps this process's keys and values [B, H, N, D] to those of every token the queries attend to
# (context-parallel global attention); see ``vggt_py.parallel``.
KVGather = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class Attention(nn.Module):
    """Fused qkv projection, scaled dot-product attention, output projection.

    Axis letters: ``B`` sequences, ``N`` tokens, ``C`` channels, ``H`` heads, ``D`` head dim.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        qk_norm: bool = False,
        norm_eps: float = 1e-5,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.q_norm = nn.LayerNorm(self.head_dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim, bias=proj_bias)

    def forward(self, x: torch.Tensor, rope: RopeTable | None = None, kv_gather: KVGather | None = None) -> torch.Tensor:
        """``x`` [B, N, C] -> [B, N, C]. With ``kv_gather`` the queries attend to the gathered keys/values.

        q/k norms and RoPE act per token, so gathering keys after them is exact.
        """
        qkv = self.qkv(x).unflatten(-1, (3, self.num_heads, self.head_dim))  # [B, N, 3, H, D]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, N, D]
        q, k = self.q_norm(q), self.k_norm(k)
        if not isinstance(self.k_norm, nn.Identity) and not torch.is_grad_enabled():
            v = v.contiguous()  # q and k are fresh tensors now: let the fused qkv go
        del qkv
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        if kv_gather is not None:
            k, v = kv_gather(k, v)  # [B, H, N_all, D]
        out = F.scaled_dot_product_attention(q, k, v)  # [B, H, N, D]
        return self.proj(out.transpose(1, 2).flatten(-2))
