"""Two-dimensional rotary position embedding (RoPE) of the aggregator.

Axis letters: ``N`` tokens, ``D`` head dimension. Each head vector is split in two halves: the first
half is rotated by the token's row (y) position, the second by its column (x) position. Inside each
half the "rotate-half" layout pairs dimension ``k`` with ``k + D/4``. Frequencies are
``base ** (-k / (D/4))`` for ``k < D/4``; angles are evaluated in float32 as ``position * frequency``.
Position (0, 0) is the identity, which is how the camera and register tokens stay unrotated.
"""

from __future__ import annotations

import torch

__all__ = ["RopeTable", "rope_table", "apply_rope", "patch_positions"]

RopeTable = tuple[torch.Tensor, torch.Tensor]  # (cos, sin), each [N, D]


def patch_positions(rows: int, cols: int, num_special: int, device: torch.device | None = None) -> torch.Tensor:
    """Integer (y, x) positions [num_special + rows*cols, 2] of one frame's tokens.

    Special tokens sit at (0, 0); the patch at grid (r, c) gets (r + 1, c + 1), enumerated row-major.
    """
    ys = torch.arange(rows, device=device).repeat_interleave(cols)
    xs = torch.arange(cols, device=device).repeat(rows)
    grid = torch.stack([ys, xs], dim=-1) + 1
    special = torch.zeros(num_special, 2, dtype=grid.dtype, device=device)
    return torch.cat([special, grid], dim=0)


def rope_table(positions: torch.Tensor, head_dim: int, base: float, dtype: torch.dtype = torch.float32) -> RopeTable:
    """Cosine and sine tables [N, head_dim] for integer positions [N, 2] (y, x)."""
    if head_dim % 4:
        raise ValueError(f"2-D RoPE needs head_dim divisible by 4, got {head_dim}")
    quarter = head_dim // 4
    exponents = torch.arange(0, 2 * quarter, 2, device=positions.device).float() / (2 * quarter)
    inv_freq = 1.0 / (base**exponents)  # [D/4], float32
    angles = positions.float()[..., None] * inv_freq  # [N, 2, D/4]
    angles = torch.cat([angles, angles], dim=-1).flatten(-2)  # [N, D]: y-half then x-half
    return angles.cos().to(dtype), angles.sin().to(dtype)


def _rotate_halves(x: torch.Tensor) -> torch.Tensor:
    # [..., D] -> [..., 2 axes, 2 halves, D/4]; each axis half (u, v) becomes (-v, u).
    parts = x.unflatten(-1, (2, 2, -1))
    return torch.cat([-parts[..., 1:, :], parts[..., :1, :]], dim=-2).flatten(-3)


def apply_rope(x: torch.Tensor, table: RopeTable) -> torch.Tensor:
    """Rotate ``x`` [..., N, D] with a table [N, D] (broadcast over leading axes)."""
    cos, sin = table
    return x * cos + _rotate_halves(x) * sin
