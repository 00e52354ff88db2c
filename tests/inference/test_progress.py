"""vggt_py.inference.progress: the forward pass reported block by block, the model left unchanged."""

from __future__ import annotations

import pytest
import torch

from helpers import random_images
from vggt_py import VGGT, VGGTConfig
from vggt_py.inference.progress import forward_progress, forward_steps


def test_every_block_and_head_is_reported_in_order(tiny_model: VGGT) -> None:
    images = random_images(None, 2, 56, 70)
    with torch.inference_mode():
        plain = tiny_model(images)
    calls: list[tuple[int, int, str]] = []
    with forward_progress(tiny_model, lambda *call: calls.append(call)) as total:
        with torch.inference_mode():
            watched = tiny_model(images)
    # tiny: 2 DINOv2 blocks, 4 frame + 4 global blocks (aa_block_size 1), camera, depth and point heads
    assert total == 2 + 8 + 3
    assert calls[0] == (0, total, "starting")
    assert [c[0] for c in calls[1:]] == list(range(1, total + 1))
    labels = [c[2] for c in calls[1:]]
    assert labels[:4] == ["patch embedding 1/2", "patch embedding 2/2", "frame attention 1/4", "global attention 1/4"]
    assert labels[-3:] == ["camera head", "depth head", "point head"]
    for key in ("pose_enc", "depth", "world_points"):
        assert torch.equal(watched[key], plain[key])
    calls.clear()
    with torch.inference_mode():  # the hooks are gone
        tiny_model(images)
    assert calls == []


def test_tracking_counts_the_track_head_and_each_pass_starts_again(tiny_model: VGGT) -> None:
    images = random_images(None, 2, 56, 56)
    calls: list[tuple[int, int, str]] = []
    with forward_progress(tiny_model, lambda *call: calls.append(call), tracking=True) as total, torch.inference_mode():
        tiny_model(images, query_points=torch.tensor([[10.0, 20.0]]))
        tiny_model(images, query_points=torch.tensor([[10.0, 20.0]]))
    assert total == 2 + 8 + 4 and calls[total] == (total, total, "track head")
    assert calls[total + 1] == (0, total, "starting") and calls[-1] == (total, total, "track head")


def test_only_the_blocks_the_heads_need_are_counted() -> None:
    config = VGGTConfig.from_preset("tiny").replace(img_size=56)
    config.point_head.enabled = False
    config.track_head.enabled = False
    config.depth_head.intermediate_layer_idx = (0, 1, 1, 1)
    config.camera_head.enabled = False
    model = VGGT(config).eval()
    labels = [label for _, label in forward_steps(model)]
    assert labels == [
        "patch embedding 1/2", "patch embedding 2/2", "frame attention 1/4", "global attention 1/4",
        "frame attention 2/4", "global attention 2/4", "depth head",
    ]
    calls: list[tuple[int, int, str]] = []
    with forward_progress(model, lambda *call: calls.append(call)), torch.inference_mode():
        model(random_images(None, 1, 56, 56))
    assert [c[2] for c in calls[1:]] == labels


def test_not_a_model() -> None:
    with pytest.raises(TypeError, match="needs a VGGT model, got Linear"):
        with forward_progress(torch.nn.Linear(2, 2), print):  # type: ignore[arg-type]
            pass
