"""Process-group setup and model wrapping for multi-process training (torchrun).

``torchrun --nproc-per-node=N -m vggt_py.cli train run.yaml`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`init_distributed` then joins the process group (NCCL on CUDA, Gloo on CPU)
and picks the device. Without those variables everything runs in one process.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Literal

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistributedContext", "all_reduce_mean", "init_distributed", "resolve_device", "wrap_model"]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: ``rank`` of ``world_size`` (``local_rank`` on its node), on ``device``."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def shutdown(self) -> None:
        """Leave the process group if :func:`init_distributed` created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def resolve_device(preference: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:<local_rank>`` when CUDA is available, else CPU; ``"cuda"`` gets the local rank."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference == "cuda":
        preference = f"cuda:{local_rank}"
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} requested but CUDA is not available")
    return device


def init_distributed(device: str = "auto", timeout_minutes: float = 30.0) -> DistributedContext:
    """Join the process group described by ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` (if any).

    An already-initialised group (e.g. by a test harness) is reused.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= RANK < WORLD_SIZE, got RANK={rank}, WORLD_SIZE={world_size}")
    torch_device = resolve_device(device, local_rank)
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    owns = False
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        dist.init_process_group(
            backend=backend, rank=rank, world_size=world_size, timeout=datetime.timedelta(minutes=timeout_minutes)
        )
        owns = True
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistributedContext(rank, world_size, local_rank, torch_device, owns)


def wrap_model(
    module: nn.Module,
    context: DistributedContext,
    strategy: Literal["ddp", "fsdp"] = "ddp",
    find_unused_parameters: bool = False,
) -> nn.Module:
    """``module`` on its device, wrapped for data parallelism when distributed.

    "ddp": DistributedDataParallel (a full replica per process). "fsdp": FSDP2 ``fully_shard`` on every
    transformer block and head, then the root (parameters sharded across processes; for models that do
    not fit on one device). The track head's feature extractor and tracker are sharded separately,
    because :class:`~vggt_py.training.module.TrainingModule` calls them directly.
    """
    module = module.to(context.device)
    if not context.distributed:
        return module
    if strategy == "ddp":
        device_ids = [context.device.index] if context.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(
            module,
            device_ids=device_ids,
            find_unused_parameters=find_unused_parameters,
            gradient_as_bucket_view=True,
            bucket_cap_mb=25,
        )
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        named = list(module.named_modules())
        blocks = [
            block
            for name, child in named
            if name.endswith(("blocks", "trunk")) and isinstance(child, (nn.ModuleList, nn.Sequential))
            for block in child
        ]
        model = getattr(module, "model", module)  # the VGGT inside a TrainingModule
        heads = [getattr(model, name, None) for name in ("camera_head", "depth_head", "point_head")]
        if getattr(model, "track_head", None) is not None:  # TrainingModule calls its two parts directly
            heads += [model.track_head.feature_extractor, model.track_head.tracker]
        heads = [head for head in heads if head is not None]
        for part in blocks + heads:  # children before parents, as FSDP2 requires
            fully_shard(part)
        fully_shard(module)
        return module
    raise ValueError(f"strategy must be 'ddp' or 'fsdp', got {strategy!r}")


def all_reduce_mean(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Mean of ``values`` over all processes (identity in a single process)."""
    if not context.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / context.world_size
