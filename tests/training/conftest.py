"""Fixtures of the training tests: a micro VGGT (fast on one CPU thread) and small training configs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from vggt_py import VGGT, VGGTConfig
from vggt_py.config import (
    AggregatorConfig,
    CameraHeadConfig,
    DPTHeadConfig,
    PatchEmbedConfig,
    TrackHeadConfig,
)
from vggt_py.training.config import TrainConfig, deep_merge


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One intra-op thread: fast for micro models and immune to a busy shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_micro_config() -> VGGTConfig:
    """A ~350k-parameter VGGT with every head (conv patch embedding, 2 aggregator layers)."""
    dpt = dict(features=16, out_channels=(8, 16, 32, 32), intermediate_layer_idx=(0, 1, 1, 1))
    return VGGTConfig(
        img_size=28,
        patch_size=14,
        embed_dim=32,
        aggregator=AggregatorConfig(depth=2, num_heads=2),
        patch_embed=PatchEmbedConfig(type="conv", embed_dim=32),
        camera_head=CameraHeadConfig(trunk_depth=1, num_heads=2, iters=2),
        depth_head=DPTHeadConfig(**dpt),
        point_head=DPTHeadConfig(**dpt),
        track_head=TrackHeadConfig(
            **dpt,
            iters=2,
            corr_levels=2,
            corr_radius=1,
            hidden_size=16,
            transformer_depth=1,
            transformer_heads=2,
            num_virtual_tracks=4,
        ),
    )


@pytest.fixture
def micro_config() -> VGGTConfig:
    return make_micro_config()


@pytest.fixture
def micro_model() -> VGGT:
    torch.manual_seed(0)
    return VGGT(make_micro_config())


@pytest.fixture
def micro_config_file(tmp_path: Path) -> Path:
    path = tmp_path / "micro.json"
    make_micro_config().to_json(path)
    return path


BASE: dict[str, Any] = {
    "data": {
        "synthetic": {
            "num_scenes": 3,
            "val_scenes": 0,
            "frames_per_scene": 4,
            "height": 28,
            "width": 28,
            "difficulty": "easy",
        },
        "frames": [2, 3],
        "aspect_range": [0.5, 1.0],
        "max_side": 28,
        "images_per_batch": 4,
        "batches_per_epoch": 4,
        "num_tracks": 8,
        "val_frames": 2,
    },
    "optim": {"lr": 1e-3, "warmup_fraction": 0.2},
    "train": {"max_epochs": 1, "progress": False, "tensorboard": False, "save_final": False, "val_every_epochs": 0},
}


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., TrainConfig]:
    """``make_config(output="run", **sections)``: BASE merged with ``sections`` (dicts), output under tmp_path."""

    def make(output: str = "run", overrides: tuple[str, ...] = (), **sections: dict[str, Any]) -> TrainConfig:
        data = deep_merge(BASE, sections)
        data = deep_merge(data, {"train": {"output_dir": str(tmp_path / output)}})
        return TrainConfig.from_dict(data, overrides)

    return make
