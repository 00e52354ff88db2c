"""``reconstruct``: photos in, cameras, depth, points and colours out; and which model to use.

The default model is :data:`DEFAULT_MODEL` (``facebook/VGGT-1B``), from the local Hugging Face cache
or the hub. When it is not available (offline, ``HF_HUB_OFFLINE=1``, not cached, the hub unreachable
or refusing), the model bundled with the package (:data:`vggt_py.bundled.BUNDLED_MODEL`) is used
instead, and :func:`load_model` says so with a :class:`DefaultModelFallbackWarning`. Whether the hub
can be reached is decided by one HTTP request bounded by :data:`HUB_PROBE_TIMEOUT` seconds, so an
offline machine falls back at once instead of waiting through huggingface_hub's retries.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist

from vggt_py.bundled import BUNDLED_MODEL, bundled_model_card, bundled_spec, parse_bundled_spec
from vggt_py.geometry import content_intrinsics, pose_encoding_to_extri_intri, unproject_depth
from vggt_py.inference.anchors import align_to_poses, scale_by_depth, scale_by_distance
from vggt_py.inference.images import ImageBatch, load_images
from vggt_py.inference.known_intrinsics import apply_intrinsics, check_intrinsics
from vggt_py.inference.reconstruction import PointSource, Reconstruction
from vggt_py.inference.windowed import check_window, default_window, select_keyframes, stitch_windows
from vggt_py.model import VGGT
from vggt_py.outputs import VGGTOutput
from vggt_py.parallel import forward_distributed

__all__ = [
    "DEFAULT_MODEL",
    "HUB_PROBE_TIMEOUT",
    "DefaultModelFallbackWarning",
    "ModelChoice",
    "autocast_dtype",
    "hub_reachable",
    "input_frame_indices",
    "load_default_model",
    "load_model",
    "model_name",
    "reconstruct",
    "resolve_default_model",
    "resolve_device",
]

DEFAULT_MODEL = "facebook/VGGT-1B"
HUB_PROBE_TIMEOUT = 3.0  # seconds the hub gets to answer before the default model counts as unavailable
_REASON_CHARS = 200  # longest download error quoted in the one-line fallback notice
_NAME_ATTRIBUTE = "name_or_path"  # set on models loaded by load_model (as transformers names it)
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


# ---------------------------------------------------------------------------------------------
# Which model


class DefaultModelFallbackWarning(UserWarning):
    """:data:`DEFAULT_MODEL` was not available, so the bundled model was used (the message says why)."""


@dataclass(frozen=True)
class ModelChoice:
    """What the default model resolves to: ``spec`` for :meth:`VGGT.from_pretrained`, and why if not the default."""

    spec: str
    fallback_reason: str | None = None  # why DEFAULT_MODEL is not used; None when it is
    cached: bool = False  # DEFAULT_MODEL is in the local Hugging Face cache (loaded without asking the hub)

    @property
    def is_fallback(self) -> bool:
        return self.fallback_reason is not None

    def notice(self) -> str:
        """One line: why :data:`DEFAULT_MODEL` is not used, what is used instead and how to get it."""
        if self.fallback_reason is None:
            return f"using {self.spec}"
        return (
            f"{DEFAULT_MODEL} not used: {self.fallback_reason}. Using the bundled model {BUNDLED_MODEL} instead, "
            f"a small synthetic-scene model that is no substitute for VGGT-1B on real photos (model card: "
            f"{bundled_model_card()}). To get VGGT-1B, run `hf download {DEFAULT_MODEL}` where the hub is "
            "reachable (copy the Hugging Face cache along), or pass a local folder holding its weights as the model."
        )


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def _hub_endpoint() -> str:
    from huggingface_hub import constants

    return str(getattr(constants, "ENDPOINT", "https://huggingface.co"))


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT) -> bool:
    """Whether the Hugging Face hub answers one HTTP ``HEAD`` within ``timeout`` seconds (any status counts).

    The request goes through huggingface_hub's own session (its endpoint, ``HF_ENDPOINT`` and proxies
    apply, and ``HF_HUB_OFFLINE=1`` means unreachable) in a daemon thread, so a name lookup that
    hangs is bounded by ``timeout`` as well.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if _hub_offline():
        return False
    from huggingface_hub.utils import get_session

    done = threading.Event()
    answered: list[bool] = []

    def probe() -> None:
        try:
            get_session().head(_hub_endpoint(), timeout=timeout)
        except Exception:  # any failure (DNS, refused, TLS, timeout, offline mode) means unreachable
            answered.append(False)
        else:
            answered.append(True)
        finally:
            done.set()

    threading.Thread(target=probe, name="vggt-py-hub-probe", daemon=True).start()
    return done.wait(timeout) and answered == [True]


