"""``reconstruct``: photos in, cameras, depth, points and colours out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from vggt_py.geometry import pose_encoding_to_extri_intri, unproject_depth
from vggt_py.inference.images import ImageBatch, load_images
from vggt_py.inference.reconstruction import PointSource, Reconstruction
from vggt_py.model import VGGT

__all__ = ["DEFAULT_MODEL", "autocast_dtype", "load_model", "reconstruct", "resolve_device"]

DEFAULT_MODEL = "facebook/VGGT-1B"
ImageSource = ImageBatch | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
DtypeName = Literal["auto", "fp32", "bf16", "fp16"]

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def autocast_dtype(device: torch.device, dtype: DtypeName | torch.dtype = "auto") -> torch.dtype:
    """The compute dtype: bf16 on CUDA devices of capability >= 8, fp16 on older ones, fp32 on CPU."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype != "auto":
        try:
            return _DTYPES[dtype]
        except KeyError:
            raise ValueError(f"dtype must be one of {['auto', *_DTYPES]}, got {dtype!r}") from None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.get_device_capability(device)[0] >= 8 else torch.float16
    return torch.float32


def load_model(model: VGGT | str | os.PathLike[str] | None, device: torch.device) -> VGGT:
    """A model object, a hub id / path for :meth:`VGGT.from_pretrained`, or ``None`` for the default."""
    if isinstance(model, VGGT):
        return model.to(device).eval()
    return VGGT.from_pretrained(model if model is not None else DEFAULT_MODEL, device=device)


def _as_batch(images: ImageSource, mode: str, image_size: int, patch_size: int) -> ImageBatch:
    if isinstance(images, ImageBatch):
        return images
    return load_images(images, mode=mode, target_size=image_size, patch_size=patch_size)


@torch.inference_mode()
def reconstruct(
    images: ImageSource,
    model: VGGT | str | os.PathLike[str] | None = None,
    *,
    mode: Literal["crop", "pad", "square"] = "crop",
    query_points: np.ndarray | torch.Tensor | None = None,
    point_source: PointSource = "depth",
    device: str | torch.device | None = None,
    dtype: DtypeName | torch.dtype = "auto",
    frames_chunk_size: int | None = None,
) -> Reconstruction:
    """Reconstruct a scene from photos.

    Args:
        images: an :class:`ImageBatch`, a folder, a video file or a list of image paths.
        model: a :class:`VGGT`, a hub repo id or local path, or ``None`` for ``facebook/VGGT-1B``.
        mode: preprocessing, ``"crop"`` (upstream's default) or ``"pad"`` (keeps the whole photo).
        query_points: optional [N, 2] pixels (x, y) of the FIRST ORIGINAL photo to track.
        point_source: the default world points of the result: ``"depth"`` (depth unprojected with
            the predicted cameras; the more accurate of the two, as the VGGT authors note) or
            ``"head"`` (the point head's map). Both are kept.
        device: ``"cuda"``, ``"cpu"``... (default: CUDA when available).
        dtype: ``"auto"`` (bf16 on Ampere or newer GPUs, fp16 on older ones, fp32 on CPU) or a
            fixed ``"fp32"`` / ``"bf16"`` / ``"fp16"``. The camera, depth and point heads always
            compute in fp32.
        frames_chunk_size: frames per dense-head pass (bounds memory on long sequences).
    """
    dev = resolve_device(device)
    net = load_model(model, dev)
    if point_source not in ("depth", "head"):
        raise ValueError(f"point_source must be 'depth' or 'head', got {point_source!r}")
    if net.camera_head is None or net.depth_head is None:
        raise ValueError("reconstruct needs a model with the camera and depth heads enabled")
    if point_source == "head" and net.point_head is None:
        raise ValueError("point_source='head' needs a model with the point head enabled")
    batch = _as_batch(images, mode, net.config.img_size, net.config.patch_size)

    queries_model = None
    if query_points is not None:
        q = np.asarray(query_points, dtype=np.float64)
        if q.ndim != 2 or q.shape[1] != 2 or len(q) == 0:
            raise ValueError(f"query_points must be [N, 2] pixels (x, y), got shape {q.shape}")
        queries_model = batch.to_model(q, 0).astype(np.float32)

    compute = autocast_dtype(dev, dtype)
    pixels = batch.images.to(dev)
    previous_chunk = net.config.depth_head.frames_chunk_size
    try:
        if frames_chunk_size is not None:
            net.set_frames_chunk_size(frames_chunk_size)
        with torch.autocast(device_type=dev.type, dtype=compute, enabled=compute != torch.float32):
            out = net(
                pixels,
                query_points=None if queries_model is None else torch.from_numpy(queries_model).to(dev),
            )
    finally:
        if frames_chunk_size is not None:
            net.set_frames_chunk_size(previous_chunk)
    height, width = pixels.shape[-2:]
    extrinsics, intrinsics = pose_encoding_to_extri_intri(out["pose_enc"][0].float(), (height, width))
    depth = out["depth"][0, ..., 0].float()
    points_from_depth = unproject_depth(depth, intrinsics, extrinsics)

    def numpy(t: torch.Tensor | None) -> np.ndarray | None:
        return None if t is None else t.detach().float().cpu().numpy()

    result = Reconstruction(
        extrinsics=numpy(extrinsics),
        intrinsics=numpy(intrinsics),
        depth=numpy(depth),
        depth_conf=numpy(out["depth_conf"][0]),
        points_from_depth=numpy(points_from_depth),
        colors=(batch.images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8),
        names=list(batch.names),
        original_sizes=np.asarray(batch.original_sizes, dtype=np.int64),
        transforms=batch.transforms.numpy().astype(np.float64),
        valid_regions=batch.valid_regions.numpy().astype(np.int64),
        pose_encoding=numpy(out["pose_enc"][0]),
        points_from_head=numpy(out["world_points"][0]) if "world_points" in out else None,
        points_conf=numpy(out["world_points_conf"][0]) if "world_points_conf" in out else None,
        point_source=point_source,
        metadata={"device": str(dev), "dtype": str(compute).replace("torch.", ""), "mode": batch.mode},
    )
    if queries_model is not None:
        result.query_points = queries_model
        result.tracks = numpy(out["track"][0])
        result.track_visibility = numpy(out["vis"][0])
        result.track_confidence = numpy(out["conf"][0])
    return result
