"""The inference memory model (vggt_py.inference.memory)."""

from __future__ import annotations

import pytest
import torch

from vggt_py import VGGT, VGGTConfig
from vggt_py.inference.memory import INFO_HEIGHT, INFO_WIDTH, available_memory, estimate_memory, frames_that_fit


def test_memory_model_known_values() -> None:
    config = VGGTConfig()  # VGGT-1B: P = 5 + 37 * 28 = 1041 tokens, 4 layers kept (4, 11, 17, 23)
    pixels = INFO_HEIGHT * INFO_WIDTH
    fp32 = estimate_memory(config, 1, num_params=1000)
    assert fp32.weights == 4000
    assert estimate_memory(config, 1, num_params=1000, compute_dtype=torch.bfloat16).weights == 6000
    assert fp32.heads_per_frame == 2 * 3 * pixels * 4 + 4 * 1041 * 2048 * 4 + 36 * pixels
    assert fp32.chunk_frames == 1
    assert estimate_memory(config, 20, num_params=1000, frames_chunk_size=8).chunk_frames == 8
    assert estimate_memory(config, 20, num_params=1000, frames_chunk_size=None).chunk_frames == 20
    # linear growth beyond the dense-head chunk
    totals = [estimate_memory(config, s, num_params=1000).total for s in (100, 101, 200, 201)]
    assert totals[1] - totals[0] == totals[3] - totals[2] > 0
    with pytest.raises(ValueError, match="multiples of the patch size"):
        estimate_memory(config, 1, 100, 100, num_params=1)
    with pytest.raises(ValueError, match="frames"):
        estimate_memory(config, -1, num_params=1)


def test_frames_that_fit_inverts_the_estimate(tiny_config: VGGTConfig) -> None:
    params = sum(p.numel() for p in VGGT(tiny_config).parameters())
    assert estimate_memory(tiny_config, 3).weights == params * 4  # parameter count from the config
    for available in (2**30, 2**32, 2**35):
        fit = frames_that_fit(tiny_config, available)
        assert fit >= 1
        assert estimate_memory(tiny_config, fit).total <= 0.9 * available < estimate_memory(tiny_config, fit + 1).total
    assert frames_that_fit(tiny_config, params * 4) == 0  # the weights alone take it all
    assert available_memory(torch.device("cpu")) > 0
