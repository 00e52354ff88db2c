"""Typed, nested configuration of the VGGT architecture.

One :class:`VGGTConfig` describes a whole model; every dimension of every module is reachable from it.
It reads two JSON dialects:

* the project's schema (``img_size``, ``patch_size``, ``embed_dim`` plus the nested sections
  ``aggregator``, ``patch_embed``, ``camera_head``, ``depth_head``, ``point_head``, ``track_head``),
  which is also what :meth:`VGGTConfig.to_dict` writes;
* the official hub ``config.json`` of ``facebook/VGGT-1B`` (only ``img_size``, ``patch_size``,
  ``embed_dim``, optionally the upstream ``enable_*`` switches); every missing field takes the
  VGGT-1B value.

Named presets live in :data:`PRESETS` (``"vggt-1b"`` is the default, ``"tiny"`` is for tests).
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

__all__ = [
    "AggregatorConfig",
    "CameraHeadConfig",
    "DPTHeadConfig",
    "PatchEmbedConfig",
    "PRESETS",
    "TrackHeadConfig",
    "VGGTConfig",
]

_T = TypeVar("_T")


@dataclass
class PatchEmbedConfig:
    """Patch embedding: a DINOv2 ViT with registers, or a bare strided convolution."""

    type: Literal["dinov2", "conv"] = "dinov2"
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    layer_scale_init: float = 1.0
    norm_eps: float = 1e-6


@dataclass
class AggregatorConfig:
    """Alternating frame/global attention trunk."""

    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    qk_norm: bool = True
    rope_freq: float = 100.0
    aa_block_size: int = 1
    layer_scale_init: float = 0.01
    norm_eps: float = 1e-5


@dataclass
class CameraHeadConfig:
    """Iterative camera head on the last layer's camera token."""

    enabled: bool = True
    trunk_depth: int = 4
    num_heads: int = 16
    mlp_ratio: float = 4.0
    iters: int = 4
    layer_scale_init: float = 0.01


@dataclass
class DPTHeadConfig:
    """Dense prediction (DPT) head: depth or world points with a confidence channel."""

    enabled: bool = True
    features: int = 256
    out_channels: tuple[int, int, int, int] = (256, 512, 1024, 1024)
    intermediate_layer_idx: tuple[int, int, int, int] = (4, 11, 17, 23)
    # Frames processed together by the head (None: all at once). Frames are independent, so this
    # changes memory, not results; 1 keeps CPU peak memory lowest (the reference uses 8).
    frames_chunk_size: int | None = 1


@dataclass
class TrackHeadConfig:
    """DPT feature extractor plus the iterative correlation tracker."""

    enabled: bool = True
    features: int = 128
    out_channels: tuple[int, int, int, int] = (256, 512, 1024, 1024)
    intermediate_layer_idx: tuple[int, int, int, int] = (4, 11, 17, 23)
    iters: int = 4
    corr_levels: int = 7
    corr_radius: int = 4
    hidden_size: int = 384
    transformer_depth: int = 6
    transformer_heads: int = 8
    num_virtual_tracks: int = 64
    # Flow normaliser of the tracker input (upstream's constant, independent of img_size).
    max_scale: float = 518.0
    frames_chunk_size: int | None = 1


def _dpt_head() -> DPTHeadConfig:
    return DPTHeadConfig()


