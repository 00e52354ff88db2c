"""TrainingModule: the same numbers as VGGT.forward, raw track logits, frozen-aggregator path."""

from __future__ import annotations

import pytest
import torch

from vggt_py.training.module import TrainingModule


def test_matches_the_model_forward(micro_model):
    torch.manual_seed(0)
    images = torch.rand(2, 3, 3, 28, 42)
    queries = torch.rand(2, 5, 2) * 20
    micro_model.eval()
    reference = micro_model(images, queries)
    out = TrainingModule(micro_model)(images, queries)
    assert torch.allclose(out["pose_enc_list"][-1], reference["pose_enc"])
    assert torch.allclose(out["depth"], reference["depth"]) and torch.allclose(
        out["depth_conf"], reference["depth_conf"]
    )
    assert torch.allclose(out["world_points"], reference["world_points"])
    assert len(out["track_list"]) == micro_model.config.track_head.iters
    assert torch.allclose(out["track_list"][-1], reference["track"], atol=1e-5)
    assert torch.allclose(torch.sigmoid(out["vis_logits"]), reference["vis"], atol=1e-6)
    assert torch.allclose(torch.sigmoid(out["conf_logits"]), reference["conf"], atol=1e-6)


def test_only_requested_heads_run(micro_model):
    module = TrainingModule(micro_model, heads=("camera", "depth"))
    out = module(torch.rand(1, 2, 3, 28, 28), torch.rand(1, 4, 2))
    assert set(out) == {"pose_enc_list", "depth", "depth_conf"}


def test_frozen_aggregator_runs_without_graph(micro_model):
    micro_model.aggregator.requires_grad_(False)
    module = TrainingModule(micro_model).train()
    assert module.aggregator_frozen and not micro_model.aggregator.training
    out = module(torch.rand(1, 2, 3, 28, 28))
    out["depth"].sum().backward()
    assert micro_model.depth_head.norm.weight.grad is not None


def test_bad_arguments(micro_model):
    with pytest.raises(ValueError, match="unknown heads"):
        TrainingModule(micro_model, heads=("camera", "normals"))
    micro_model.depth_head = None
    with pytest.raises(ValueError, match="none of the heads"):
        TrainingModule(micro_model, heads=("depth",))
    with pytest.raises(ValueError, match=r"\[B,S,3,H,W\]"):
        TrainingModule(micro_model)(torch.rand(2, 3, 28, 28))
