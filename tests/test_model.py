"""Top-level model: output keys and shapes, bad input, head switches, memory options."""

from __future__ import annotations

import pytest
import torch

from helpers import random_images
from vggt_py import VGGT, VGGTConfig


def test_output_shapes_unbatched(tiny_model: VGGT) -> None:
    images = random_images(None, 2, 42, 56)
    query = torch.tensor([[10.0, 12.0], [30.5, 20.0], [0.0, 0.0]])
    with torch.inference_mode():
        out = tiny_model(images, query_points=query)
    assert out["pose_enc"].shape == (1, 2, 9)
    assert len(out["pose_enc_list"]) == tiny_model.config.camera_head.iters
    assert out["depth"].shape == (1, 2, 42, 56, 1)
    assert out["depth_conf"].shape == (1, 2, 42, 56)
    assert out["world_points"].shape == (1, 2, 42, 56, 3)
    assert out["world_points_conf"].shape == (1, 2, 42, 56)
    assert out["track"].shape == (1, 2, 3, 2)
    assert out["vis"].shape == out["conf"].shape == (1, 2, 3)
    assert out["images"].shape == (1, 2, 3, 42, 56)
    assert torch.equal(out["track"][0, 0], query)  # the query frame is returned as given
    assert (out["depth"] > 0).all() and (out["depth_conf"] >= 1).all() and (out["world_points_conf"] >= 1).all()
    assert ((out["vis"] >= 0) & (out["vis"] <= 1)).all()
    assert (out["pose_enc"][..., 7:] >= 0).all()  # ReLU on the fields of view


def test_batched_equals_per_scene(tiny_model: VGGT) -> None:
    images = random_images(2, 3, 28, 42)
    with torch.inference_mode():
        both = tiny_model(images)
        first = tiny_model(images[:1])
    for key in ("pose_enc", "depth", "world_points_conf"):
        torch.testing.assert_close(both[key][:1], first[key], rtol=1e-5, atol=1e-5)


def test_no_tracks_without_queries(tiny_model: VGGT) -> None:
    with torch.inference_mode():
        out = tiny_model(random_images(None, 1, 28, 28))
    assert not {"track", "vis", "conf"} & set(out)


@pytest.mark.parametrize("head", ["camera_head", "depth_head", "point_head", "track_head"])
def test_disabled_head_has_no_keys_and_no_outputs(head: str) -> None:
    config = VGGTConfig.from_preset("tiny")
    getattr(config, head).enabled = False
    model = VGGT(config).eval()
    assert getattr(model, head) is None
    assert not any(k.startswith(head + ".") for k in model.state_dict())
    outputs = {
        "camera_head": {"pose_enc", "pose_enc_list"},
        "depth_head": {"depth", "depth_conf"},
        "point_head": {"world_points", "world_points_conf"},
        "track_head": {"track", "vis", "conf"},
    }
    query = None if head == "track_head" else torch.tensor([[70.0, 70.0]])
    with torch.inference_mode():
        out = model(random_images(None, 2, 140, 140), query_points=query)
    assert not outputs[head] & set(out)


def test_only_needed_layers_are_kept(tiny_config: VGGTConfig) -> None:
    tiny_config.aggregator.depth = 8
    tiny_config.depth_head.intermediate_layer_idx = (1, 3, 5, 7)
    tiny_config.point_head.enabled = False
    tiny_config.track_head.enabled = False
    model = VGGT(tiny_config).eval()
    assert model._layers_needed == (1, 3, 5, 7)
    with torch.inference_mode():
        layers, start = model.aggregator(random_images(1, 2, 28, 28), keep_layers=model._layers_needed)
    assert sorted(layers) == [1, 3, 5, 7] and start == 5
    assert layers[7].shape == (1, 2, 5 + 4, 128)


def test_trunk_stops_after_last_needed_layer(tiny_config: VGGTConfig) -> None:
    tiny_config.camera_head.enabled = False
    tiny_config.point_head.enabled = False
    tiny_config.track_head.enabled = False
    tiny_config.depth_head.intermediate_layer_idx = (0, 0, 1, 1)
    model = VGGT(tiny_config).eval()
    calls = []
    model.aggregator.frame_blocks[3].register_forward_hook(lambda *a: calls.append(3))
    with torch.inference_mode():
        model(random_images(None, 1, 28, 28))
    assert calls == []