@dataclass
class VGGTConfig:
    """The whole model. Defaults are VGGT-1B (``facebook/VGGT-1B``)."""

    img_size: int = 518
    patch_size: int = 14
    embed_dim: int = 1024
    aggregator: AggregatorConfig = field(default_factory=AggregatorConfig)
    patch_embed: PatchEmbedConfig = field(default_factory=PatchEmbedConfig)
    camera_head: CameraHeadConfig = field(default_factory=CameraHeadConfig)
    depth_head: DPTHeadConfig = field(default_factory=_dpt_head)
    point_head: DPTHeadConfig = field(default_factory=_dpt_head)
    track_head: TrackHeadConfig = field(default_factory=TrackHeadConfig)
    # Recompute each transformer block in the backward pass (saves memory when training).
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise ``ValueError`` if a field has the wrong type (naming it) or the dimensions do not fit together."""
        _check_field_types(self, "")
        pe, agg = self.patch_embed, self.aggregator
        if self.patch_size <= 0 or self.img_size <= 0 or self.img_size % self.patch_size:
            raise ValueError(
                f"img_size ({self.img_size}) must be a positive multiple of patch_size ({self.patch_size})"
            )
        if pe.type not in ("dinov2", "conv"):
            raise ValueError(f"patch_embed.type must be 'dinov2' or 'conv', got {pe.type!r}")
        if pe.type == "dinov2" and pe.embed_dim != self.embed_dim:
            raise ValueError(
                f"patch_embed.embed_dim ({pe.embed_dim}) must equal embed_dim ({self.embed_dim}) for DINOv2"
            )
        if pe.type == "dinov2" and pe.embed_dim % pe.num_heads:
            raise ValueError("patch_embed.embed_dim must be divisible by patch_embed.num_heads")
        if self.embed_dim % agg.num_heads:
            raise ValueError(f"embed_dim ({self.embed_dim}) must be divisible by aggregator.num_heads")
        head_dim = self.embed_dim // agg.num_heads
        if head_dim % 4:
            raise ValueError(f"2-D RoPE needs a head dimension divisible by 4, got {head_dim}")
        if agg.rope_freq <= 0:
            raise ValueError("aggregator.rope_freq must be positive")
        if agg.depth <= 0 or agg.aa_block_size <= 0 or agg.depth % agg.aa_block_size:
            raise ValueError("aggregator.depth must be a positive multiple of aggregator.aa_block_size")
        if self.camera_head.enabled and (2 * self.embed_dim) % self.camera_head.num_heads:
            raise ValueError("2 * embed_dim must be divisible by camera_head.num_heads")
        for name in ("depth_head", "point_head", "track_head"):
            head = getattr(self, name)
            if not head.enabled:
                continue
            if len(head.out_channels) != 4 or len(head.intermediate_layer_idx) != 4:
                raise ValueError(f"{name}.out_channels and intermediate_layer_idx need 4 entries each")
            bad = [i for i in head.intermediate_layer_idx if not -agg.depth <= i < agg.depth]
            if bad:
                raise ValueError(f"{name}.intermediate_layer_idx {bad} out of range for depth {agg.depth}")
        th = self.track_head
        if th.enabled:
            token_dim = 3 * th.features + 4
            if th.features % 4 or token_dim % 4:
                raise ValueError("track_head.features must be divisible by 4")
            if th.hidden_size % th.transformer_heads:
                raise ValueError("track_head.hidden_size must be divisible by track_head.transformer_heads")

    # ------------------------------------------------------------ derived values
    @property
    def head_dim_in(self) -> int:
        """Channel width of the aggregator outputs (frame and global halves)."""
        return 2 * self.embed_dim

    @property
    def patch_start_idx(self) -> int:
        """Index of the first patch token in each frame: 1 camera token plus the registers."""
        return 1 + self.aggregator.num_register_tokens

    def layers_needed(self) -> tuple[int, ...]:
        """Aggregator layers read by the enabled heads, sorted, as non-negative indices."""
        depth = self.aggregator.depth
        wanted: set[int] = set()
        if self.camera_head.enabled:
            wanted.add(depth - 1)
        for head in (self.depth_head, self.point_head, self.track_head):
            if head.enabled:
                wanted.update(i % depth for i in head.intermediate_layer_idx)
        return tuple(sorted(wanted))

    # ---------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for name in ("depth_head", "point_head", "track_head"):
            for key in ("out_channels", "intermediate_layer_idx"):
                out[name][key] = list(out[name][key])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VGGTConfig":
        """Build from either JSON dialect; missing fields take the VGGT-1B values."""
        if not isinstance(data, dict):
            raise ValueError(f"a VGGT config must be a JSON object, got {type(data).__name__}")
        data = dict(data)
        switches = {
            "enable_camera": "camera_head",
            "enable_depth": "depth_head",
            "enable_point": "point_head",
            "enable_track": "track_head",
        }
        enabled = {section: bool(data.pop(key)) for key, section in switches.items() if key in data}
        section_types = {
            "aggregator": AggregatorConfig,
            "patch_embed": PatchEmbedConfig,
            "camera_head": CameraHeadConfig,
            "depth_head": DPTHeadConfig,
            "point_head": DPTHeadConfig,
            "track_head": TrackHeadConfig,
        }
        kwargs: dict[str, Any] = {}
        scalar_fields = {f.name for f in dataclasses.fields(cls)} - set(section_types)
        for key, value in data.items():
            if key in section_types:
                if not isinstance(value, dict):
                    raise ValueError(f"config section {key!r} must be an object, got {type(value).__name__}")
                kwargs[key] = _build_section(section_types[key], value, key)
            elif key in scalar_fields:
                kwargs[key] = value
            else:
                raise ValueError(
                    f"unknown config field {key!r}; expected one of {sorted(scalar_fields | set(section_types))}"
                )
        if "patch_embed" not in kwargs and "embed_dim" in kwargs:
            # The official hub config names only the top-level width; DINOv2 must match it.
            kwargs["patch_embed"] = PatchEmbedConfig(embed_dim=kwargs["embed_dim"])
        for section, flag in enabled.items():
            kwargs.setdefault(section, section_types[section]())
            kwargs[section].enabled = flag
        return cls(**kwargs)

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> "VGGTConfig":
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not a JSON config file (not valid JSON: {err}); expected a UTF-8 JSON object") from err
        try:
            return cls.from_dict(data)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err

    def to_json(self, path: str | os.PathLike[str]) -> None:
        from vggt_py.utils.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_preset(cls, name: str) -> "VGGTConfig":
        try:
            factory = PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown preset {name!r}; available: {sorted(PRESETS)}") from None
        return factory()

    def replace(self, **changes: Any) -> "VGGTConfig":
        """A copy with top-level fields replaced (sections are deep-copied)."""
        return VGGTConfig.from_dict({**self.to_dict(), **changes})


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (tuple, list):
        args = typing.get_args(hint)
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_type_ok(v, args[0]) for v in value)
        return len(args) == len(value) and all(_type_ok(v, a) for v, a in zip(value, args))
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _hint_name(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _check_field_types(obj: Any, prefix: str) -> None:
    """Raise ``ValueError`` naming the first field of ``obj`` (a config dataclass) whose value has the wrong type."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, hint = getattr(obj, f.name), hints[f.name]
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, hint):
                raise ValueError(f"config field {name!r} must be an object, got {value!r}")
            _check_field_types(value, f"{name}.")
        elif not _type_ok(value, hint):
            raise ValueError(
                f"config field {name!r} must be {_hint_name(hint)}, got {value!r} ({type(value).__name__})"
            )


