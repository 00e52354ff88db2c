"""A process's share of a scene whose frames are split across a ``torch.distributed`` group.

Axis letters: ``B`` scenes, ``S`` frames, ``P`` tokens per frame, ``C`` channels.

The frames of every scene are split into contiguous runs, one per rank in rank order (rank 0
always holds frame 0); runs may differ in length but none is empty. Collectives pad each run to the
longest one, so gloo's and NCCL's equal-size all-gather serve uneven splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["FrameShard", "split_frames"]


def split_frames(frames: int, world_size: int) -> tuple[int, ...]:
    """Frames per rank of a contiguous split as even as possible (the first ranks take the remainder)."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if frames < world_size:
        raise ValueError(
            f"cannot split {frames} frame(s) across {world_size} processes: every process needs at least one "
            f"frame (use at most {frames} processes)"
        )
    base, extra = divmod(frames, world_size)
    return tuple(base + (1 if r < extra else 0) for r in range(world_size))


@dataclass(frozen=True)
class FrameShard:
    """Frames ``offset .. offset + local - 1`` of ``total``, held by ``rank`` of ``group``.

    ``counts`` lists every rank's frame count (rank order); ``group`` is a process group (``None``:
    the default group). Built by :func:`vggt_py.parallel.make_shard`, which checks the setup.
    """

    counts: tuple[int, ...]
    rank: int
    group: Any = None

    def __post_init__(self) -> None:
        if not self.counts or any(c < 1 for c in self.counts):
            raise ValueError(f"every rank needs at least one frame, got frame counts {self.counts}")
        if not 0 <= self.rank < len(self.counts):
            raise ValueError(f"rank {self.rank} out of range for {len(self.counts)} ranks")

    @property
    def world_size(self) -> int:
        return len(self.counts)

    @property
    def offset(self) -> int:
        """Global index of this rank's first frame."""
        return sum(self.counts[: self.rank])

    @property
    def local(self) -> int:
        return self.counts[self.rank]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def frames(self) -> slice:
        """This rank's frames as a slice of the whole scene."""
        return slice(self.offset, self.offset + self.local)

    @property
    def holds_first_frame(self) -> bool:
        return self.rank == 0

    def gather(self, x: torch.Tensor, dim: int, per_frame: int = 1) -> torch.Tensor:
        """All ranks' ``x`` concatenated along ``dim``, which holds ``per_frame`` entries per local frame.

        Differentiable when autograd records (``torch.distributed.nn``'s all-gather).
        """
        dim = dim % x.dim()
        if x.shape[dim] != self.local * per_frame:
            raise ValueError(
                f"expected {self.local} frame(s) x {per_frame} along dim {dim}, got shape {tuple(x.shape)}"
            )
        if self.world_size == 1:
            return x
        longest = max(self.counts) * per_frame
        if x.shape[dim] < longest:
            pad_shape = list(x.shape)
            pad_shape[dim] = longest - x.shape[dim]
            x = torch.cat([x, x.new_zeros(pad_shape)], dim=dim)
        x = x.contiguous()
        if torch.is_grad_enabled() and x.requires_grad:
            import torch.distributed.nn.functional as dist_nn

            parts = list(dist_nn.all_gather(x, group=self.group))
        else:
            parts = [torch.empty_like(x) for _ in self.counts]
            dist.all_gather(parts, x, group=self.group)
        return torch.cat([p.narrow(dim, 0, c * per_frame) for p, c in zip(parts, self.counts)], dim=dim)

    def broadcast_from_first(self, x: torch.Tensor) -> torch.Tensor:
        """Rank 0's ``x`` (same shape and dtype on every rank) on every rank."""
        if self.world_size == 1:
            return x
        x = x.contiguous()
        source = dist.get_global_rank(self.group, 0) if self.group is not None else 0
        dist.broadcast(x, src=source, group=self.group)
        return x
