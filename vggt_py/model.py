"""The VGGT model: aggregator plus camera, depth, point and track heads.

Axis letters used throughout: ``B`` scenes, ``S`` frames per scene, ``N`` query points,
``H x W`` image size, ``P`` tokens per frame, ``C`` channels.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from vggt_py.aggregator import Aggregator, DinoV2
from vggt_py.config import VGGTConfig
from vggt_py.heads.camera_head import CameraHead
from vggt_py.heads.dpt_head import DPTHead
from vggt_py.heads.track_head import TrackHead
from vggt_py.hub import PretrainedMixin
from vggt_py.outputs import VGGTOutput

if TYPE_CHECKING:  # pragma: no cover - typing only
    from vggt_py.parallel.shard import FrameShard

__all__ = ["VGGT", "VGGTOutput", "fp32_compute"]

_LOW_PRECISION = (torch.bfloat16, torch.float16)
_WEIGHT_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
                  "fp32": torch.float32, "float32": torch.float32}


def _parse_weight_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, str):
        if dtype not in _WEIGHT_DTYPES:
            raise ValueError(f"unknown weight dtype {dtype!r}; expected one of {sorted(_WEIGHT_DTYPES)}")
        return _WEIGHT_DTYPES[dtype]
    if dtype not in (torch.bfloat16, torch.float16, torch.float32, torch.float64):
        raise ValueError(f"weights can be stored in bf16, fp16, fp32 or fp64, got {dtype}")
    return dtype


def _trunk_autocast(model: "VGGT", device: str) -> contextlib.AbstractContextManager:
    """Weights stored in bf16/fp16 run the trunk under autocast to that dtype (unless the caller's is on)."""
    dtype = model.weight_dtype
    if dtype in _LOW_PRECISION and not torch.is_autocast_enabled(device):
        return torch.autocast(device_type=device, dtype=dtype)
    return contextlib.nullcontext()


def _weight_units(module: nn.Module) -> Iterator[tuple[nn.Module, list[tuple[nn.Module, str]]]]:
    """Modules that read their own parameters when called, with those parameters' (owner, name).

    ``nn.MultiheadAttention`` also reads its ``out_proj`` parameters without calling it.
    """
    inside_mha: set[int] = set()
    for sub in module.modules():
        if id(sub) in inside_mha:
            continue
        if isinstance(sub, nn.MultiheadAttention):
            owned = [(owner, name) for owner in sub.modules() for name, _ in owner.named_parameters(recurse=False)]
            inside_mha.update(id(m) for m in sub.modules())
        else:
            owned = [(sub, name) for name, _ in sub.named_parameters(recurse=False)]
        if owned:
            yield sub, owned


@contextlib.contextmanager
def fp32_compute(module: nn.Module) -> Iterator[None]:
    """Run ``module`` in float32 although its weights are stored in bf16/fp16.

    Each module's weights are upcast just before it runs and dropped right after, so at most one
    layer's float32 copy exists at a time. A no-op for float32 (or float64) weights.
    """
    handles = []
    stashed: dict[tuple[int, str], tuple[nn.Module, str, torch.Tensor]] = {}

    def upcast(unit_params: list[tuple[nn.Module, str]]) -> None:
        for owner, name in unit_params:
            param = owner._parameters[name]
            if param is not None and param.dtype in _LOW_PRECISION:
                stashed[(id(owner), name)] = (owner, name, param)
                owner._parameters[name] = param.float()

    def restore(unit_params: list[tuple[nn.Module, str]]) -> None:
        for owner, name in unit_params:
            entry = stashed.pop((id(owner), name), None)
            if entry is not None:
                owner._parameters[name] = entry[2]

    if any(p.dtype in _LOW_PRECISION for p in module.parameters()):
        for unit, params in _weight_units(module):
            handles.append(unit.register_forward_pre_hook(lambda m, a, p=params: upcast(p)))
            handles.append(unit.register_forward_hook(lambda m, a, o, p=params: restore(p)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for owner, name, param in stashed.values():
            owner._parameters[name] = param
        stashed.clear()


class VGGT(PretrainedMixin, nn.Module):
    """Visual Geometry Grounded Transformer.

    ``forward(images, query_points=None)`` takes ``images`` [S, 3, H, W] or [B, S, 3, H, W] (RGB in
    [0, 1], H and W multiples of the patch size) and returns a :class:`~vggt_py.outputs.VGGTOutput`, a dict
    (with one typed attribute per key, ``None`` when absent) holding

    ========================  ======================  =========================================
    key                       shape                   meaning
    ========================  ======================  =========================================
    ``pose_enc``              [B, S, 9]               last camera-head iteration
    ``pose_enc_list``         list of [B, S, 9]       every iteration
    ``depth``                 [B, S, H, W, 1]         camera-frame z (frame 0 is the world)
    ``depth_conf``            [B, S, H, W]            confidence, >= 1
    ``world_points``          [B, S, H, W, 3]         point map in frame 0's camera frame
    ``world_points_conf``     [B, S, H, W]            confidence, >= 1
    ``track``                 [B, S, N, 2]            with ``query_points``: pixel tracks
    ``vis``, ``conf``         [B, S, N]               with ``query_points``: visibility, confidence
    ``images``                [B, S, 3, H, W]         the (batched) input
    ========================  ======================  =========================================

    Keys of disabled heads are absent. The camera, depth and point heads always run in float32,
    also under autocast; the track head follows the caller's autocast.

    Weights may be stored in bf16 (``from_pretrained(..., dtype=torch.bfloat16)`` or
    ``model.to(torch.bfloat16)``): half the weight memory. The trunk then runs under bf16 autocast
    (its residual stream stays float32, as under autocast with float32 weights) and the heads in
    float32, each layer's weights upcast only while it runs. Under autocast, or with bf16 weights,
    the aggregator layers kept for the heads are stored in the autocast dtype.

    ``shard`` (a :class:`vggt_py.parallel.FrameShard`) runs this process's frames of a scene split
    across a ``torch.distributed`` group; every output then holds this process's frames only (see
    :func:`vggt_py.parallel.forward_distributed`, which also splits and gathers).
    """

    def __init__(self, config: VGGTConfig | None = None):
        super().__init__()
        self.config = config = config if config is not None else VGGTConfig()
        config.validate()
        dim_in = config.head_dim_in
        self.aggregator = Aggregator(config)
        self.camera_head = (
            CameraHead(dim_in, config.camera_head, layer_index=config.aggregator.depth - 1)
            if config.camera_head.enabled
            else None
        )
        self.point_head = self._dense_head(config.point_head, 4, "inv_log") if config.point_head.enabled else None
        self.depth_head = self._dense_head(config.depth_head, 2, "exp") if config.depth_head.enabled else None
        self.track_head = (
            TrackHead(dim_in, config.patch_size, config.track_head) if config.track_head.enabled else None
        )
        self._layers_needed = config.layers_needed()
        self.set_activation_checkpointing(config.activation_checkpointing)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Initialise for training from scratch (the reference's recipe; a checkpoint overrides it).

        Linear and convolution layers keep PyTorch's defaults except in DINOv2 (truncated normal,
        std 0.02, zero bias) and the tracker's update transformer (Xavier-uniform, zero bias; the
        flow head std 0.001). Learned tokens: aggregator and DINOv2 N(0, 1e-6), positional grid
        truncated normal 0.02, tracker query/virtual tokens N(0, 1).
        """
        agg = self.aggregator
        nn.init.normal_(agg.camera_token, std=1e-6)
        nn.init.normal_(agg.register_token, std=1e-6)
        if isinstance(agg.patch_embed, DinoV2):
            dino = agg.patch_embed
            nn.init.trunc_normal_(dino.pos_embed, std=0.02)
            nn.init.normal_(dino.cls_token, std=1e-6)
            nn.init.normal_(dino.register_tokens, std=1e-6)
            nn.init.zeros_(dino.mask_token)
            for module in dino.blocks.modules():
                if isinstance(module, nn.Linear):
                    nn.init.trunc_normal_(module.weight, std=0.02)
                    nn.init.zeros_(module.bias)
        if self.track_head is not None:
            tracker = self.track_head.tracker
            nn.init.normal_(tracker.query_ref_token)
            nn.init.normal_(tracker.updateformer.virual_tracks)
            for module in tracker.updateformer.modules():
                if isinstance(module, nn.Linear):
                    nn.init.xavier_uniform_(module.weight)
                    nn.init.zeros_(module.bias)
            nn.init.trunc_normal_(tracker.updateformer.flow_head.weight, std=0.001)

    def _dense_head(self, head_config, output_dim: int, activation: str) -> DPTHead:
        depth = self.config.aggregator.depth
        return DPTHead(
            self.config.head_dim_in,
            self.config.patch_size,
            features=head_config.features,
            out_channels=head_config.out_channels,
            layer_indices=[i % depth for i in head_config.intermediate_layer_idx],
            output_dim=output_dim,
            activation=activation,
            conf_activation="expp1",
            frames_chunk_size=head_config.frames_chunk_size,
        )

    # ------------------------------------------------------------------------------ options
    def set_activation_checkpointing(self, enabled: bool) -> None:
        """Recompute transformer blocks in backward (less memory when training). Off by default."""
        self.config.activation_checkpointing = enabled
        self.aggregator.set_checkpointing(enabled)
        if self.camera_head is not None:
            self.camera_head.checkpointing = enabled

    def set_frames_chunk_size(self, chunk: int | None) -> None:
        """Frames processed together by the dense heads (``None``: all at once)."""
        if chunk is not None and chunk < 1:
            raise ValueError(f"frames_chunk_size must be >= 1 or None, got {chunk}")
        for name in ("depth_head", "point_head", "track_head"):
            head = getattr(self, name)
            if head is not None:
                getattr(self.config, name).frames_chunk_size = chunk
                (head.feature_extractor if isinstance(head, TrackHead) else head).frames_chunk_size = chunk

    @property
    def min_track_image_size(self) -> int:
        """Smallest H and W the tracker accepts: its coarsest pyramid level must keep one pixel."""
        levels = self.config.track_head.corr_levels
        need = 2**levels  # the H/2 map is halved (levels - 1) times
        patch = self.config.patch_size
        return -(-need // patch) * patch

    # ------------------------------------------------------------------------------ forward
    def _check_inputs(
        self, images: torch.Tensor, query_points: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not isinstance(images, torch.Tensor):
            raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}")
        if images.dim() == 4:
            images = images[None]
        if images.dim() != 5:
            raise ValueError(f"images must be [S, 3, H, W] or [B, S, 3, H, W], got shape {tuple(images.shape)}")
        if not images.is_floating_point():
            raise ValueError(f"images must be a floating-point tensor in [0, 1], got dtype {images.dtype}")
        if images.dtype == torch.float64:  # values in [0, 1] are kept to float32 precision, as the weights
            images = images.to(torch.float32)
        batch, frames, channels, height, width = images.shape
        if batch == 0 or frames == 0:
            raise ValueError(f"images must hold at least one scene and one frame, got shape {tuple(images.shape)}")
        if channels != 3:
            raise ValueError(f"images must have 3 (RGB) channels, got {channels} (shape {tuple(images.shape)})")
        patch = self.config.patch_size
        if height % patch or width % patch or height == 0 or width == 0:
            raise ValueError(
                f"image height and width must be positive multiples of the patch size {patch}, got {height}x{width}"
            )
        if not torch.isfinite(images).all():
            raise ValueError("images contain NaN or infinite values")
        lo, hi = images.min().item(), images.max().item()
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(
                f"images must be RGB in [0, 1], got values in [{lo:.3g}, {hi:.3g}] (divide 8-bit images by 255)"
            )
        if query_points is None:
            return images, None
        if self.track_head is None:
            raise ValueError("query_points were given but the track head is disabled in this model's config")
        if not isinstance(query_points, torch.Tensor) or not query_points.is_floating_point():
            raise ValueError("query_points must be a floating-point torch.Tensor of pixel coordinates (x, y)")
        if query_points.dim() == 2:
            query_points = query_points[None]
        if query_points.dim() != 3 or query_points.shape[-1] != 2 or query_points.shape[0] != batch:
            raise ValueError(
                f"query_points must be [N, 2] or [B, N, 2] with B = {batch}, got shape {tuple(query_points.shape)}"
            )
        if query_points.shape[1] == 0:
            raise ValueError("query_points must hold at least one point")
        if not torch.isfinite(query_points).all():
            raise ValueError("query_points contain NaN or infinite values")
        minimum = self.min_track_image_size
        if height < minimum or width < minimum:
            raise ValueError(
                f"tracking needs images of at least {minimum}x{minimum} pixels "
                f"({self.config.track_head.corr_levels} correlation levels), got {height}x{width}"
            )
        return images, query_points

    def forward(
        self, images: torch.Tensor, query_points: torch.Tensor | None = None, *, shard: FrameShard | None = None
    ) -> VGGTOutput:
        images, query_points = self._check_inputs(images, query_points)
        image_hw = (images.shape[-2], images.shape[-1])
        device = images.device.type
        with _trunk_autocast(self, device):
            layers, patch_start_idx = self.aggregator(images, keep_layers=self._layers_needed, shard=shard)
        predictions = VGGTOutput()
        with torch.autocast(device_type=device, enabled=False), fp32_compute(self):
            if self.camera_head is not None:  # the heads read the layers in float32
                pose_enc_list = self.camera_head(layers, shard=shard)
                predictions["pose_enc"] = pose_enc_list[-1]
                predictions["pose_enc_list"] = pose_enc_list
            if self.depth_head is not None:
                predictions["depth"], predictions["depth_conf"] = self.depth_head(layers, image_hw, patch_start_idx)
            if self.point_head is not None:
                predictions["world_points"], predictions["world_points_conf"] = self.point_head(
                    layers, image_hw, patch_start_idx
                )
        if self.track_head is not None and query_points is not None:
            with contextlib.nullcontext() if torch.is_autocast_enabled(device) else fp32_compute(self.track_head):
                tracks, vis, conf = self.track_head(layers, image_hw, patch_start_idx, query_points, shard=shard)
            predictions["track"], predictions["vis"], predictions["conf"] = tracks[-1], vis, conf
        predictions["images"] = images
        return predictions

    @property
    def weight_dtype(self) -> torch.dtype:
        """The dtype the weights are stored in (see :meth:`set_weight_dtype`)."""
        return self.aggregator.camera_token.dtype

    @torch.no_grad()
    def set_weight_dtype(self, dtype: torch.dtype | str) -> "VGGT":
        """Store the weights in ``dtype`` (``"bf16"``, ``"fp16"``, ``"fp32"`` or a torch dtype), in place.

        With bf16/fp16, normalisation layers (a few thousand values) stay in float32, so the float32 residual stream
        is normalised as with float32 weights. Tensors are converted one at a time (no second copy
        of the model). Returns the model.
        """
        target = _parse_weight_dtype(dtype)
        for module in self.modules():
            keep_fp32 = target in _LOW_PRECISION and isinstance(module, (nn.LayerNorm, nn.GroupNorm))
            for name, param in module.named_parameters(recurse=False):
                want = torch.float32 if keep_fp32 else target
                if param.dtype != want:
                    module._parameters[name] = nn.Parameter(param.to(want), requires_grad=param.requires_grad)
        return self

    # -------------------------------------------------------------------------- weights
    @classmethod
    def from_pretrained(cls, repo_id_or_path: str | os.PathLike[str], *, dtype: torch.dtype | str | None = None, **kwargs: Any) -> "VGGT":
        """Load a model as :meth:`PretrainedMixin.from_pretrained` does (same keyword arguments).

        ``dtype="bf16"`` (or ``"fp16"``, or a torch dtype) stores the weights in that dtype as they load,
        as :meth:`set_weight_dtype` does (the normalisation layers go back to float32 with their
        bf16-rounded values).
        """
        weight_dtype = _parse_weight_dtype(dtype) if dtype is not None else None
        model = super().from_pretrained(repo_id_or_path, dtype=weight_dtype, **kwargs)
        return model.set_weight_dtype(weight_dtype) if weight_dtype is not None else model
