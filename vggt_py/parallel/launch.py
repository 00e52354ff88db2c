"""Joining the process group that ``torchrun`` describes in the environment.

``torchrun --nproc-per-node=N`` starts N processes with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` set; :func:`init_from_env` joins that group (NCCL with one GPU per
process when CUDA is available, gloo on CPU) and says which device this process computes on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["LaunchInfo", "init_from_env", "launched_by_torchrun"]

_BACKENDS = ("gloo", "nccl")


@dataclass(frozen=True)
class LaunchInfo:
    """This process's place in the group: ``rank`` of ``world_size``, computing on ``device``."""

    rank: int
    world_size: int
    device: torch.device
    backend: str

    @property
    def is_first(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """Whether the environment describes a group of more than one process (``WORLD_SIZE`` > 1)."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value) > 1
    except ValueError:
        raise ValueError(f"WORLD_SIZE must be an integer, got {value!r}") from None


def _env_int(name: str) -> int:
    value = os.environ.get(name)
    if value is None:
        raise ValueError(f"{name} is not set: start the processes with `torchrun --nproc-per-node=N ...`")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def init_from_env(backend: str | None = None, device: str | torch.device | None = None) -> LaunchInfo:
    """Join the group described by torchrun's environment variables (or the one already joined).

    ``backend``: ``"nccl"`` (default when CUDA is available; process ``LOCAL_RANK`` takes GPU
    ``LOCAL_RANK``) or ``"gloo"`` (default otherwise; CPU). ``device`` overrides the device.
    """
    if backend is not None and backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {list(_BACKENDS)}, got {backend!r}")
    if device is not None:
        device = torch.device(device)
    if not dist.is_initialized():
        rank, world = _env_int("RANK"), _env_int("WORLD_SIZE")
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        if backend is None:
            wants_cuda = device.type == "cuda" if device is not None else torch.cuda.is_available()
            backend = "nccl" if wants_cuda else "gloo"
        if device is None:
            device = torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")
        if device.type == "cuda":
            if device.index is None:
                device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group(backend, rank=rank, world_size=world)
    else:
        backend = dist.get_backend()
        if device is None:
            device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
    return LaunchInfo(dist.get_rank(), dist.get_world_size(), device, str(backend))
