"""Helpers shared by the tests (importable as ``helpers``; ``tests/`` is on the pytest path)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


def parity_root() -> Path:
    return Path(os.environ.get("VGGT_PARITY_DIR", SHARED / "parity"))


def parity_cases() -> list[Path]:
    root = parity_root()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "outputs.safetensors").is_file())


def random_images(batch: int | None, frames: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (frames, 3, height, width) if batch is None else (batch, frames, 3, height, width)
    return torch.rand(shape, generator=g)
