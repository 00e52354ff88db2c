"""Low-memory inference: bf16 weight storage, kept layers in the compute dtype, per-layer upcasts."""

from __future__ import annotations

import pytest
import torch

from helpers import random_images, sane_tiny_model
from vggt_py import VGGT
from vggt_py.model import fp32_compute


def _param_bytes(model: VGGT) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def test_bf16_weights_halve_memory_and_stay_close_to_fp32() -> None:
    reference = sane_tiny_model()
    model = sane_tiny_model().set_weight_dtype("bf16")
    assert model.weight_dtype == torch.bfloat16
    assert model.aggregator.frame_blocks[0].norm1.weight.dtype == torch.float32  # norms stay float32
    assert _param_bytes(model) < 0.52 * _param_bytes(reference)
    images = random_images(1, 3, 56, 70)
    queries = torch.tensor([[20.0, 30.0], [40.0, 10.0]])
    with torch.inference_mode():
        want = reference(images, queries)
        got = model(images, queries)
    for key in ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf", "track", "vis", "conf"):
        assert got[key].dtype == torch.float32, key
        scale = want[key].abs().max()
        error = (got[key] - want[key]).abs().max() / scale
        assert error < 0.05, f"{key}: relative error {error:.3g}"
    # the per-layer float32 copies are gone again
    assert all(p.dtype in (torch.bfloat16, torch.float32) for p in model.parameters())
    assert model.depth_head.projects[0].weight.dtype == torch.bfloat16


def test_fp32_compute_upcasts_one_layer_at_a_time() -> None:
    layer = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).to(torch.bfloat16)
    seen = []
    layer[2].register_forward_hook(lambda m, a, o: seen.append((layer[0].weight.dtype, layer[2].weight.dtype)))
    x = torch.randn(3, 4)
    with torch.inference_mode(), fp32_compute(layer):
        out = layer(x)
    assert out.dtype == torch.float32
    assert seen == [(torch.bfloat16, torch.float32)]  # the first layer's copy was dropped already
    assert layer[0].weight.dtype == torch.bfloat16 and isinstance(layer[0].weight, torch.nn.Parameter)
    expected = layer.float()(x)
    torch.testing.assert_close(out, expected)


def test_autocast_keeps_layers_in_compute_dtype() -> None:
    model = sane_tiny_model()
    images = random_images(1, 2, 56, 56)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        layers, _ = model.aggregator(images, keep_layers=model.config.layers_needed())
        out = model(images)
    assert {t.dtype for t in layers.values()} == {torch.bfloat16}
    assert out["depth"].dtype == torch.float32
    with torch.inference_mode():
        layers, _ = model.aggregator(images, keep_layers=[0])
    assert layers[0].dtype == torch.float32


def test_dense_head_chunks_agree_within_fp32_noise() -> None:
    # convolutions over a different number of frames may round differently (also before the lean
    # changes), so chunks agree to fp32 noise, not bit for bit
    model = sane_tiny_model()
    images = random_images(1, 3, 56, 70)
    with torch.inference_mode():
        one = model(images)
        model.set_frames_chunk_size(2)
        two = model(images)
    for key in ("depth", "world_points_conf"):
        torch.testing.assert_close(two[key], one[key], rtol=1e-5, atol=1e-6)


def test_bad_weight_dtype() -> None:
    with pytest.raises(ValueError, match="unknown weight dtype 'int8'"):
        sane_tiny_model().set_weight_dtype("int8")