def resolve_default_model(*, offline: bool = False, probe_timeout: float = HUB_PROBE_TIMEOUT) -> ModelChoice:
    """Decide, without downloading weights, whether :data:`DEFAULT_MODEL` can be used.

    It can when its weights are in the local Hugging Face cache (then they are loaded from there,
    without an update check that would stall on a machine without network), or when the hub answers
    within ``probe_timeout`` seconds (then they are downloaded on load). Otherwise (``offline``,
    ``HF_HUB_OFFLINE=1``, the hub unreachable) the choice is the bundled model, with the reason.
    """
    from vggt_py.hub import WeightsNotAvailableError, resolve_pretrained

    try:
        resolve_pretrained(DEFAULT_MODEL, local_files_only=True)
        return ModelChoice(DEFAULT_MODEL, cached=True)
    except WeightsNotAvailableError:
        pass
    if offline:
        reason = "offline mode was asked for and it is not in the local Hugging Face cache"
    elif _hub_offline():
        reason = "HF_HUB_OFFLINE is set and it is not in the local Hugging Face cache"
    elif not hub_reachable(probe_timeout):
        reason = f"the Hugging Face hub ({_hub_endpoint()}) cannot be reached and it is not in the local cache"
    else:
        return ModelChoice(DEFAULT_MODEL)
    return ModelChoice(bundled_spec(), reason)


def _from_spec(spec: str | os.PathLike[str], device: torch.device | str, local_files_only: bool = False) -> VGGT:
    """:meth:`VGGT.from_pretrained`, recording ``spec`` as the model's ``name_or_path``."""
    model = VGGT.from_pretrained(spec, device=device, local_files_only=local_files_only)
    bundled = parse_bundled_spec(spec)
    setattr(model, _NAME_ATTRIBUTE, bundled_spec(bundled) if bundled is not None else str(spec))
    return model


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


def load_default_model(
    device: torch.device | str = "cpu", *, offline: bool = False, probe_timeout: float = HUB_PROBE_TIMEOUT
) -> tuple[VGGT, ModelChoice]:
    """Load :data:`DEFAULT_MODEL`, or the bundled model when it is not available; returns ``(model, choice)``.

    Emits no warning: callers tell people about ``choice.notice()`` when ``choice.is_fallback``.
    """
    from vggt_py.hub import WeightsFileError, WeightsNotAvailableError

    choice = resolve_default_model(offline=offline, probe_timeout=probe_timeout)
    if not choice.is_fallback:
        try:
            return _from_spec(DEFAULT_MODEL, device, local_files_only=offline or choice.cached), choice
        except WeightsNotAvailableError as err:  # reachable hub, but the download was refused or failed
            choice = ModelChoice(bundled_spec(), f"it could not be fetched ({_one_line(err)})")
        except WeightsFileError as err:  # e.g. a truncated download in the Hugging Face cache
            choice = ModelChoice(bundled_spec(), f"its weights cannot be used ({_one_line(err)})")
    return _from_spec(choice.spec, device), choice


def load_model(
    model: VGGT | str | os.PathLike[str] | None, device: torch.device | str = "cpu", *, offline: bool = False
) -> VGGT:
    """A model object, a hub id / path / ``"bundled"`` for :meth:`VGGT.from_pretrained`, or ``None`` for the default.

    ``None`` loads :data:`DEFAULT_MODEL`, or the bundled model with a :class:`DefaultModelFallbackWarning`
    when the default is not available (see :func:`resolve_default_model`). ``offline`` never asks the hub.
    """
    if isinstance(model, VGGT):
        return model.to(device).eval()
    if model is None:
        net, choice = load_default_model(device, offline=offline)
        if choice.is_fallback:
            warnings.warn(choice.notice(), DefaultModelFallbackWarning, stacklevel=2)
        return net
    return _from_spec(model, device, local_files_only=offline)


