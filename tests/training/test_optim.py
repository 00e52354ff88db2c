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
    describe_schedule,
    freeze,
    merge_lora,
    warmup_cosine,
    warmup_steps,
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
    lr = [factor(k) * 1e-3 for k in (0, 4, 9, 10, 55, 100, 150)]
    assert warmup_steps(100, 0.1) == 10
    assert lr[0] == pytest.approx(1e-5 + (1e-3 - 1e-5) / 11)  # the first step already learns
    assert lr[1] == pytest.approx(1e-5 + (1e-3 - 1e-5) * 5 / 11)
    assert lr[2] == pytest.approx(1e-5 + (1e-3 - 1e-5) * 10 / 11)
    assert lr[3] == pytest.approx(1e-3)
    assert lr[4] == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * 0.5)))
    assert lr[5] == pytest.approx(1e-5) and lr[6] == pytest.approx(1e-5)
    with pytest.raises(ValueError):
        warmup_cosine(0, 0.1, 1e-3, 0.0)


@pytest.mark.parametrize("total", [1, 2, 3, 8, 19])
def test_short_runs_are_not_swallowed_by_the_warm_up(total):
    """5 % of a short run is less than one step: no warm-up, the first step at the peak (was: at min_lr)."""
    factor = warmup_cosine(total, 0.05, peak=5e-5, floor=1e-8)
    assert warmup_steps(total, 0.05) == 0
    assert factor(0) == pytest.approx(1.0)
    lrs = [factor(k) for k in range(total)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # then only decays
    assert min(lrs) > 0.1 or total > 3  # a 1-3 step run trains at a useful rate throughout


def test_warm_up_stays_a_fraction_of_the_run():
    for total in (20, 21, 100, 1000):
        warmup = warmup_steps(total, 0.05)
        assert warmup == int(0.05 * total) < total
        factor = warmup_cosine(total, 0.05, peak=1.0, floor=0.0)
        assert factor(warmup) == pytest.approx(1.0) and 0 < factor(0) < 1
    assert warmup_steps(3, 0.9) == 2  # even a large fraction leaves the last step after the warm-up


def test_describe_schedule_says_what_happens():
    short = describe_schedule(1, OptimConfig(lr=5e-5, min_lr=1e-8, warmup_fraction=0.05))
    assert "1 optimizer step(s)" in short and "no warm-up (0.05 x 1 steps is less than one step)" in short
    assert "peak lr 5e-05" in short
    long = describe_schedule(100, OptimConfig(lr=1e-3, min_lr=1e-6, warmup_fraction=0.1))
    assert "linear warm-up over 10 step(s)" in long and "to the peak lr 0.001" in long
    assert "no warm-up," in describe_schedule(10, OptimConfig(warmup_fraction=0.0))


def test_optimizer_and_schedule_start_above_the_floor():
    net = _net()
    optimizer = build_optimizer(net.parameters(), OptimConfig(lr=1e-3, min_lr=1e-6))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(10, 0.5, 1e-3, 1e-6))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-6 + (1e-3 - 1e-6) / 6)
    assert optimizer.param_groups[0]["weight_decay"] == 0.05
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-6 + (1e-3 - 1e-6) * 2 / 6)
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
