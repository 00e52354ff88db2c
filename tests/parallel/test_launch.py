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


def test_init_from_env_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not dist.is_initialized()
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(ValueError, match="RANK is not set: start the processes with `torchrun"):
        init_from_env("gloo")
    with pytest.raises(ValueError, match="backend must be one of \\['gloo', 'nccl'\\], got 'mpi'"):
        init_from_env("mpi")


def test_init_from_env_joins_a_gloo_group(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for name, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": str(port)}.items():
        monkeypatch.setenv(name, value)
    info = init_from_env(device="cpu")
    try:
        assert (info.rank, info.world_size, info.backend, info.device) == (0, 1, "gloo", torch.device("cpu"))
        assert info.is_first and dist.is_initialized()
        assert init_from_env() == info  # already joined: the same group
    finally:
        dist.destroy_process_group()