def model_name(model: VGGT) -> str | None:
    """The spec a model was loaded from by :func:`load_model` (its ``name_or_path``); ``None`` if unknown.

    Bundled models are named in full (``"bundled:small-synthetic"``); :func:`reconstruct` records the
    name in ``Reconstruction.metadata["model"]``.
    """
    name = getattr(model, _NAME_ATTRIBUTE, None)
    return name if isinstance(name, str) else None


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
    distributed: bool = False,
    window: int | Literal["auto"] | None = None,
    overlap: int | None = None,
    loop_closure: bool | Sequence[tuple[int, int]] = False,
    keyframes: bool | float = False,
    poses: Mapping[int, np.ndarray] | None = None,
    intrinsics: np.ndarray | Sequence[np.ndarray] | None = None,
    scale_distance: tuple[int, tuple[float, float], tuple[float, float], float] | None = None,
    scale_depth: tuple[int, float | np.ndarray] | None = None,
) -> Reconstruction | None:
    """Reconstruct a scene from photos.

    Args:
        images: an :class:`ImageBatch`, a folder, a video file or a list of image paths.
        model: a :class:`VGGT`, a hub repo id, a local path, ``"bundled"``, or ``None`` for ``facebook/VGGT-1B``
            (the bundled model, with a :class:`DefaultModelFallbackWarning`, when it is not available).
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
        distributed: inside an initialised ``torch.distributed`` group (e.g. under ``torchrun``, see
            :func:`vggt_py.parallel.init_from_env`), split the frames across its processes; every
            process passes the same arguments. Global attention stays exact, so the result equals the
            single-process one (to float rounding). Rank 0 returns the whole :class:`Reconstruction`,
            the other ranks ``None``.
        window: frames per window for long sequences (:mod:`vggt_py.inference.windowed`): the frames, in
            order, are reconstructed in overlapping windows joined by robust Sim(3) fits, so peak model
            memory depends on ``window`` only. ``"auto"`` picks the largest window the device's free memory
            holds (memory model, at most 64). ``None`` (default): one forward pass over all frames.
        overlap: frames shared by consecutive windows (default ``max(2, window // 4)``); needs ``window``.
        loop_closure: with ``window``: ``True`` finds loops with a thumbnail descriptor, or give frame pairs
            ``[(a, b), ...]`` that show the same place; a pose graph over the windows then spreads the drift.
        keyframes: skip near-duplicate frames first (``True``, or the minimum mean grey change in [0, 1],
            default 0.02); the chosen frames are listed in ``metadata["keyframes"]``.
        poses: known camera-from-world 4x4 poses ``{frame: pose}`` (frames of the result): the result is
            moved into their world by :func:`vggt_py.inference.anchors.align_to_poses` (two or more fix the
            scale: ``scale_source == "poses"``).
        intrinsics: known camera matrices in the ORIGINAL photos' pixels (pixel centres at integers), one
            ``3x3`` for all frames or ``[S, 3, 3]``, one per INPUT frame (frames skipped by ``keyframes`` or
            dropped by ``window`` lose theirs): depth is unprojected with them and the poses are re-solved by
            PnP and bundle adjustment with K fixed (:func:`vggt_py.inference.known_intrinsics.apply_intrinsics`);
            exports write them exactly. Applied before ``poses``.
        scale_distance: ``(frame, pixel_a, pixel_b, metres)``: scale the result so that the points of two
            ORIGINAL pixels ``(x, y)`` of ``frame`` are that far apart
            (:func:`vggt_py.inference.anchors.scale_by_distance`, ``scale_source == "distance"``).
        scale_depth: ``(frame, depth)``: a metric depth value (the frame's median depth) or map ``[h, w]`` in
            original pixels (:func:`vggt_py.inference.anchors.scale_by_depth`, ``scale_source == "depth"``).
            At most one of ``scale_distance``/``scale_depth``; applied after ``poses`` (they override its scale).
    """
    if scale_distance is not None and scale_depth is not None:
        raise ValueError("scale_distance and scale_depth both fix the scale; give one of them")
    anchor = _check_scale_anchor(scale_distance, scale_depth)  # before the model runs
    rec = _reconstruct(
        images, model, mode, query_points, point_source, device, dtype, frames_chunk_size, distributed, window,
        overlap, loop_closure, keyframes, intrinsics,
    )
    if rec is None:
        return None
    if poses is not None:
        rec = align_to_poses(rec, poses)
    if scale_distance is not None:
        rec = scale_by_distance(rec, *anchor)
    elif scale_depth is not None:
        rec = scale_by_depth(rec, *anchor)
    return rec


