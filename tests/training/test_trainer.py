"""The trainer: overfitting, exact resume, data-parallel equivalence, accumulation, freezing, outputs."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vggt_py import VGGT
from vggt_py.data.synthetic import SceneConfig, generate_scene
from vggt_py.training.checkpoint import CHECKPOINT_FORMAT
from vggt_py.training.trainer import Trainer, build_scenes

REPO = Path(__file__).resolve().parents[2]


def _losses(history: list[dict[str, float]]) -> list[float]:
    return [h["loss"] for h in history]


def _mean(history: list[dict[str, float]], key: str) -> float:
    return sum(h[key] for h in history) / len(history)


def test_overfits_a_few_synthetic_scenes(make_config, micro_model):
    """Two fixed 2-frame scenes, 60 steps: total loss falls >= 2.5x, depth error >= 3x, camera loss >= 1.5x."""
    config = make_config(
        data={
            "synthetic": {"num_scenes": 2, "frames_per_scene": 2},
            "frames": [2, 2],
            "aspect_range": [1.0, 1.0],
            "batches_per_epoch": 60,
            "augment": False,
            "num_tracks": 16,
        },
        optim={"lr": 5e-3, "warmup_fraction": 0.1, "min_lr": 1e-6},
    )
    with Trainer(config, model=micro_model) as trainer:
        history = trainer.fit()
    assert len(history) == 60
    start, end = history[:3], history[-3:]
    assert _mean(start, "loss") / _mean(end, "loss") >= 2.5
    assert _mean(start, "loss_reg_depth") / _mean(end, "loss_reg_depth") >= 3.0
    assert _mean(start, "loss_camera") / _mean(end, "loss_camera") >= 1.5  # measured: 3.1x, 5.3x, 2.2x


def test_interrupted_run_resumes_exactly(make_config, micro_config):
    """8 steps over 2 epochs (accumulation, random aspect, tracks) = 3 steps, stop, resume, 5 steps."""
    sections = dict(optim={"accum_steps": 2}, train={"max_epochs": 2, "keep_every_epochs": 1})
    torch.manual_seed(0)
    with Trainer(make_config("full", **sections), model=VGGT(micro_config)) as trainer:
        full = trainer.fit()
    torch.manual_seed(0)
    with Trainer(make_config("part", **sections), model=VGGT(micro_config)) as trainer:
        first = trainer.fit(max_steps=3)
    torch.manual_seed(1)  # a different initialisation: everything must come from the checkpoint
    with Trainer(make_config("part", **sections), model=VGGT(micro_config)) as trainer:
        assert (trainer.epoch, trainer.batch_in_epoch, trainer.global_step) == (0, 3, 3)
        rest = trainer.fit()
        assert trainer.global_step == 8
    assert len(full) == 8
    assert _losses(first + rest) == _losses(full)
    assert [h["lr"] for h in first + rest] == [h["lr"] for h in full]
    checkpoints = sorted(p.name for p in (Path(trainer.output_dir) / "checkpoints").iterdir())
    assert checkpoints == ["epoch_1.pt", "epoch_2.pt", "last.pt"]


def test_checkpoint_contents(make_config, micro_model):
    config = make_config(train={"checkpoint_every": 2})
    with Trainer(config, model=micro_model) as trainer:
        trainer.fit(max_steps=2)
        path = trainer.checkpoint_dir / "last.pt"
        payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["format"] == CHECKPOINT_FORMAT
    assert payload["progress"] == {"epoch": 0, "batch_in_epoch": 2, "global_step": 2}
    assert set(payload["model"]) == set(VGGT(micro_model.config).state_dict())
    assert payload["scheduler"]["last_epoch"] == 2
    assert len(payload["optimizer"]["state"]) > 0 and len(payload["rng"]) == 1
    assert payload["config"]["train"]["checkpoint_every"] == 2
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_fresh_run_refuses_an_existing_checkpoint(make_config, micro_config):
    with Trainer(make_config(), model=VGGT(micro_config)) as trainer:
        trainer.fit(max_steps=1)
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        Trainer(make_config(train={"resume": None}), model=VGGT(micro_config))
    with pytest.raises(ValueError, match="not found"):
        Trainer(make_config("other", train={"resume": "/no/such/checkpoint.pt"}), model=VGGT(micro_config))


def _assert_same_training(a: list[dict[str, float]], b: list[dict[str, float]]) -> None:
    """The first step (same weights) agrees to float noise, loss and gradient norm (AdamW alone would hide a
    wrongly scaled gradient); later steps to what AdamW makes of that noise: its first update is about
    lr * sign(gradient), so float noise flips the update of near-zero gradients (measured: 8e-4 relative
    by step 4 at lr 1e-3)."""
    assert len(a) == len(b)
    assert a[0]["loss"] == pytest.approx(b[0]["loss"], rel=1e-6)
    assert a[0]["grad_norm"] == pytest.approx(b[0]["grad_norm"], rel=1e-5)
    assert a[1]["loss"] == pytest.approx(b[1]["loss"], rel=1e-4)
    assert _losses(a) == pytest.approx(_losses(b), rel=3e-3)


def test_accumulation_matches_the_full_batch(make_config, micro_config):
    runs = []
    for accum in (1, 2):
        torch.manual_seed(0)
        config = make_config(f"accum{accum}", data={"frames": [2, 2]}, optim={"accum_steps": accum})
        with Trainer(config, model=VGGT(micro_config)) as trainer:
            runs.append(trainer.fit())
    _assert_same_training(*runs)


def test_activation_checkpointing_gives_the_same_losses(make_config, micro_config_file):
    runs = []
    for enabled in (False, True):
        config = make_config(
            f"ckpt{enabled}", model={"config": str(micro_config_file), "activation_checkpointing": enabled}
        )
        with Trainer(config) as trainer:
            assert trainer.model.config.activation_checkpointing is enabled
            runs.append(_losses(trainer.fit(max_steps=2)))
    assert runs[0] == pytest.approx(runs[1], rel=1e-6)


def test_frozen_aggregator_and_final_model(make_config, micro_model, tmp_path):
    config = make_config(train={"freeze": ["aggregator*"], "save_final": True})
    before = {k: v.clone() for k, v in micro_model.state_dict().items()}
    with Trainer(config, model=micro_model) as trainer:
        assert trainer.module.aggregator_frozen
        trainer.fit()
        final = trainer.output_dir / "final"
    after = micro_model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(not k.startswith("aggregator.") for k in changed)
    assert any(k.startswith("camera_head.") for k in changed) and any(k.startswith("depth_head.") for k in changed)
    loaded = VGGT.from_pretrained(final)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in after.items())


def test_unweighted_heads_are_frozen(make_config, micro_model):
    config = make_config(loss={"point_weight": 0.0, "track_weight": 0.0})
    with Trainer(config, model=micro_model) as trainer:
        assert trainer.heads == ("camera", "depth")
        assert not any(p.requires_grad for p in micro_model.point_head.parameters())
        assert not any(p.requires_grad for p in micro_model.track_head.parameters())
        assert "loss_point" not in trainer.fit(max_steps=1)[0]


def test_validation_metrics(make_config, micro_model):
    config = make_config(data={"synthetic": {"val_scenes": 2}}, train={"val_every_epochs": 1})
    with Trainer(config, model=micro_model) as trainer:
        metrics = trainer.validate()
    for key in (
        "val/loss",
        "val/loss_camera",
        "val/camera/auc@30",
        "val/depth/abs_rel",
        "val/points/chamfer",
        "val/tracks/epe",
    ):
        assert key in metrics, key
    assert 0.0 <= metrics["val/camera/auc@30"] <= 1.0


def test_non_finite_gradients_skip_the_update(make_config, micro_model):
    with Trainer(make_config(), model=micro_model) as trainer:
        loss_fn = trainer.loss_fn

        def poisoned(predictions, batch, **kwargs):
            terms = loss_fn(predictions, batch, **kwargs)
            terms["loss"] = terms["loss"] * float("nan")
            return terms

        trainer.loss_fn = poisoned
        before = [p.detach().clone() for p in micro_model.parameters()]
        trainer.fit(max_steps=1)
        assert trainer.skipped_steps == 1
        assert all(torch.equal(a, b) for a, b in zip(before, micro_model.parameters()))


def test_logs(make_config, micro_model):
    pytest.importorskip("tensorboard")
    config = make_config(train={"tensorboard": True, "log_every": 1})
    with Trainer(config, model=micro_model) as trainer:
        trainer.fit(max_steps=2)
    lines = (trainer.output_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]
    assert any((trainer.output_dir / "tensorboard").iterdir())


def test_track_training_needs_large_enough_images(make_config, micro_config):
    micro_config.track_head.corr_levels = 5  # the coarsest level needs 2^5 px: images of at least 42 px
    with pytest.raises(ValueError, match="tracking needs images of at least 42 px"):
        Trainer(make_config(), model=VGGT(micro_config))


def test_lora_trains_adapters_and_merges(make_config, micro_model):
    pytest.importorskip("peft")
    config = make_config(
        lora={"enabled": True, "rank": 2, "target_modules": ["aggregator.*_blocks.*.attn.qkv"]},
        train={"freeze": ["aggregator*"], "save_final": True},
    )
    with Trainer(config, model=micro_model) as trainer:
        trainable = {n for n, p in micro_model.named_parameters() if p.requires_grad}
        assert any(".lora_A." in n for n in trainable)
        assert not any(n.startswith("aggregator.") and ".lora_" not in n for n in trainable)
        assert not trainer.module.aggregator_frozen  # the adapters train through the aggregator
        trainer.fit()
        final = trainer.output_dir / "final"
    loaded = VGGT.from_pretrained(final)  # plain keys: the adapters were merged
    assert set(loaded.state_dict()) == set(VGGT(micro_model.config).state_dict())


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one_process(make_config, micro_config_file, tmp_path, strategy):
    """torchrun, 2 CPU processes (Gloo) x 4 images vs one process x 8 images: the same global batches."""
    model = {"config": str(micro_config_file)}
    ddp_config = make_config("ddp", model=model, data={"synthetic": {"num_scenes": 4}}, train={"strategy": strategy})
    config_file = tmp_path / "ddp.yaml"
    ddp_config.to_yaml(config_file)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "vggt_py.cli",
        "train",
        str(config_file),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [
        json.loads(line) for line in (Path(ddp_config.train.output_dir) / "metrics.jsonl").read_text().splitlines()
    ]
    ddp = [line for line in lines if "epoch" in line]

    single_config = make_config("single", model=model, data={"synthetic": {"num_scenes": 4}, "images_per_batch": 8})
    with Trainer(single_config) as trainer:
        single = trainer.fit()
    assert len(single) == 4
    _assert_same_training(ddp, single)


def test_the_smallest_run_trains_at_the_peak_rate_and_says_so(make_config, micro_model, caplog):
    """One step with the default 5 % warm-up: the step runs at optim.lr (it ran at min_lr 1e-8 before)."""
    config = make_config(
        data={"batches_per_epoch": 1}, optim={"lr": 5e-5, "min_lr": 1e-8, "warmup_fraction": 0.05}
    )
    before = {n: p.detach().clone() for n, p in micro_model.named_parameters()}
    with caplog.at_level("INFO", logger="vggt_py.training"), Trainer(config, model=micro_model) as trainer:
        history = trainer.fit()
    assert len(history) == 1 and history[0]["lr"] == pytest.approx(5e-5)
    moved = max((p.detach() - before[n]).abs().max().item() for n, p in micro_model.named_parameters())
    assert moved > 1e-5  # AdamW moves each weight by about lr; at 1e-8 it would not
    assert "1 epoch(s) of 1 step(s); learning-rate schedule: 1 optimizer step(s); no warm-up" in caplog.text


def test_camera_ramp_curriculum(make_config, micro_model):
    """loss.camera_ramp: no camera gradient before its start (the dense terms train alone), then the
    camera term's weight rises linearly; the camera loss is still logged while its weight is 0."""
    config = make_config(loss={"camera_ramp": [2, 4], "track_weight": 0.0}, data={"num_tracks": 0})
    with Trainer(config, model=micro_model) as trainer:
        head = [p.detach().clone() for p in micro_model.camera_head.parameters()]
        history = trainer.fit(max_steps=2)
        # AdamW's decoupled weight decay still shrinks the weights; no gradient step moved them.
        decay = 1 - config.optim.weight_decay * sum(h["lr"] for h in history)
        for before, after in zip(head, micro_model.camera_head.parameters()):
            assert torch.allclose(after, before * decay, rtol=1e-4, atol=1e-7)
        for h in history:
            assert h["loss"] == pytest.approx(h["loss_depth"] + h["loss_point"], rel=1e-5)
            assert h["loss_camera"] > 0
        later = trainer.fit(max_steps=2)
    assert [trainer.loss_fn.camera_scale(s) for s in (0, 1, 2, 3, 4, 100)] == [0, 0, 0, 0.5, 1, 1]
    step3 = later[1]
    expected = step3["loss_depth"] + step3["loss_point"] + 0.5 * 5 * step3["loss_camera"]
    assert step3["loss"] == pytest.approx(expected, rel=1e-5)
    assert trainer.loss_fn.camera_scale(None) == 1.0  # validation: full weight


def test_synthetic_scene_overrides(make_config):
    config = make_config(
        data={"synthetic": {"baseline": 3.0, "rotation_jitter_deg": 6.0, "texture_richness": 2.0, "num_scenes": 1}}
    )
    scene = build_scenes(config.data, "train").open(0)
    reference = SceneConfig.preset("easy", num_frames=4, height=28, width=28, num_tracks=0, baseline=3.0)
    reference = dataclasses.replace(reference, rotation_jitter_deg=6.0, texture_richness=2.0)
    expected = generate_scene(reference, 0)
    assert np.allclose(scene.extrinsics, expected.extrinsics, atol=1e-6)
    assert np.array_equal(np.asarray(scene.load_frame(1).image), expected.images[1])
    plain = build_scenes(make_config().data, "train").open(0)
    assert not np.allclose(np.asarray(plain.extrinsics), expected.extrinsics)
    with pytest.raises(ValueError, match="data.synthetic.baseline must be >= 0 or null, got -1.0"):
        make_config(data={"synthetic": {"baseline": -1.0}})
