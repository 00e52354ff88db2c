"""Process-group helpers in a single process (the 2-process run is in test_trainer.py)."""

from __future__ import annotations

import pytest
import torch

from vggt_py.training.distributed import (
    all_reduce_mean,
    init_distributed,
    resolve_device,
    wrap_model,
)


def test_single_process_context(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = init_distributed("cpu")
    assert (context.rank, context.world_size, context.distributed, context.is_main) == (0, 1, False, True)
    assert context.device == torch.device("cpu")
    module = torch.nn.Linear(2, 2)
    assert wrap_model(module, context) is module
    values = torch.tensor([1.0, 2.0])
    assert torch.equal(all_reduce_mean(values, context), values)
    context.barrier()
    context.shutdown()


def test_bad_environment(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(ValueError, match="0 <= RANK < WORLD_SIZE"):
        init_distributed("cpu")
    monkeypatch.setenv("RANK", "zero")
    with pytest.raises(ValueError, match="RANK must be an integer"):
        init_distributed("cpu")


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert resolve_device("cuda", local_rank=0) == torch.device("cuda:0")
    else:
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