def _check_scale_anchor(scale_distance: object, scale_depth: object) -> tuple[Any, ...]:
    """The arguments of :func:`scale_by_distance` / :func:`scale_by_depth` (after ``rec``) from the tuples."""
    if scale_distance is not None:
        if not isinstance(scale_distance, Sequence) or len(scale_distance) != 4:
            raise ValueError(f"scale_distance: expected (frame, (x, y), (x, y), distance), got {scale_distance!r}")
        return tuple(scale_distance)
    if scale_depth is not None:
        if not isinstance(scale_depth, Sequence) or isinstance(scale_depth, str) or len(scale_depth) != 2:
            raise ValueError(f"scale_depth: expected (frame, depth value or map), got {scale_depth!r}")
        return tuple(scale_depth)
    return ()


def _reconstruct(
    images: ImageSource,
    model: VGGT | str | os.PathLike[str] | None,
    mode: Literal["crop", "pad", "square"],
    query_points: np.ndarray | torch.Tensor | None,
    point_source: PointSource,
    device: str | torch.device | None,
    dtype: DtypeName | torch.dtype,
    frames_chunk_size: int | None,
    distributed: bool,
    window: int | Literal["auto"] | None,
    overlap: int | None,
    loop_closure: bool | Sequence[tuple[int, int]],
    keyframes: bool | float,
    intrinsics: np.ndarray | Sequence[np.ndarray] | None = None,
) -> Reconstruction | None:
    dev = resolve_device(device)
    if distributed and window is not None:
        raise ValueError("distributed=True splits one pass across processes; it cannot be combined with window")
    if window is not None and query_points is not None:
        raise ValueError("query_points cannot be tracked across windows; pass window=None to track")
    if window is None and (overlap is not None or loop_closure is not False):
        raise ValueError(f"overlap and loop_closure need window, got overlap={overlap!r}, loop_closure={loop_closure!r}")
    net = _load_checked_model(model, dev, point_source, query_points is not None)
    batch = _as_batch(images, mode, net.config.img_size, net.config.patch_size)
    known = None if intrinsics is None else check_intrinsics(intrinsics, len(batch))  # before the model runs
    chosen = None
    if keyframes is not False:
        chosen = select_keyframes(batch.images, 0.02 if keyframes is True else float(keyframes))
        batch = _subset(batch, chosen)
    if window is not None:
        rec = _reconstruct_windowed(
            net, batch, dev, autocast_dtype(dev, dtype), frames_chunk_size, point_source, window, overlap, loop_closure
        )
        if chosen is not None:
            rec.metadata["keyframes"] = chosen
        return rec if known is None else _with_known_intrinsics(rec, known, chosen)
    queries_model = _queries_to_model(batch, query_points)
    compute = autocast_dtype(dev, dtype)
    out = _infer(net, batch, queries_model, dev, compute, frames_chunk_size, distributed)
    if out is None:  # a rank other than 0 of a distributed run: rank 0 holds the whole result
        return None
    extrinsics, intrinsics = _decode_cameras(out, batch)
    depth, points_from_depth = _unproject(out, intrinsics, extrinsics)
    metadata = {
        "device": str(dev),
        "dtype": str(compute).replace("torch.", ""),
        "mode": batch.mode,
        "model": model_name(net),
    }
    rec = _assemble(batch, out, extrinsics, intrinsics, depth, points_from_depth, queries_model, point_source, metadata)
    if chosen is not None:
        rec.metadata["keyframes"] = chosen
    return rec if known is None else _with_known_intrinsics(rec, known, chosen)


