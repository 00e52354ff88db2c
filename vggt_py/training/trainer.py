"""The training loop: from one CPU to many GPUs.

``Trainer(TrainConfig).fit()`` trains, validates, checkpoints and finally writes the model with
``save_pretrained``. Launched by ``torchrun`` it runs data-parallel (DDP, or FSDP with
``train.strategy: fsdp``); rank 0 logs and writes files.

A step: the batch (shared frame count and image size) is split into ``optim.accum_steps`` chunks;
each runs forward (bf16 autocast on CUDA when ``train.amp``) and backward of its share of the loss
(gradient sync only on the last chunk); gradients are clipped per module, AdamW steps (skipped when
the gradient norm is not finite) and the warm-up + cosine schedule advances.

Resuming (``train.resume: auto``) restores the model, optimizer, scheduler, RNG states, epoch and the
position in the epoch, so an interrupted run continues exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import shutil
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from vggt_py.config import VGGTConfig
from vggt_py.data.augment import AugmentConfig
from vggt_py.data.collection import SceneCollection
from vggt_py.data.datasets import MultiViewDataset
from vggt_py.data.sampling import DynamicBatchSampler, batch_image_size
from vggt_py.data.synthetic import SceneConfig
from vggt_py.geometry import extri_intri_to_pose_encoding, pose_encoding_to_extri_intri
from vggt_py.model import VGGT
from vggt_py.training.checkpoint import (
    full_model_state_dict,
    load_training_checkpoint,
    save_training_checkpoint,
)
from vggt_py.training.config import DataConfig, ModelConfig, TrainConfig
from vggt_py.training.distributed import (
    DistributedContext,
    all_reduce_mean,
    init_distributed,
    wrap_model,
)
from vggt_py.training.losses import VGGTLoss
from vggt_py.training.module import TrainingModule, prime_camera_head, prime_camera_head_at
from vggt_py.training.optim import (
    apply_lora,
    build_optimizer,
    clip_gradients,
    describe_schedule,
    freeze,
    merge_lora,
    warmup_cosine,
)

__all__ = ["Trainer", "build_model", "build_scenes", "describe_model", "matching_preset", "pose_spread"]

log = logging.getLogger("vggt_py.training")


# ------------------------------------------------------------------------------------ builders
def _architecture(config: VGGTConfig) -> dict[str, Any]:
    """What makes two model configs the same network (activation checkpointing is a runtime switch)."""
    out = config.to_dict()
    out.pop("activation_checkpointing", None)
    return out


def matching_preset(config: VGGTConfig) -> str | None:
    """The :data:`~vggt_py.config.PRESETS` name whose architecture ``config`` has, or None."""
    from vggt_py.config import PRESETS

    target = _architecture(config)
    return next((name for name in PRESETS if _architecture(VGGTConfig.from_preset(name)) == target), None)


def _check_preset(config: ModelConfig, model_config: VGGTConfig) -> None:
    if config.preset is None or not (config.init or config.config):
        return
    expected, actual = _architecture(VGGTConfig.from_preset(config.preset)), _architecture(model_config)
    if expected == actual:
        return
    source = f"model.init {config.init!r}" if config.init and not config.config else f"model.config {config.config!r}"
    differ = sorted(k for k in expected if expected[k] != actual.get(k))
    match = matching_preset(model_config)
    raise ValueError(
        f"model.preset {config.preset!r} is not the architecture of {source} (they differ in {', '.join(differ)}); "
        f"the {'weights' if source.startswith('model.init') else 'file'} decide the model, so set "
        + (f"model.preset={match}" if match else "model.preset=null")
        + " (or leave model.preset out)"
    )


def build_model(config: ModelConfig) -> VGGT:
    """The VGGT to train: pretrained weights (``init``), a config file, or a preset (random init; its
    camera head primed by :func:`~vggt_py.training.module.prime_camera_head`).

    Raises:
        ValueError: if ``config.preset`` is set next to ``init`` / ``config`` and names another architecture.
    """
    model_config = VGGTConfig.from_json(config.config) if config.config else None
    if config.init:
        model = VGGT.from_pretrained(config.init, config=model_config)
    else:
        model = VGGT(model_config if model_config is not None else VGGTConfig.from_preset(config.preset or "tiny"))
        if model.camera_head is not None:
            prime_camera_head(model)
    _check_preset(config, model.config)
    model.set_activation_checkpointing(config.activation_checkpointing)
    return model.train()


def describe_model(config: ModelConfig) -> str:
    """One line saying which model ``config`` trains, without loading (or downloading) any weights."""
    from vggt_py.hub import resolve_pretrained

    def summary(model_config: VGGTConfig) -> str:
        with torch.device("meta"):
            params = sum(p.numel() for p in VGGT(model_config).parameters())
        preset = matching_preset(model_config)
        return f"{'preset ' + repr(preset) if preset else 'a custom architecture'}, {params:,} parameters"

    if config.config:
        source = f"the config file {config.config}"
        try:
            described = summary(VGGTConfig.from_json(config.config))
        except (OSError, ValueError) as err:
            described = f"not readable: {err}"
        start = f"the weights of {config.init!r} with " if config.init else "random initialisation of "
        return f"model: {start}{source} ({described})"
    if config.init:
        try:
            config_path, weights = resolve_pretrained(config.init, local_files_only=True)
        except (FileNotFoundError, ValueError):
            return f"model: the weights of {config.init!r} and their config.json (not available locally yet)"
        from vggt_py.hub import weights_file_config

        try:
            embedded = weights_file_config(weights)
        except ValueError as err:  # unreadable, or a LoRA checkpoint: training would fail the same way
            return f"model: the weights of {config.init!r} cannot be used: {err}"
        if embedded is not None:
            return f"model: the weights of {config.init!r} ({weights}; {summary(embedded)}, config stored inside)"
        if config_path is None:
            return f"model: the weights of {config.init!r} ({weights}; no config.json beside them)"
        return f"model: the weights of {config.init!r} ({weights}; {summary(VGGTConfig.from_json(config_path))})"
    return f"model: random initialisation of {summary(VGGTConfig.from_preset(config.preset or 'tiny'))}"


def build_scenes(data: DataConfig, split: str) -> SceneCollection | None:
    """Training (``split="train"``) or validation scenes of ``data``; None when there is no validation set."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if data.source == "synthetic":
        syn = data.synthetic
        count = syn.num_scenes if split == "train" else syn.val_scenes
        if count == 0:
            return None
        scene_config = SceneConfig.preset(
            syn.difficulty,
            num_frames=syn.frames_per_scene,
            height=syn.height,
            width=syn.width,
            num_tracks=0,
            **syn.scene_overrides(),
        )
        seed = syn.seed if split == "train" else syn.seed + syn.num_scenes
        return SceneCollection.synthetic(scene_config, count, seed)
    path = data.train_path if split == "train" else data.val_path
    return None if path is None else SceneCollection.from_path(path, data.source)