def test_frame_chunking_does_not_change_results(tiny_model: VGGT) -> None:
    images = random_images(1, 5, 28, 42)
    query = torch.tensor([[5.0, 5.0]])
    with torch.inference_mode():
        tiny_model.set_frames_chunk_size(None)
        whole = tiny_model(images)
        tiny_model.set_frames_chunk_size(2)
        chunked = tiny_model(images)
    for key in ("depth", "depth_conf", "world_points", "world_points_conf"):
        torch.testing.assert_close(chunked[key], whole[key], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="frames_chunk_size"):
        tiny_model.set_frames_chunk_size(0)
    del query


def test_activation_checkpointing_gives_same_gradients(tiny_config: VGGTConfig) -> None:
    torch.manual_seed(0)
    model = VGGT(tiny_config)
    images = random_images(1, 2, 28, 28)

    def grads() -> dict[str, torch.Tensor]:
        model.zero_grad()
        out = model(images)
        (out["pose_enc"].sum() + out["depth"].mean() + out["world_points"].mean()).backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain = grads()
    model.set_activation_checkpointing(True)
    recomputed = grads()
    assert plain.keys() == recomputed.keys() and len(plain) > 100
    for name in plain:
        torch.testing.assert_close(recomputed[name], plain[name], rtol=1e-4, atol=1e-6, msg=name)


def test_eval_and_train_mode_give_same_outputs(tiny_model: VGGT) -> None:
    images = random_images(1, 2, 28, 28)
    with torch.no_grad():
        evaluated = tiny_model.eval()(images)["depth"]
        trained = tiny_model.train()(images)["depth"]
    torch.testing.assert_close(trained, evaluated)


def test_cpu_bf16_autocast_heads_stay_fp32(tiny_model: VGGT) -> None:
    images = random_images(1, 2, 140, 140)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = tiny_model(images, query_points=torch.tensor([[60.0, 70.0]]))
    for key in ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf"):
        assert out[key].dtype == torch.float32, key
        assert torch.isfinite(out[key]).all()
    assert torch.isfinite(out["track"]).all()


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (torch.rand(3, 28, 28), "shape"),
        (torch.rand(1, 1, 1, 3, 28, 28), "shape"),
        (torch.rand(1, 2, 4, 28, 28), "3 \\(RGB\\) channels"),
        (torch.rand(1, 2, 3, 30, 28), "multiples of the patch size 14"),
        (torch.rand(1, 0, 3, 28, 28), "at least one scene and one frame"),
        (torch.full((1, 1, 3, 28, 28), float("nan")), "NaN"),
        (torch.randint(0, 255, (1, 1, 3, 28, 28), dtype=torch.uint8), "floating-point"),
        (torch.rand(1, 1, 3, 28, 28) * 255, "\\[0, 1\\]"),
    ],
)
def test_bad_images(tiny_model: VGGT, images: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_model(images)


@pytest.mark.parametrize(
    ("query", "match"),
    [
        (torch.zeros(4, 3), "query_points must be"),
        (torch.zeros(2, 4, 2), "B = 1"),
        (torch.zeros(0, 2), "at least one point"),
        (torch.tensor([[float("inf"), 1.0]]), "infinite"),
        (torch.zeros(2, 2, dtype=torch.long), "floating-point"),
    ],
)
def test_bad_query_points(tiny_model: VGGT, query: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_model(random_images(None, 2, 140, 140), query_points=query)


def test_images_too_small_for_tracker(tiny_model: VGGT) -> None:
    # 3 correlation levels need an 8-px map at half resolution: H, W >= 14 (the patch size).
    assert tiny_model.min_track_image_size == 14
    config = VGGTConfig.from_preset("tiny")
    config.track_head.corr_levels = 7  # VGGT-1B's pyramid: 2^7 px, rounded up to 140
    model = VGGT(config).eval()
    assert model.min_track_image_size == 140
    with pytest.raises(ValueError, match="at least 140x140"):
        model(random_images(None, 2, 126, 140), query_points=torch.zeros(1, 2))
    with torch.inference_mode():
        assert model(random_images(None, 2, 140, 140), query_points=torch.zeros(1, 2))["track"].shape == (1, 2, 1, 2)


def test_queries_with_track_head_disabled() -> None:
    config = VGGTConfig.from_preset("tiny")
    config.track_head.enabled = False
    with pytest.raises(ValueError, match="track head is disabled"):
        VGGT(config)(random_images(None, 1, 28, 28), query_points=torch.zeros(1, 2))