def input_frame_indices(rec: Reconstruction) -> list[int]:
    """The index among the INPUT frames of each frame of ``rec`` (``keyframes`` skips frames, ``window``
    may drop some): ``metadata["keyframes"]`` and ``metadata["windowed"]["frames"]`` composed."""
    windowed = rec.metadata.get("windowed")
    frames = list(windowed["frames"]) if isinstance(windowed, dict) else list(range(len(rec)))
    chosen = rec.metadata.get("keyframes")
    return [int(chosen[i]) for i in frames] if chosen is not None else frames


def _with_known_intrinsics(rec: Reconstruction, known: np.ndarray, chosen: Sequence[int] | None) -> Reconstruction:
    """``rec`` with the input frames' known camera matrices ``known`` (after keyframes and windowing)."""
    return apply_intrinsics(rec, known[input_frame_indices(rec)])


def _subset(batch: ImageBatch, frames: Sequence[int]) -> ImageBatch:
    """The frames ``frames`` of ``batch``, in that order."""
    index = torch.as_tensor(list(frames), dtype=torch.long)
    return dataclasses.replace(
        batch,
        images=batch.images[index],
        paths=tuple(batch.paths[i] for i in frames),
        frame_indices=tuple(batch.frame_indices[i] for i in frames),
        original_sizes=tuple(batch.original_sizes[i] for i in frames),
        transforms=batch.transforms[index],
        valid_regions=batch.valid_regions[index],
    )