def _build_section(kind: type[_T], values: dict[str, Any], name: str) -> _T:
    known = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} in config section {name!r}; expected a subset of {sorted(known)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return kind(**values)


def _vggt_1b() -> VGGTConfig:
    return VGGTConfig()


def _tiny() -> VGGTConfig:
    """A few-hundred-thousand-parameter model for tests; same code paths as VGGT-1B."""
    small_dpt = dict(features=32, out_channels=(16, 32, 64, 64), intermediate_layer_idx=(0, 1, 2, 3))
    return VGGTConfig(
        img_size=518,
        patch_size=14,
        embed_dim=64,
        aggregator=AggregatorConfig(depth=4, num_heads=4),
        patch_embed=PatchEmbedConfig(type="dinov2", embed_dim=64, depth=2, num_heads=4),
        camera_head=CameraHeadConfig(trunk_depth=2, num_heads=4),
        depth_head=DPTHeadConfig(**small_dpt),
        point_head=DPTHeadConfig(**small_dpt),
        track_head=TrackHeadConfig(
            **small_dpt, iters=2, corr_levels=3, corr_radius=2, hidden_size=48, transformer_depth=2
        ),
    )


def _tiny_conv() -> VGGTConfig:
    config = _tiny()
    config.patch_embed.type = "conv"
    return config


def _small() -> VGGTConfig:
    """The 5.7M-parameter, 224-px model bundled with the package (trained on synthetic scenes).

    Same architecture as VGGT-1B, scaled down: 128-dim tokens, 2-block DINOv2 patch embedding,
    6 frame + 6 global blocks, camera/depth/point heads; no track head.
    """
    dpt = dict(features=32, out_channels=(32, 64, 128, 128), intermediate_layer_idx=(1, 3, 4, 5))
    return VGGTConfig(
        img_size=224,
        patch_size=14,
        embed_dim=128,
        aggregator=AggregatorConfig(depth=6, num_heads=4),
        patch_embed=PatchEmbedConfig(type="dinov2", embed_dim=128, depth=2, num_heads=4),
        camera_head=CameraHeadConfig(trunk_depth=2, num_heads=4),
        depth_head=DPTHeadConfig(**dpt),
        point_head=DPTHeadConfig(**dpt),
        track_head=TrackHeadConfig(enabled=False),
    )


PRESETS = {
    "vggt-1b": _vggt_1b,
    "tiny": _tiny,
    "tiny-conv": _tiny_conv,
    "small": _small,
}
