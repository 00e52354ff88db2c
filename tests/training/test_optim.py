"""Freezing, LoRA, the learning-rate schedule and gradient clipping."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vggt_py.training.config import LoRAConfig, OptimConfig
from vggt_py.training.optim import (
    apply_lora,
    build_optimizer,
    clip_gradients,
    freeze,
    merge_lora,
    warmup_cosine,
)


def _net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Module()
    net.aggregator = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    net.camera_head = nn.Linear(4, 2)
    return net


def test_freeze_by_module_and_parameter_globs():
    net = _net()
    assert freeze(net, ["aggregator*"]) == [
        "aggregator.0.weight",
        "aggregator.0.bias",
        "aggregator.1.weight",
        "aggregator.1.bias",
    ]
    assert all(p.requires_grad for p in net.camera_head.parameters())
    net = _net()
    assert freeze(net, ["*.bias"]) == ["aggregator.0.bias", "aggregator.1.bias", "camera_head.bias"]


def test_freeze_rejects_unmatched_patterns():
    with pytest.raises(ValueError, match=r"\['agregator\*'\] match no module.*top-level modules: \['aggregator'"):
        freeze(_net(), ["agregator*"])


def test_warmup_cosine_values():
    factor = warmup_cosine(total_steps=100, warmup_fraction=0.1, peak=1e-3, floor=1e-5)
    lr = [factor(k) * 1e-3 for k in (0, 5, 10, 55, 100, 150)]
    assert lr[0] == pytest.approx(1e-5)
    assert lr[1] == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5)
    assert lr[2] == pytest.approx(1e-3)
    assert lr[3] == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * 0.5)))
    assert lr[4] == pytest.approx(1e-5) and lr[5] == pytest.approx(1e-5)
    with pytest.raises(ValueError):
        warmup_cosine(0, 0.1, 1e-3, 0.0)


def test_optimizer_and_schedule_start_at_the_floor():
    net = _net()
    optimizer = build_optimizer(net.parameters(), OptimConfig(lr=1e-3, min_lr=1e-6))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(10, 0.5, 1e-3, 1e-6))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-6)
    assert optimizer.param_groups[0]["weight_decay"] == 0.05
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-6 + (1e-3 - 1e-6) * 0.2)
    with pytest.raises(ValueError, match="everything is frozen"):
        build_optimizer([], OptimConfig())


def test_clip_gradients_per_module():
    net = _net()
    for p in net.aggregator.parameters():
        p.grad = torch.full_like(p, 3.0)
    for p in net.camera_head.parameters():
        p.grad = torch.full_like(p, 0.01)
    agg_norm = 3.0 * math.sqrt(sum(p.numel() for p in net.aggregator.parameters()))
    head_norm = 0.01 * math.sqrt(sum(p.numel() for p in net.camera_head.parameters()))
    total = clip_gradients(net.named_parameters(), max_norm=1.0, per_module=True)
    assert total.item() == pytest.approx(math.hypot(agg_norm, head_norm), rel=1e-5)
    clipped = torch.cat([p.grad.flatten() for p in net.aggregator.parameters()]).norm()
    assert clipped.item() == pytest.approx(1.0, rel=1e-4)
    assert net.camera_head.bias.grad[0].item() == pytest.approx(0.01)  # its own group stays below 1
    nan_net = _net()
    nan_net.camera_head.weight.grad = torch.full_like(nan_net.camera_head.weight, float("nan"))
    assert not torch.isfinite(clip_gradients(nan_net.named_parameters(), None))


def test_lora_injects_trains_and_merges():
    pytest.importorskip("peft")
    net = _net()
    x = torch.randn(3, 4)
    targets = apply_lora(net, LoRAConfig(enabled=True, rank=2, target_modules=["aggregator.0"]))
    assert targets == ["aggregator.0"]
    trainable = sorted(n for n, p in net.named_parameters() if p.requires_grad)
    assert trainable == [
        "aggregator.0.lora_A.default.weight",
        "aggregator.0.lora_B.default.weight",
        "aggregator.1.bias",
        "aggregator.1.weight",
        "camera_head.bias",
        "camera_head.weight",
    ]
    with torch.no_grad():
        net.aggregator[0].lora_B["default"].weight.normal_()
    adapted = net.camera_head(net.aggregator(x))
    assert merge_lora(net) == 1
    assert isinstance(net.aggregator[0], nn.Linear)
    assert torch.allclose(net.camera_head(net.aggregator(x)), adapted, atol=1e-6)
    with pytest.raises(ValueError, match="match no nn.Linear"):
        apply_lora(_net(), LoRAConfig(enabled=True, target_modules=["nothing*"]))
