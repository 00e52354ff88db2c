"""The inference memory model: bf16 weight storage, kept layers in the compute dtype, context-parallel ranks."""

from __future__ import annotations

import pytest
import torch

from vggt_py import VGGTConfig
from vggt_py.inference.memory import INFO_HEIGHT, INFO_WIDTH, estimate_memory, frames_that_fit
from vggt_py.layers.block import MLP_TOKEN_CHUNK

CONFIG = VGGTConfig()  # VGGT-1B: P = 5 + 37 * 28 = 1041 tokens, 4 layers kept (4, 11, 17, 23)
PARAMS = 1_256_537_516
TOKENS = 1041


def test_bf16_weights_take_two_bytes_each_and_no_autocast_copies() -> None:
    fp32_autocast = estimate_memory(CONFIG, 4, num_params=PARAMS, compute_dtype=torch.bfloat16)
    bf16 = estimate_memory(
        CONFIG, 4, num_params=PARAMS, compute_dtype=torch.bfloat16, weight_dtype=torch.bfloat16
    )
    assert fp32_autocast.weights == 6 * PARAMS
    assert bf16.weights == 2 * PARAMS
    assert fp32_autocast.total - bf16.total == 4 * PARAMS  # the rest is the same


def test_kept_layers_follow_the_compute_dtype() -> None:
    fp32 = estimate_memory(CONFIG, 1, num_params=PARAMS)
    bf16 = estimate_memory(CONFIG, 1, num_params=PARAMS, compute_dtype=torch.bfloat16)
    assert fp32.heads_per_frame - bf16.heads_per_frame == 4 * TOKENS * 2 * 1024 * 2


def test_mlp_slice_is_bounded_so_growth_per_frame_is_constant() -> None:
    totals = [estimate_memory(CONFIG, s, num_params=PARAMS, frames_chunk_size=1).total for s in (40, 41, 80, 81)]
    assert totals[1] - totals[0] == totals[3] - totals[2] > 0
    assert MLP_TOKEN_CHUNK < 40 * TOKENS


def test_ranks_hold_their_share_plus_the_gathered_keys_and_values() -> None:
    one = estimate_memory(CONFIG, 256, num_params=PARAMS, frames_chunk_size=1)
    four = estimate_memory(CONFIG, 256, num_params=PARAMS, frames_chunk_size=1, ranks=4)
    share = estimate_memory(CONFIG, 64, num_params=PARAMS, frames_chunk_size=1)  # the trunk is the peak
    assert share.total < four.total < one.total
    assert four.total - share.total == 2 * 256 * TOKENS * 1024 * 4  # every frame's K and V of one block
    three = estimate_memory(CONFIG, 7, num_params=PARAMS, ranks=3)  # uneven: the largest share is 3
    assert three.chunk_frames == min(3, 8)
    available = 40 * 2**30
    single = frames_that_fit(CONFIG, available, num_params=PARAMS, compute_dtype=torch.bfloat16)
    eight = frames_that_fit(CONFIG, available, num_params=PARAMS, compute_dtype=torch.bfloat16, ranks=8)
    assert eight > 4 * single
    with pytest.raises(ValueError, match="ranks must be >= 1, got 0"):
        estimate_memory(CONFIG, 4, num_params=PARAMS, ranks=0)


def test_reference_resolution() -> None:
    assert (INFO_HEIGHT, INFO_WIDTH) == (392, 518)


def test_typical_frame_size_is_a_4_3_photo_at_the_models_own_size() -> None:
    from vggt_py.inference.memory import typical_frame_size

    assert typical_frame_size(VGGTConfig()) == (INFO_HEIGHT, INFO_WIDTH) == (392, 518)
    assert typical_frame_size(VGGTConfig().replace(img_size=224)) == (168, 224)
    assert typical_frame_size(VGGTConfig().replace(img_size=140)) == (112, 140)  # 105 / 14 = 7.5 -> 8 patches
