"""Joining torchrun's process group from the environment (one process, gloo on loopback)."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist

from vggt_py.parallel import init_from_env, launched_by_torchrun


def test_launched_by_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not launched_by_torchrun()
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert launched_by_torchrun()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE must be an integer, got 'two'"):
        launched_by_torchrun()


def test_init_from_env_without_torchrun_is_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = init_from_env("cpu")
    assert (context.rank, context.world_size, context.device) == (0, 1, torch.device("cpu"))
    assert not context.distributed and not dist.is_initialized()


def test_init_from_env_joins_a_gloo_group(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # a group joined before (as a launcher script or a test harness does) is reused
    for name, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}.items():
        monkeypatch.setenv(name, value)
    dist.init_process_group("gloo", rank=0, world_size=1)
    try:
        context = init_from_env("cpu")
        assert (context.rank, context.world_size, context.device) == (0, 1, torch.device("cpu"))
        assert context.is_main and not context.owns_group  # an existing group is reused, not owned
    finally:
        dist.destroy_process_group()
