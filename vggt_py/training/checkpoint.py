"""Training checkpoints: model, optimizer, scheduler, RNG states and data position, written atomically.

A checkpoint is a ``torch.save`` dict (loadable with ``weights_only=True``)::

    format      "vggt_py.training/1"
    model       state dict of the VGGT (checkpoint layout; LoRA adapters included when used)
    optimizer   full optimizer state (parameters named, so it also loads under DDP / FSDP)
    scheduler   LR scheduler state
    rng         per-rank python / numpy / torch (/ CUDA) generator states
    progress    {"epoch", "batch_in_epoch", "global_step"}: where to continue
    world_size  processes of the run (the RNG states are per rank)
    config      the TrainConfig as a dict
    model_config  the VGGTConfig of the model as a dict, so ``VGGT.from_pretrained("…/last.pt")`` and
                ``--model …/last.pt`` build the right architecture (LoRA runs: load ``final/`` instead)

Saving and loading are collective under DDP / FSDP (every rank calls them); rank 0 writes.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)

from vggt_py.errors import OutputError
from vggt_py.hub import TRAINING_CHECKPOINT_FORMAT
from vggt_py.training.distributed import DistributedContext
from vggt_py.utils.io import atomic_path

__all__ = [
    "CHECKPOINT_FORMAT",
    "capture_rng_state",
    "full_model_state_dict",
    "load_training_checkpoint",
    "remove_stale_temporaries",
    "restore_rng_state",
    "save_training_checkpoint",
    "write_checkpoint_file",
]

CHECKPOINT_FORMAT = TRAINING_CHECKPOINT_FORMAT
_PREFIX = "model."  # TrainingModule holds the VGGT as .model
log = logging.getLogger(__name__)


def capture_rng_state() -> dict[str, Any]:
    """The python, numpy and torch (and CUDA) generator states, as tensors and plain values."""
    version, mt_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": (version, torch.tensor(mt_state, dtype=torch.int64), gauss),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(int(v) for v in mt_state.tolist()), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _options(cpu_offload: bool) -> StateDictOptions:
    return StateDictOptions(full_state_dict=True, cpu_offload=cpu_offload)


def full_model_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """Full (unsharded, CPU) state dict of the VGGT inside a (wrapped) TrainingModule. Collective."""
    state = get_model_state_dict(module, options=_options(cpu_offload=True))
    return {k[len(_PREFIX) :]: v for k, v in state.items() if k.startswith(_PREFIX)}


def save_training_checkpoint(
    path: str | os.PathLike[str],
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    progress: dict[str, int],
    context: DistributedContext,
    config: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint (format in the module docstring) atomically. Collective; rank 0 writes."""
    model_state, optim_state = get_state_dict(module, optimizer, options=_options(cpu_offload=True))
    rng = [capture_rng_state()]
    if context.distributed:
        gathered: list[Any] = [None] * context.world_size
        dist.all_gather_object(gathered, rng[0])
        rng = gathered
    if context.is_main:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "model": {k[len(_PREFIX) :]: v for k, v in model_state.items() if k.startswith(_PREFIX)},
            "optimizer": optim_state,
            "scheduler": scheduler.state_dict(),
            "rng": rng,
            "progress": dict(progress),
            "world_size": context.world_size,
            "config": config,
            "model_config": model_config,
        }
        write_checkpoint_file(path, payload)
    context.barrier()


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove ``.<name>.*.tmp`` files next to ``path`` that a killed run left; returns them."""
    target = Path(path)
    stale = sorted(target.parent.glob(f".{target.name}.*.tmp")) if target.parent.is_dir() else []
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def write_checkpoint_file(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """``torch.save`` to ``path`` atomically; a failure leaves the previous file and no temporary.

    Leftover temporaries of killed runs are removed first. A full disk or an unwritable folder is
    reported as :class:`~vggt_py.errors.OutputError` naming the file (torch's own message is
    ``PytorchStreamWriter failed writing file ...``).
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target)
        with atomic_path(target) as tmp:
            torch.save(payload, tmp)
    except (OSError, RuntimeError) as err:
        if isinstance(err, RuntimeError) and "write" not in str(err).lower():
            raise
        try:
            free = f"{shutil.disk_usage(target.parent).free / 2**20:,.0f} MiB free"
        except OSError:
            free = "free space unknown"
        reason = os.strerror(err.errno) if isinstance(err, OSError) and err.errno else str(err)
        raise OutputError(
            f"could not write the training checkpoint {target} ({reason}; {free} in {target.parent}); "
            "the previous checkpoint, if any, is unchanged. Free space or choose another output folder."
        ) from err


def load_training_checkpoint(
    path: str | os.PathLike[str],
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    context: DistributedContext,
) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and this rank's RNG state; returns the checkpoint's other entries.

    Raises:
        ValueError: if the file is not a training checkpoint of this format or does not fit the model.
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(f"cannot read training checkpoint {str(path)!r}: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{str(path)!r} is not a vggt_py training checkpoint (format {CHECKPOINT_FORMAT!r})")
    model_state = {_PREFIX + k: v for k, v in payload["model"].items()}
    try:
        set_state_dict(
            module,
            optimizer,
            model_state_dict=model_state,
            optim_state_dict=payload["optimizer"],
            options=StateDictOptions(full_state_dict=True, strict=True),
        )
    except (RuntimeError, KeyError, ValueError) as err:
        raise ValueError(f"checkpoint {str(path)!r} does not fit this model / optimizer: {err}") from err
    scheduler.load_state_dict(payload["scheduler"])
    rng = payload["rng"]
    if payload.get("world_size") == context.world_size and len(rng) == context.world_size:
        restore_rng_state(rng[context.rank])
    else:
        log.warning(
            "checkpoint %s was written by %s process(es), this run has %d: RNG states not restored and the data "
            "order differs",
            path,
            payload.get("world_size"),
            context.world_size,
        )
    return payload
