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


def _save(path, module):
    from vggt_py.training.checkpoint import save_training_checkpoint

    optimizer = torch.optim.AdamW(module.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    save_training_checkpoint(path, module, optimizer, scheduler, {"step": 1}, init_distributed("cpu"))


def test_full_disk_while_checkpointing_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    from vggt_py.errors import OutputError

    module = torch.nn.Linear(2, 2)
    path = tmp_path / "checkpoints" / "last.pt"
    _save(path, module)
    before = path.read_bytes()
    stale = path.parent / ".last.pt.killed.tmp"  # what a SIGKILL during torch.save leaves
    stale.write_bytes(b"partial")

    def full_disk(payload, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"PK partial")
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0: file write failed")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OutputError, match=r"could not write the training checkpoint .*last\.pt \(.*file write failed"):
        _save(path, module)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no .tmp: neither ours nor the stale one
    monkeypatch.undo()
    stale.write_bytes(b"partial")
    _save(path, module)
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]