def _reconstruct_windowed(
    net: VGGT,
    batch: ImageBatch,
    device: torch.device,
    compute: torch.dtype,
    frames_chunk_size: int | None,
    point_source: PointSource,
    window: int | str,
    overlap: int | None,
    loop_closure: bool | Sequence[tuple[int, int]],
) -> Reconstruction:
    """Windows of ``batch`` through steps 3-6, stitched by :func:`vggt_py.inference.windowed.stitch_windows`."""
    if window == "auto":
        height, width = batch.images.shape[-2:]
        window = default_window(net.config, device, int(height), int(width), compute)
    if overlap is None and isinstance(window, int) and not isinstance(window, bool):
        overlap = max(2, window // 4) if window > 2 else 1
    window, overlap = check_window(window, overlap)
    metadata = {"device": str(device), "dtype": str(compute).replace("torch.", ""), "mode": batch.mode}
    metadata["model"] = model_name(net)

    def predict(frames: Sequence[int]) -> Reconstruction:
        part = _subset(batch, frames)
        out = _infer(net, part, None, device, compute, frames_chunk_size)
        extrinsics, intrinsics = _decode_cameras(out, part)
        depth, points_from_depth = _unproject(out, intrinsics, extrinsics)
        return _assemble(part, out, extrinsics, intrinsics, depth, points_from_depth, None, point_source, metadata)

    pairs = list(loop_closure) if not isinstance(loop_closure, bool) else None
    descriptor = batch.images if loop_closure is True else None
    rec, _ = stitch_windows(
        predict, len(batch), window, overlap, loop_pairs=pairs, loop_descriptor_images=descriptor,  # type: ignore[arg-type]
        point_source=point_source,
    )
    return rec


def _load_checked_model(
    model: VGGT | str | os.PathLike[str] | None, device: torch.device, point_source: str, tracking: bool
) -> VGGT:
    """Step 1: load the model and check it has the heads the request needs (``ValueError`` if not)."""
    net = load_model(model, device)
    if point_source not in ("depth", "head"):
        raise ValueError(f"point_source must be 'depth' or 'head', got {point_source!r}")
    if net.camera_head is None or net.depth_head is None:
        raise ValueError("reconstruct needs a model with the camera and depth heads enabled")
    if point_source == "head" and net.point_head is None:
        raise ValueError("point_source='head' needs a model with the point head enabled")
    if tracking and net.track_head is None:
        raise ValueError(
            f"query_points need a model with a track head; {model_name(net) or 'this model'} has none "
            f"(its config disables it); use e.g. {DEFAULT_MODEL}"
        )
    return net


def _queries_to_model(batch: ImageBatch, query_points: np.ndarray | torch.Tensor | None) -> np.ndarray | None:
    """Step 2 (after loading the images): query pixels of the first original photo -> float32 model pixels [N, 2]."""
    if query_points is None:
        return None
    q = np.asarray(query_points, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != 2 or len(q) == 0:
        raise ValueError(f"query_points must be [N, 2] pixels (x, y), got shape {q.shape}")
    from vggt_py.errors import InputError
    from vggt_py.inference.queries import check_queries_in_view

    if not np.isfinite(q).all():
        raise InputError("query_points must be finite pixel coordinates; got NaN or infinite values")
    check_queries_in_view(batch, q)
    return batch.to_model(q, 0).astype(np.float32)


def _infer(
    net: VGGT,
    batch: ImageBatch,
    queries_model: np.ndarray | None,
    device: torch.device,
    compute: torch.dtype,
    frames_chunk_size: int | None,
    distributed: bool = False,
) -> VGGTOutput | None:
    """Step 3: one forward pass under autocast; a temporary ``frames_chunk_size`` is restored afterwards.

    ``distributed``: the frames split across the process group, the outputs gathered on rank 0
    (``None`` on the other ranks).
    """
    pixels = batch.images.to(device)
    queries = None if queries_model is None else torch.from_numpy(queries_model).to(device)
    previous_chunk = net.config.depth_head.frames_chunk_size
    try:
        if frames_chunk_size is not None:
            net.set_frames_chunk_size(frames_chunk_size)
        with torch.autocast(device_type=device.type, dtype=compute, enabled=compute != torch.float32):
            if not distributed:
                return net(pixels, query_points=queries)
            out = forward_distributed(net, pixels, queries, gather="first")
            return out if dist.get_rank() == 0 else None
    finally:
        if frames_chunk_size is not None:
            net.set_frames_chunk_size(previous_chunk)


def _decode_cameras(out: VGGTOutput, batch: ImageBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 4: the camera head's pose encoding -> extrinsics [S, 3, 4] and model-pixel intrinsics [S, 3, 3].

    The fovs are read over each frame's content box (:func:`vggt_py.geometry.content_intrinsics`), so
    the white bars of ``mode="pad"`` (or of frames padded to a common size) do not stretch the focal
    lengths; a frame that is all content (crop mode) gets exactly the intrinsics of
    :func:`vggt_py.geometry.pose_encoding_to_extri_intri` over the whole frame.
    """
    height, width = out["images"].shape[-2:]
    pose_encoding = out["pose_enc"][0].float()
    extrinsics, _ = pose_encoding_to_extri_intri(pose_encoding, (height, width))
    return extrinsics, content_intrinsics(pose_encoding, batch.valid_regions)


def _unproject(
    out: VGGTOutput, intrinsics: torch.Tensor, extrinsics: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 5: depth [S, H, W] and its world points [S, H, W, 3] through the predicted cameras."""
    depth = out["depth"][0, ..., 0].float()
    return depth, unproject_depth(depth, intrinsics, extrinsics)


def _numpy(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().float().cpu().numpy()


def _assemble(
    batch: ImageBatch,
    out: VGGTOutput,
    extrinsics: torch.Tensor,
    intrinsics: torch.Tensor,
    depth: torch.Tensor,
    points_from_depth: torch.Tensor,
    queries_model: np.ndarray | None,
    point_source: PointSource,
    metadata: dict[str, Any],
) -> Reconstruction:
    """Step 6: the numpy :class:`Reconstruction` of the first scene of ``out``, with the batch's pixel mapping."""
    result = Reconstruction(
        extrinsics=_numpy(extrinsics),
        intrinsics=_numpy(intrinsics),
        depth=_numpy(depth),
        depth_conf=_numpy(out["depth_conf"][0]),
        points_from_depth=_numpy(points_from_depth),
        colors=(batch.images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8),
        names=list(batch.names),
        original_sizes=np.asarray(batch.original_sizes, dtype=np.int64),
        transforms=batch.transforms.numpy().astype(np.float64),
        valid_regions=batch.valid_regions.numpy().astype(np.int64),
        pose_encoding=_numpy(out["pose_enc"][0]),
        points_from_head=_numpy(out["world_points"][0]) if "world_points" in out else None,
        points_conf=_numpy(out["world_points_conf"][0]) if "world_points_conf" in out else None,
        point_source=point_source,
        metadata=metadata,
    )
    if queries_model is not None:
        result.query_points = queries_model
        result.tracks = _numpy(out["track"][0])
        result.track_visibility = _numpy(out["vis"][0])
        result.track_confidence = _numpy(out["conf"][0])
    return result
