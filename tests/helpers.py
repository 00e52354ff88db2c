"""Helpers shared by the tests (importable as ``helpers``; ``tests/`` is on the pytest path)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vggt_py import VGGT, VGGTConfig

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


def sane_tiny_model(img_size: int = 140) -> VGGT:
    """The tiny random model with a camera head tamed to plausible cameras (fov ~ 1 rad, near identity)."""
    torch.manual_seed(0)
    config = VGGTConfig.from_preset("tiny").replace(img_size=img_size)
    model = VGGT(config).eval()
    with torch.no_grad():
        last = model.camera_head.pose_branch.fc2
        last.weight.mul_(0.05)
        last.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.2]) / config.camera_head.iters)
    return model


def write_photos(folder: Path, size: tuple[int, int], count: int) -> Path:
    """``count`` random-noise PNGs of ``size`` = (width, height) named 00.png, 01.png, ... in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def check_metrics(metrics: dict[str, float | None]) -> None:
    """The demo report's metrics: finite values in their ranges (no quality bar: the bundled weights may be a placeholder)."""
    for key in ("camera/auc@30", "camera/auc@15", "camera/auc@5", "camera/rra@15", "camera/rta@15"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert 0.0 <= metrics["depth/delta<1.25"] <= 1.0 and metrics["depth/abs_rel"] >= 0.0
    for group in ("points", "points_head"):
        assert metrics[f"{group}/chamfer"] == pytest.approx(
            0.5 * (metrics[f"{group}/accuracy"] + metrics[f"{group}/completeness"])
        )
    assert all(value is not None and math.isfinite(value) for value in metrics.values())
