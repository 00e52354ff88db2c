"""Checkpoint helpers: RNG capture / restore, file validation."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from vggt_py.training.checkpoint import (
    capture_rng_state,
    load_training_checkpoint,
    restore_rng_state,
)
from vggt_py.training.distributed import init_distributed


def test_rng_round_trip():
    state = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_rng_state_loads_with_weights_only(tmp_path):
    torch.save({"rng": capture_rng_state()}, tmp_path / "s.pt")
    loaded = torch.load(tmp_path / "s.pt", weights_only=True)["rng"]
    np.random.rand()
    restore_rng_state(loaded)


def test_rejects_files_that_are_not_training_checkpoints(tmp_path, micro_model):
    module = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(module.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    context = init_distributed("cpu")
    plain = tmp_path / "weights.pt"
    torch.save(module.state_dict(), plain)
    with pytest.raises(ValueError, match="is not a vggt_py training checkpoint"):
        load_training_checkpoint(plain, module, optimizer, scheduler, context)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot read training checkpoint"):
        load_training_checkpoint(broken, module, optimizer, scheduler, context)
