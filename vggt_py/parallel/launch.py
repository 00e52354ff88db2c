"""Joining the process group that ``torchrun`` describes in the environment, for inference.

``torchrun --nproc-per-node=N`` starts N processes with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` set. :func:`init_from_env` joins that group the way training does
(:func:`vggt_py.training.distributed.init_distributed`: NCCL with GPU ``LOCAL_RANK`` per process when
the device is CUDA, gloo on CPU) and returns where this process stands.
"""

from __future__ import annotations

import os

from vggt_py.training.distributed import DistributedContext, init_distributed

__all__ = ["DistributedContext", "init_from_env", "launched_by_torchrun"]


def launched_by_torchrun() -> bool:
    """Whether the environment describes a group of more than one process (``WORLD_SIZE`` > 1)."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value) > 1
    except ValueError:
        raise ValueError(f"WORLD_SIZE must be an integer, got {value!r}") from None


def init_from_env(device: str = "auto", timeout_minutes: float = 30.0) -> DistributedContext:
    """Join torchrun's group (or keep the one already joined); ``device``: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Without torchrun's variables this is a one-process context (``world_size`` 1, no group).
    """
    return init_distributed(device, timeout_minutes=timeout_minutes)
