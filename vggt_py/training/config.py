"""Typed training configuration, loaded from YAML with ``key.sub=value`` overrides.

One :class:`TrainConfig` holds every setting of a run, in sections::

    model:  which VGGT to train (preset, config file or pretrained weights), activation checkpointing
    data:   scene source, batch shapes, augmentation, tracks, loader workers
    loss:   term weights and options (:class:`~vggt_py.training.losses.LossConfig`)
    optim:  AdamW, warm-up + cosine schedule, gradient clipping and accumulation
    lora:   optional low-rank adapters (needs peft)
    train:  run length, output folder, freezing, precision, logging, checkpoints, distribution

``TrainConfig.from_yaml("run.yaml", ["optim.lr=1e-4", "train.freeze=[aggregator*]"])`` reads a file
and applies overrides; values of overrides are parsed as YAML (``null``, ``true``, ``[2, 8]``...).
The recipes shipped with the package (``vggt_py/assets/recipes/NAME.yaml``: :func:`available_recipes`)
are named ``"recipe:NAME"`` wherever a config file is expected, from any working directory.
Every value is checked against its field's type, and unknown keys are rejected with the list of
valid ones.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vggt_py.config import PRESETS
from vggt_py.data.augment import AugmentConfig
from vggt_py.training.losses import LossConfig

__all__ = [
    "RECIPE_PREFIX",
    "DataConfig",
    "LoRAConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "SyntheticDataConfig",
    "TrainConfig",
    "apply_overrides",
    "available_recipes",
    "deep_merge",
    "resolve_config_file",
]

RECIPE_PREFIX = "recipe:"
_RECIPES = Path(__file__).resolve().parent.parent / "assets" / "recipes"


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass
class ModelConfig:
    """Which model to train.

    The architecture comes from ``init``'s weights (their ``config.json``, or the config stored in a
    training checkpoint), else from ``config``, else from ``preset``. A ``preset`` given together with
    ``init`` or ``config`` must describe the same architecture (checked when the model is built), so
    the config of a run always says which model it trains.

    Attributes:
        preset: a :data:`vggt_py.config.PRESETS` name; ``"tiny"`` when nothing else names the model.
        config: path of a model ``config.json`` (random initialisation, or overriding ``init``'s config).
        init: pretrained weights to start from: a hub repo id (``facebook/VGGT-1B``), a folder or a file.
        activation_checkpointing: recompute transformer blocks in backward (less memory).
        camera_prime: how the camera head of a randomly initialised model starts (ignored with ``init``):
            ``"identity"`` (every frame at the identity rotation, fov 1 rad) or ``"data"`` (the output
            layer's weights zeroed and its bias set so that every frame starts at the component-wise
            median of the training batches' ground-truth encodings of frames > 0, measured on
            ``camera_prime_batches`` batches). ``"data"`` avoids the collapse the model card's training
            log describes: fitting the mean pose through the trunk makes every frame's camera token alike.
        camera_prime_batches: training batches read to measure that median (``camera_prime: data``).
    """

    preset: str | None = None
    config: str | None = None
    init: str | None = None
    activation_checkpointing: bool = False
    camera_prime: Literal["identity", "data"] = "identity"
    camera_prime_batches: int = 32

    def __post_init__(self) -> None:
        if self.preset is None and self.config is None and self.init is None:
            self.preset = "tiny"
        if self.preset is not None:
            _require(self.preset in PRESETS, f"model.preset: unknown preset {self.preset!r}; available: {sorted(PRESETS)}")
        _require(
            self.camera_prime_batches >= 1,
            f"model.camera_prime_batches must be >= 1, got {self.camera_prime_batches}",
        )


@dataclass
class SyntheticDataConfig:
    """Procedural scenes (``data.source: synthetic``), rendered on the fly.

    Attributes:
        num_scenes / val_scenes: training / validation scenes (validation seeds follow training's).
        frames_per_scene: views rendered per scene (samples pick among them).
        height, width: rendered image size (then cropped / resized to the batch size).
        difficulty: :meth:`~vggt_py.data.synthetic.SceneConfig.preset` name.
        seed: seed of the first scene.
        baseline, rotation_jitter_deg, texture_richness: replace the preset's value of these
            :class:`~vggt_py.data.synthetic.SceneConfig` fields (None: keep the preset's).
    """

    num_scenes: int = 64
    val_scenes: int = 8
    frames_per_scene: int = 8
    height: int = 224
    width: int = 224
    difficulty: Literal["easy", "default", "hard"] = "default"
    seed: int = 0
    baseline: float | None = None
    rotation_jitter_deg: float | None = None
    texture_richness: float | None = None

    def scene_overrides(self) -> dict[str, float]:
        """The :class:`~vggt_py.data.synthetic.SceneConfig` fields set here (those that are not None)."""
        names = ("baseline", "rotation_jitter_deg", "texture_richness")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def __post_init__(self) -> None:
        _require(self.num_scenes >= 1 and self.val_scenes >= 0, "data.synthetic: num_scenes >= 1, val_scenes >= 0")
        _require(self.frames_per_scene >= 1, "data.synthetic.frames_per_scene must be >= 1")
        _require(self.height >= 2 and self.width >= 2, "data.synthetic.height and width must be >= 2")
        _require(self.seed >= 0, "data.synthetic.seed must be >= 0")
        for name, value in self.scene_overrides().items():
            _require(value >= 0, f"data.synthetic.{name} must be >= 0 or null, got {value}")


@dataclass
class DataConfig:
    """Scenes, batch shapes and augmentation.

    Attributes:
        source: "synthetic", or scenes on disk at ``train_path``: "folder" (scene folders), "colmap"
            (COLMAP models) or "auto" (detected per scene).
        train_path, val_path: folders of scenes (a folder that is itself a scene also works).
        synthetic: options of the synthetic source.
        frames: range (inclusive) of the number of frames per batch.
        aspect_range: range of H/W per batch (< 1 landscape).
        max_side: long side of the batch images (a multiple of the patch size).
        images_per_batch: images per process and batch; scenes per batch = max(1, this // frames).
        batches_per_epoch: optimizer steps per epoch (None: ``ceil(scenes / average scenes per batch)``, one
            pass on average; either way every epoch has the same length,
            :meth:`~vggt_py.data.sampling.DynamicBatchSampler.pass_length`).
        val_frames: frames per validation sample (square images of ``max_side``).
        val_batches: validation batches (None: one pass over the validation scenes).
        num_tracks: ground-truth tracks per sample (needed by the track loss; 0 = none).
        covisibility, min_covisibility: frame selection (see :func:`~vggt_py.data.sampling.sample_frames`).
        depth_percentile: drop depth above this per-frame percentile (None: keep all).
        augment: use the augmentations of ``augmentation`` for training.
        num_workers: DataLoader worker processes.
        validate_scenes: open every on-disk scene at start-up so broken scenes fail early.
        cache_size: opened scenes kept per process.
    """

    source: Literal["synthetic", "folder", "colmap", "auto"] = "synthetic"
    train_path: str | None = None
    val_path: str | None = None
    synthetic: SyntheticDataConfig = field(default_factory=SyntheticDataConfig)
    frames: tuple[int, int] = (2, 24)
    aspect_range: tuple[float, float] = (0.33, 1.0)
    max_side: int = 518
    images_per_batch: int = 48
    batches_per_epoch: int | None = None
    val_frames: int = 8
    val_batches: int | None = None
    num_tracks: int = 0
    covisibility: bool = True
    min_covisibility: float = 0.05
    depth_percentile: float | None = 98.0
    augment: bool = True
    augmentation: AugmentConfig = field(default_factory=AugmentConfig)
    num_workers: int = 0
    validate_scenes: bool = True
    cache_size: int = 4

    def __post_init__(self) -> None:
        _require(
            self.source == "synthetic" or self.train_path is not None,
            f"data.train_path is required for data.source = {self.source!r}",
        )
        _require(1 <= self.frames[0] <= self.frames[1], f"data.frames must satisfy 1 <= min <= max, got {self.frames}")
        _require(0 < self.aspect_range[0] <= self.aspect_range[1], f"data.aspect_range invalid: {self.aspect_range}")
        _require(self.images_per_batch >= 1 and self.val_frames >= 1, "data.images_per_batch, val_frames must be >= 1")
        _require(self.batches_per_epoch is None or self.batches_per_epoch >= 1, "data.batches_per_epoch must be >= 1")
        _require(self.val_batches is None or self.val_batches >= 0, "data.val_batches must be >= 0")
        _require(
            self.num_tracks >= 0 and self.num_workers >= 0 and self.cache_size >= 0,
            "data.num_tracks, num_workers and cache_size must be >= 0",
        )


@dataclass
class OptimConfig:
    """AdamW with linear warm-up and cosine decay (docs/architecture.md, "Optimiser and schedule").

    Attributes:
        lr: peak learning rate; min_lr: the start and end value.
        warmup_fraction: share of all optimizer steps spent warming up, rounded down to whole steps (a run
            too short for one warm-up step starts at ``lr``; see :func:`~vggt_py.training.optim.warmup_cosine`).
        weight_decay, betas, eps: AdamW settings.
        clip_grad_norm: max L2 norm of the gradients (None: no clipping).
        clip_per_module: clip the aggregator and each head separately (the reference's grouping).
        accum_steps: split each batch into this many chunks, one backward each (same result, less memory).
    """

    lr: float = 5e-5
    min_lr: float = 1e-8
    warmup_fraction: float = 0.05
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    clip_grad_norm: float | None = 1.0
    clip_per_module: bool = True
    accum_steps: int = 1

    def __post_init__(self) -> None:
        _require(self.lr > 0 and 0 <= self.min_lr <= self.lr, "optim: need lr > 0 and 0 <= min_lr <= lr")
        _require(0 <= self.warmup_fraction < 1, "optim.warmup_fraction must be in [0, 1)")
        _require(self.weight_decay >= 0 and self.eps > 0, "optim: weight_decay >= 0 and eps > 0")
        _require(all(0 <= b < 1 for b in self.betas), "optim.betas must be in [0, 1)")
        _require(self.clip_grad_norm is None or self.clip_grad_norm > 0, "optim.clip_grad_norm must be > 0 or null")
        _require(self.accum_steps >= 1, "optim.accum_steps must be >= 1")


@dataclass
class LoRAConfig:
    """Low-rank adapters (peft) on the linear layers matched by ``target_modules`` (globs on module names).

    The adapted layers' own weights are frozen; adapters are merged into them before the final save.
    """

    enabled: bool = False
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: list[str] = field(
        default_factory=lambda: ["aggregator.frame_blocks.*.attn.qkv", "aggregator.global_blocks.*.attn.qkv"]
    )

    def __post_init__(self) -> None:
        _require(self.rank >= 1 and self.alpha > 0, "lora: rank >= 1 and alpha > 0")
        _require(0 <= self.dropout < 1, "lora.dropout must be in [0, 1)")
        _require(not self.enabled or len(self.target_modules) > 0, "lora.target_modules must not be empty")


@dataclass
class RunConfig:
    """Run length, outputs and infrastructure.

    Attributes:
        output_dir: checkpoints (``checkpoints/``), logs and the final model (``final/``).
        max_epochs: epochs to train.
        seed: global seed (python, numpy, torch) and seed of the data order.
        device: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
        amp: bfloat16 autocast on CUDA (ignored on CPU).
        freeze: glob patterns of module or parameter names to freeze (e.g. "aggregator*").
        log_every: optimizer steps between log lines / TensorBoard points.
        checkpoint_every: optimizer steps between checkpoints (None: at epoch ends only).
        keep_every_epochs: also keep ``epoch_N.pt`` every N epochs (0: never).
        val_every_epochs: validate every N epochs and at the end (0: only at the end).
        resume: "auto" (continue from ``output_dir/checkpoints/last.pt`` if present), a checkpoint path,
            or null (start fresh; refuses an output folder that already holds a checkpoint).
        tensorboard: write TensorBoard logs when the ``tensorboard`` package is installed.
        progress: show a tqdm progress bar.
        strategy: "ddp" or "fsdp" (sharded; for models that do not fit on one device) when distributed.
        find_unused_parameters: DDP option, for models where some trainable parameters get no gradient.
        save_final: write ``output_dir/final`` with ``save_pretrained`` at the end.
    """

    output_dir: str = "runs/vggt"
    max_epochs: int = 20
    seed: int = 42
    device: str = "auto"
    amp: bool = True
    freeze: list[str] = field(default_factory=list)
    log_every: int = 10
    checkpoint_every: int | None = None
    keep_every_epochs: int = 5
    val_every_epochs: int = 5
    resume: str | None = "auto"
    tensorboard: bool = True
    progress: bool = True
    strategy: Literal["ddp", "fsdp"] = "ddp"
    find_unused_parameters: bool = False
    save_final: bool = True

    def __post_init__(self) -> None:
        _require(self.max_epochs >= 1 and self.log_every >= 1, "train: max_epochs and log_every must be >= 1")
        _require(self.checkpoint_every is None or self.checkpoint_every >= 1, "train.checkpoint_every must be >= 1")
        _require(self.keep_every_epochs >= 0 and self.val_every_epochs >= 0, "train: *_every_epochs must be >= 0")
        _require(self.seed >= 0, "train.seed must be >= 0")
        _require(
            self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
            f"train.device must be auto, cpu, cuda or cuda:N, got {self.device!r}",
        )


@dataclass
class TrainConfig:
    """Every setting of a training run (sections documented in the module docstring)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    train: RunConfig = field(default_factory=RunConfig)

    # ------------------------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists instead of tuples), the inverse of :meth:`from_dict`."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any], overrides: Sequence[str] = ()) -> TrainConfig:
        """Build from a (partial) dict; missing fields take their defaults; then apply ``overrides``."""
        if not isinstance(data, dict):
            raise ValueError(f"a training config must be a mapping, got {type(data).__name__}")
        data = apply_overrides(data, overrides)
        return _build(cls, data, "")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> TrainConfig:
        """Read a YAML file, or a shipped recipe given as ``"recipe:NAME"``, then apply ``overrides``."""
        yaml = _import_yaml()
        if isinstance(path, str) and path.startswith(RECIPE_PREFIX):
            try:
                path = resolve_config_file(path)
            except FileNotFoundError as err:
                raise ValueError(str(err)) from err
        try:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        except OSError as err:
            raise ValueError(f"cannot read training config {str(path)!r}: {err}") from err
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML ({err})") from err
        try:
            return cls.from_dict({} if data is None else data, overrides)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err

    def to_yaml(self, path: str | os.PathLike[str] | None = None) -> str:
        """The config as YAML text; also written (atomically) to ``path`` if given."""
        text = _import_yaml().safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            from vggt_py.utils.io import atomic_write_text

            atomic_write_text(path, text)
        return text

    def with_overrides(self, overrides: Sequence[str]) -> TrainConfig:
        return TrainConfig.from_dict(self.to_dict(), overrides)


# ------------------------------------------------------------------------------------ recipes
def available_recipes() -> list[str]:
    """Names of the training recipes shipped with the package (``"recipe:NAME"``), sorted."""
    return sorted(p.stem for p in _RECIPES.glob("*.yaml")) if _RECIPES.is_dir() else []


def resolve_config_file(spec: str | os.PathLike[str]) -> Path:
    """The training config file named by ``spec``: a path, or ``"recipe:NAME"`` for a shipped recipe.

    A bare recipe name (``tiny_synthetic``) also works when no file of that name exists here.

    Raises:
        FileNotFoundError: naming the missing file or recipe and listing the shipped recipes.
    """
    text = os.fspath(spec)
    names = available_recipes()
    listed = f"shipped recipes: {', '.join(RECIPE_PREFIX + n for n in names) or 'none'}"
    if isinstance(spec, str) and text.startswith(RECIPE_PREFIX):
        name = text[len(RECIPE_PREFIX) :].removesuffix(".yaml")
        if name not in names:  # also rejects "", "../x": only listed names pass
            raise FileNotFoundError(f"no training recipe named {name!r}; {listed}")
        return _RECIPES / f"{name}.yaml"
    path = Path(os.path.expanduser(text))
    if path.is_file():
        return path
    stem = path.name.removesuffix(".yaml")
    if stem in names and text == stem:
        return _RECIPES / f"{stem}.yaml"
    hint = f"; to use the shipped recipe of that name, pass {RECIPE_PREFIX}{stem}" if stem in names else ""
    raise FileNotFoundError(f"config file not found: {text}{hint} ({listed})")


# ------------------------------------------------------------------------------------ helpers
def _import_yaml():
    try:
        import yaml
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("training configs need pyyaml: pip install pyyaml") from err
    return yaml


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``update`` merged in: sections are merged key by key, other values replaced."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with ``"a.b.c=value"`` overrides set (values parsed as YAML)."""
    yaml = _import_yaml()
    out = _plain(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ValueError(f"override {item!r}: expected key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ValueError(f"override {item!r}: value is not valid YAML ({err})") from err
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[leaf] = value
    return out


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - fields)
    if unknown:
        where = f"section {prefix.rstrip('.')!r}" if prefix else "the top level"
        raise ValueError(f"unknown key(s) {[prefix + k for k in unknown]} in {where}; valid: {sorted(fields)}")
    kwargs = {name: _coerce(value, hints[name], prefix + name) for name, value in data.items()}
    return cls(**kwargs)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` converted to type ``tp`` (dataclass, Optional, Literal, tuple, list, scalars) or ValueError."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{key}: expected a section (mapping), got {value!r}")
        return _build(tp, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, key)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if len(errors) == 1 else f"{key}: {value!r} matches none of {tp}")
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{key}: expected one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key) for v in value)
        if len(value) != len(args):
            raise ValueError(f"{key}: expected {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args))
    if origin is list:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, args[0], key) for v in items]
    return _coerce_scalar(value, tp, key)


def _coerce_scalar(value: Any, tp: Any, key: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a field type this parser does not know
        raise TypeError(f"{key}: unsupported field type {tp}")
    raise ValueError(f"{key}: expected {tp.__name__}, got {value!r}")