def pose_spread(pose_enc: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
    """Collapse alarm: spread of the predicted poses of frames > 0 relative to the ground truth's.

    The standard deviation over all (scene, frame > 0) of the predicted translation and quaternion
    (``pose_enc`` [B,S,9]), divided by the same for the ground-truth encodings of ``batch``. About 1 when
    the head follows the images; near 0 when it predicts one pose for every frame (the mean-pose collapse).
    """
    hw = tuple(batch["images"].shape[-2:])
    gt = extri_intri_to_pose_encoding(batch["extrinsics"].double(), batch["intrinsics"].double(), hw)
    pred, gt = pose_enc[:, 1:, :7].flatten(0, 1).double(), gt[:, 1:, :7].flatten(0, 1)
    return (pred.std(dim=0).norm() / gt.std(dim=0).norm().clamp(min=1e-12)).float()


def _seed_everything(seed: int, rank: int) -> None:
    """Model initialisation must match on every rank (same torch seed); other generators differ per rank."""
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    torch.manual_seed(seed)


class _MetricsLog:
    """Rank-0 outputs: a JSON-lines log (appended, flushed per line) and TensorBoard when installed."""

    def __init__(self, folder: Path, tensorboard: bool):
        folder.mkdir(parents=True, exist_ok=True)
        self._file = open(folder / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                log.info("tensorboard is not installed: logging to metrics.jsonl only")
            else:
                self._writer = SummaryWriter(str(folder / "tensorboard"))

    def write(self, step: int, metrics: dict[str, float], tensorboard: bool = True) -> None:
        self._file.write(json.dumps({"step": step, **metrics}) + "\n")
        self._file.flush()
        if self._writer is not None and tensorboard:
            for key, value in metrics.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()


# ------------------------------------------------------------------------------------- trainer
class Trainer:
    """Trains a VGGT as described by a :class:`~vggt_py.training.config.TrainConfig`.

    Args:
        config: the run's settings.
        model: train this model as it is (``config.model`` is then ignored).
        train_scenes, val_scenes: use these scenes instead of ``config.data``'s source.

    Attributes after construction: ``model`` (the VGGT), ``module`` (the wrapped training module),
    ``optimizer``, ``scheduler``, ``context`` (rank, world size, device), ``epoch``, ``batch_in_epoch``,
    ``global_step``, ``output_dir``, ``total_steps`` and ``schedule_summary`` (the line logged at start
    saying the epoch length and what the learning-rate schedule does).
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        model: VGGT | None = None,
        train_scenes: SceneCollection | None = None,
        val_scenes: SceneCollection | None = None,
    ):
        self.config = config
        run = config.train
        self.context: DistributedContext = init_distributed(run.device)
        _seed_everything(run.seed, self.context.rank)
        self.output_dir = Path(run.output_dir)
        self.checkpoint_dir = self.output_dir / "checkpoints"
        self.epoch = 0
        self.batch_in_epoch = 0
        self.global_step = 0
        self.skipped_steps = 0

        # Scenes are listed (and checked) before the possibly large model is loaded: bad data fails fast.
        train_scenes = train_scenes if train_scenes is not None else build_scenes(config.data, "train")
        val_scenes = val_scenes if val_scenes is not None else build_scenes(config.data, "val")
        if config.data.validate_scenes and config.data.source != "synthetic":
            for scenes in (train_scenes, val_scenes):
                if scenes is not None:
                    scenes.validate()
        self.model = model if model is not None else build_model(config.model)
        self.heads = self._trained_heads()
        self._set_trainable()
        self.train_sampler, self.train_loader = self._loader(train_scenes, training=True)
        self.val_loader = self._loader(val_scenes, training=False)[1] if val_scenes is not None else None
        resuming = self._resume_checkpoint() is not None
        if model is None and config.model.init is None and config.model.camera_prime == "data" and not resuming:
            self._prime_camera_head_from_data()  # a resumed run takes its weights from the checkpoint
        self.module = wrap_model(
            TrainingModule(self.model, self.heads), self.context, run.strategy, run.find_unused_parameters
        )
        self._inner = (
            self.module.module if isinstance(self.module, nn.parallel.DistributedDataParallel) else self.module
        )
        self.optimizer = build_optimizer((p for p in self.module.parameters() if p.requires_grad), config.optim)
        self.total_steps = sum(self.train_sampler.num_batches(e) for e in range(run.max_epochs))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            warmup_cosine(self.total_steps, config.optim.warmup_fraction, config.optim.lr, config.optim.min_lr),
        )
        steps_per_epoch = self.train_sampler.num_batches(0)
        self.schedule_summary = (
            f"{run.max_epochs} epoch(s) of {steps_per_epoch} step(s); "
            + describe_schedule(self.total_steps, config.optim)
        )
        log.info("%s", self.schedule_summary)
        self.loss_fn = VGGTLoss(config.loss)
        self.autocast = torch.autocast(
            device_type=self.context.device.type,
            dtype=torch.bfloat16,
            enabled=run.amp and self.context.device.type == "cuda",
        )
        self._log = _MetricsLog(self.output_dir, run.tensorboard) if self.context.is_main else None
        self._resume()

    # ----------------------------------------------------------------------------------- setup
    def _prime_camera_head_from_data(self) -> None:
        """``model.camera_prime: data``: start the camera head at the median ground-truth encoding of
        frames > 0 over the first ``camera_prime_batches`` training batches (averaged over processes)."""
        if self.model.camera_head is None or "camera" not in self.heads:
            raise ValueError("model.camera_prime: data needs a camera head that is trained (loss.camera_weight > 0)")
        wanted = self.config.model.camera_prime_batches
        encodings = []
        for k, batch in enumerate(self.train_loader):
            if k == wanted:
                break
            hw = tuple(batch["images"].shape[-2:])
            encoding = extri_intri_to_pose_encoding(batch["extrinsics"].double(), batch["intrinsics"].double(), hw)
            encodings.append(encoding[:, 1:].flatten(0, 1))
        if not encodings or sum(len(e) for e in encodings) == 0:
            raise ValueError("model.camera_prime: data needs training samples of 2 or more frames")
        median = torch.cat(encodings).median(0).values.float()
        median = all_reduce_mean(median.to(self.context.device), self.context).cpu()
        prime_camera_head_at(self.model, median)
        log.info(
            "camera head primed at the median ground-truth pose of %d batches: T %s, quaternion %s, fov %s",
            len(encodings),
            [round(v, 4) for v in median[:3].tolist()],
            [round(v, 4) for v in median[3:7].tolist()],
            [round(v, 4) for v in median[7:].tolist()],
        )

    def _trained_heads(self) -> tuple[str, ...]:
        """Heads with a positive loss weight (and, for tracks, ground-truth tracks) that the model has."""
        loss, data = self.config.loss, self.config.data
        weights = {"camera": loss.camera_weight, "depth": loss.depth_weight, "point": loss.point_weight}
        weights["track"] = loss.track_weight if data.num_tracks > 0 else 0.0
        heads = tuple(h for h, w in weights.items() if w > 0 and getattr(self.model, f"{h}_head") is not None)
        if not heads:
            raise ValueError("no head to train: every loss weight is 0 or its head is disabled in the model")
        if "track" in heads:
            patch = self.model.config.patch_size
            smallest = min(min(batch_image_size(a, data.max_side, patch)) for a in data.aspect_range)
            if smallest < self.model.min_track_image_size:
                raise ValueError(
                    f"tracking needs images of at least {self.model.min_track_image_size} px, but data.max_side = "
                    f"{data.max_side} with data.aspect_range {data.aspect_range} gives sides of {smallest} px"
                )
        return heads

    def _set_trainable(self) -> None:
        for name in ("camera", "depth", "point", "track"):
            head = getattr(self.model, f"{name}_head")
            if head is not None and name not in self.heads:
                head.requires_grad_(False)
        if self.config.train.freeze:
            freeze(self.model, self.config.train.freeze)
        if self.config.lora.enabled:
            targets = apply_lora(self.model, self.config.lora)
            log.info("LoRA adapters on %d linear layers", len(targets))
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.model.parameters())
        if trainable == 0:
            raise ValueError("every parameter is frozen: check train.freeze and the loss weights")
        log.info("training heads %s: %d of %d parameters trainable", list(self.heads), trainable, total)

    def _loader(self, scenes: SceneCollection, training: bool) -> tuple[DynamicBatchSampler, DataLoader]:
        data, ctx = self.config.data, self.context
        augment: AugmentConfig | None = data.augmentation if (training and data.augment) else None
        dataset = MultiViewDataset(
            scenes,
            augment=augment,
            num_tracks=data.num_tracks if "track" in self.heads else 0,
            covisibility=data.covisibility,
            min_covisibility=data.min_covisibility,
            depth_percentile=data.depth_percentile,
            default_frames=data.frames[0],
            default_size=(data.max_side, data.max_side),
            cache_size=data.cache_size,
        )
        common = dict(
            max_side=data.max_side,
            patch_size=self.model.config.patch_size,
            images_per_batch=data.images_per_batch,
            seed=self.config.train.seed,
            num_replicas=ctx.world_size,
            rank=ctx.rank,
        )
        if training:
            sampler = DynamicBatchSampler(
                len(dataset),
                frames=data.frames,
                aspect_range=data.aspect_range,
                batches_per_epoch=data.batches_per_epoch,
                shuffle=True,
                **common,
            )
        else:
            sampler = DynamicBatchSampler(
                len(dataset),
                frames=(data.val_frames, data.val_frames),
                aspect_range=(1.0, 1.0),
                batches_per_epoch=data.val_batches or None,
                shuffle=False,
                **common,
            )
        loader = DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=data.num_workers,
            persistent_workers=data.num_workers > 0,  # workers keep their scene caches across epochs
            pin_memory=ctx.device.type == "cuda",
        )
        return sampler, loader

    def _resume_checkpoint(self) -> Path | None:
        """The checkpoint ``train.resume`` names that exists (``auto``: ``checkpoints/last.pt``), else None."""
        run = self.config.train
        if run.resume is None:
            return None
        path = self.checkpoint_dir / "last.pt" if run.resume == "auto" else Path(run.resume)
        return path if path.exists() else None

    def _resume(self) -> None:
        run = self.config.train
        last = self.checkpoint_dir / "last.pt"
        if run.resume is None:
            if last.exists():
                raise ValueError(
                    f"{self.output_dir} already holds a checkpoint ({last}); set train.resume=auto to continue it "
                    "or choose another train.output_dir"
                )
            return
        path = self._resume_checkpoint()
        if path is None:
            if run.resume != "auto":
                raise ValueError(f"train.resume: checkpoint {str(run.resume)!r} not found")
            return
        payload = load_training_checkpoint(path, self.module, self.optimizer, self.scheduler, self.context)
        progress = payload["progress"]
        self.epoch, self.batch_in_epoch = int(progress["epoch"]), int(progress["batch_in_epoch"])
        self.global_step = int(progress["global_step"])
        saved, current = payload.get("config") or {}, self.config.to_dict()
        for section in ("data", "loss", "optim", "lora"):
            if saved.get(section) not in (None, current[section]):
                log.warning("the %s settings differ from those of the checkpoint being resumed", section)
        log.info(
            "resumed from %s at epoch %d, batch %d (step %d)", path, self.epoch, self.batch_in_epoch, self.global_step
        )

    # ---------------------------------------------------------------------------------- steps
    def _sync(self, enabled: bool) -> contextlib.AbstractContextManager:
        """Gradient synchronisation on (last accumulation chunk) or off (the others)."""
        if isinstance(self.module, nn.parallel.DistributedDataParallel) and not enabled:
            return self.module.no_sync()
        if hasattr(self.module, "set_requires_gradient_sync"):  # FSDP2
            self.module.set_requires_gradient_sync(enabled)
        return contextlib.nullcontext()

    def _to_device(self, batch: dict[str, Any], index: torch.Tensor | None = None) -> dict[str, Any]:
        device = self.context.device
        out = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                value = value[index] if index is not None else value
                out[key] = value.to(device, non_blocking=True)
            else:
                out[key] = value
        return out

    def _forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        queries = batch["tracks"][:, 0] if "tracks" in batch and "track" in self.heads else None
        with self.autocast:
            return self.module(batch["images"], queries)

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One optimizer step on ``batch`` (split into accumulation chunks); returns rank-averaged metrics."""
        self.module.train()
        size = batch["images"].shape[0]
        chunks = [c for c in torch.arange(size).tensor_split(min(self.config.optim.accum_steps, size)) if len(c)]
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.context.device))
        for k, index in enumerate(chunks):
            chunk = self._to_device(batch, index if len(chunks) > 1 else None)
            share = len(index) / size
            with self._sync(k == len(chunks) - 1):
                predictions = self._forward(chunk)
                terms = self.loss_fn(predictions, chunk, step=self.global_step)
                (terms["loss"] * share).backward()
            if "pose_enc_list" in predictions and chunk["images"].shape[0] * (chunk["images"].shape[1] - 1) >= 2:
                terms["alarm_pose_spread"] = pose_spread(predictions["pose_enc_list"][-1].detach(), chunk)
            for name, value in terms.items():
                sums[name] = sums[name] + value.detach().float() * share
        grad_norm = clip_gradients(
            self._inner.model.named_parameters(), self.config.optim.clip_grad_norm, self.config.optim.clip_per_module
        )
        finite = bool(torch.isfinite(grad_norm))
        if finite:
            self.optimizer.step()
        else:
            self.skipped_steps += 1
            log.warning("step %d: non-finite gradient norm, update skipped", self.global_step)
        self.optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():  # the schedule advances also when an update was skipped
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler")
            self.scheduler.step()
        names = sorted(sums)
        reduced = all_reduce_mean(torch.stack([sums[n] for n in names]), self.context).tolist()
        metrics = dict(zip(names, reduced))
        metrics.update(lr=lr, grad_norm=float(grad_norm))
        return metrics

    # ------------------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Losses and reconstruction metrics (:func:`vggt_py.evaluation.evaluate_reconstruction`) on the
        validation scenes, averaged over scenes and ranks. Empty without validation scenes."""
        if self.val_loader is None:
            return {}
        from vggt_py.evaluation import evaluate_reconstruction

        self.module.eval()
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for batch in self.val_loader:
            batch = self._to_device(batch)
            predictions = self._forward(batch)
            size = batch["images"].shape[0]
            for name, value in self.loss_fn(predictions, batch).items():
                sums[f"val/{name}"] += float(value) * size
                counts[f"val/{name}"] += size
            for b in range(size):
                pred, gt = _eval_inputs(predictions, batch, b)
                if not pred:
                    continue
                metrics = evaluate_reconstruction(pred, gt, max_points=20_000)
                for name, value in metrics.items():
                    if math.isfinite(value):
                        sums[f"val/{name}"] += value
                        counts[f"val/{name}"] += 1
        if self.context.distributed:
            gathered: list[Any] = [None] * self.context.world_size
            torch.distributed.all_gather_object(gathered, (dict(sums), dict(counts)))
            sums, counts = defaultdict(float), defaultdict(int)
            for part_sums, part_counts in gathered:
                for name, value in part_sums.items():
                    sums[name] += value
                    counts[name] += part_counts[name]
        self.module.train()
        return {name: sums[name] / counts[name] for name in sorted(sums) if counts[name]}

    # ------------------------------------------------------------------------------------- fit
    def fit(self, max_steps: int | None = None) -> list[dict[str, float]]:
        """Train until ``train.max_epochs`` (or ``max_steps`` more optimizer steps, then checkpoint and stop).

        Returns the metrics of every step run by this call (rank-averaged), with ``step`` and ``epoch``.
        """
        run = self.config.train
        history: list[dict[str, float]] = []
        stop_at = None if max_steps is None else self.global_step + max_steps
        while self.epoch < run.max_epochs:
            for metrics in self._run_epoch():
                history.append(metrics)
                if stop_at is not None and self.global_step >= stop_at:
                    self.save_checkpoint()
                    return history
            self.epoch += 1
            self.batch_in_epoch = 0
            self.save_checkpoint(keep=run.keep_every_epochs > 0 and self.epoch % run.keep_every_epochs == 0)
            last = self.epoch == run.max_epochs
            if not last and run.val_every_epochs and self.epoch % run.val_every_epochs == 0:
                self._log_validation()
        self._log_validation()
        if run.save_final:
            self.save_final()
        return history

    def _run_epoch(self) -> Iterator[dict[str, float]]:
        run = self.config.train
        self.train_sampler.set_epoch(self.epoch)
        self.train_sampler.set_start_batch(self.batch_in_epoch)
        bar = None
        if run.progress and self.context.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(self.train_sampler), desc=f"epoch {self.epoch + 1}/{run.max_epochs}", leave=False)
        try:
            last = time.perf_counter()
            for batch in self.train_loader:
                metrics = self.train_step(batch)
                now = time.perf_counter()
                elapsed, last = now - last, now  # the step and the loading of its batch
                self.batch_in_epoch += 1
                self.global_step += 1
                images = batch["images"].shape[0] * batch["images"].shape[1] * self.context.world_size
                metrics.update(step=self.global_step, epoch=self.epoch, images_per_s=images / max(elapsed, 1e-9))
                self._after_step(metrics, bar)
                yield metrics
        finally:
            if bar is not None:
                bar.close()

    def _after_step(self, metrics: dict[str, float], bar: Any) -> None:
        run = self.config.train
        if bar is not None:
            bar.update(1)
            bar.set_postfix(
                loss=f"{metrics['loss']:.4f}", lr=f"{metrics['lr']:.2e}", img_s=f"{metrics['images_per_s']:.1f}"
            )
        if self._log is not None:
            self._log.write(self.global_step, metrics, tensorboard=self.global_step % run.log_every == 0)
            if self.global_step % run.log_every == 0:
                log.info(
                    "step %d: loss %.4f, lr %.2e, %.1f img/s",
                    self.global_step,
                    metrics["loss"],
                    metrics["lr"],
                    metrics["images_per_s"],
                )
        if run.checkpoint_every and self.global_step % run.checkpoint_every == 0:
            self.save_checkpoint()

    def _log_validation(self) -> None:
        metrics = self.validate()
        if metrics and self._log is not None:
            self._log.write(self.global_step, metrics)
            log.info(
                "validation at step %d: %s", self.global_step, ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            )

    # ----------------------------------------------------------------------------------- outputs
    def save_checkpoint(self, keep: bool = False) -> Path:
        """Write ``checkpoints/last.pt`` (and ``epoch_N.pt`` with ``keep``); collective, rank 0 writes."""
        path = self.checkpoint_dir / "last.pt"
        progress = {"epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "global_step": self.global_step}
        save_training_checkpoint(
            path,
            self.module,
            self.optimizer,
            self.scheduler,
            progress,
            self.context,
            self.config.to_dict(),
            self.model.config.to_dict(),
        )
        if keep and self.context.is_main:
            from vggt_py.utils.io import atomic_path

            with atomic_path(self.checkpoint_dir / f"epoch_{self.epoch}.pt") as tmp:
                shutil.copyfile(path, tmp)
        return path

    def save_final(self, folder: str | Path | None = None) -> Path:
        """``save_pretrained`` of the trained model (LoRA merged) to ``output_dir/final``; collective."""
        folder = Path(folder) if folder is not None else self.output_dir / "final"
        sharded = self.context.distributed and self.config.train.strategy == "fsdp"
        if not (sharded or self.config.lora.enabled):
            if self.context.is_main:
                self.model.save_pretrained(folder)
            self.context.barrier()
            return folder
        # Gather the full weights into a fresh CPU copy, where the adapters can be merged.
        state = full_model_state_dict(self.module)
        if self.context.is_main:
            model = VGGT(VGGTConfig.from_dict(self.model.config.to_dict()))
            if self.config.lora.enabled:
                apply_lora(model, self.config.lora)
            model.load_state_dict(state)
            merge_lora(model)
            model.save_pretrained(folder)
        self.context.barrier()
        return folder

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        self.context.shutdown()

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _eval_inputs(predictions: dict[str, Any], batch: dict[str, Any], b: int) -> tuple[dict, dict]:
    """Prediction and ground-truth dicts of scene ``b`` for ``evaluate_reconstruction``."""
    height, width = batch["images"].shape[-2:]
    pred: dict[str, torch.Tensor] = {}
    gt: dict[str, torch.Tensor] = {
        "extrinsics": batch["extrinsics"][b].float().cpu(),
        "depth": batch["depths"][b].float().cpu(),
        "world_points": batch["world_points"][b].float().cpu(),
        "valid_mask": batch["point_masks"][b].cpu(),
    }
    if "pose_enc_list" in predictions:
        extrinsics, _ = pose_encoding_to_extri_intri(predictions["pose_enc_list"][-1][b].float(), (height, width))
        pred["extrinsics"] = extrinsics.cpu()
    if "depth" in predictions:
        pred["depth"] = predictions["depth"][b, ..., 0].float().cpu()
    if "world_points" in predictions:
        pred["world_points"] = predictions["world_points"][b].float().cpu()
    if "track_list" in predictions:
        pred["tracks"] = predictions["track_list"][-1][b].float().cpu()
        gt["tracks"] = batch["tracks"][b].float().cpu()
        gt["track_visibility"] = batch["track_visibility"][b].cpu()
    return pred, gt
