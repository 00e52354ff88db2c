"""Shared fixtures: tiny models."""

from __future__ import annotations

import pytest
import torch

from vggt_py import VGGT, VGGTConfig


@pytest.fixture
def tiny_config() -> VGGTConfig:
    return VGGTConfig.from_preset("tiny")


@pytest.fixture
def tiny_model(tiny_config: VGGTConfig) -> VGGT:
    torch.manual_seed(0)
    return VGGT(tiny_config).eval()
