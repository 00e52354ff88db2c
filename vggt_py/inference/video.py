"""Evenly spaced frames from a video file, decoded with PyAV (the optional ``video`` extra).

Frames come back as RGB ``PIL.Image`` objects, turned upright according to the stream's display
matrix (the video counterpart of EXIF orientation) when it rotates by a multiple of 90 degrees.
Frame indices count decoded frames in presentation order, starting at 0.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

from vggt_py.errors import InputError
from vggt_py.utils.io import NotARegularFileError, check_regular_file

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoReadError",
    "is_video_path",
    "read_video_frame",
    "read_video_frames",
    "sample_frame_indices",
]

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv")

# Counterclockwise display rotation (degrees) -> PIL transpose that shows the frame upright.
_ROTATIONS = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    -180: Image.Transpose.ROTATE_180,
    -90: Image.Transpose.ROTATE_270,
    270: Image.Transpose.ROTATE_270,
}


class VideoReadError(InputError):
    """A video file that cannot be opened or decoded, or that holds no video frames."""


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has one of :data:`VIDEO_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _import_av() -> ModuleType:
    try:
        import av
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            'Reading videos needs PyAV. Install it with: pip install "vggt-py[video]" (or: pip install av)'
        ) from err
    return av


def sample_frame_indices(num_frames: int, max_frames: int | None) -> list[int]:
    """Indices of ``min(num_frames, max_frames)`` frames spread evenly over ``[0, num_frames)``.

    The first and last frames are always included (when more than one frame is taken).
    ``max_frames=None`` keeps every frame.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be None or >= 1, got {max_frames}")
    if max_frames is None or max_frames >= num_frames:
        return list(range(num_frames))
    if max_frames == 1:
        return [0]
    positions = np.linspace(0.0, num_frames - 1, max_frames)
    return sorted({int(i) for i in np.rint(positions)})


def _count_packets(av: ModuleType, path: Path) -> int:
    """Number of non-empty video packets: the frame count, without decoding anything."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise VideoReadError(f"{path}: the file has no video stream")
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size > 0)


def _upright(frame: Any) -> Image.Image:  # av.VideoFrame
    image = frame.to_image()  # RGB
    transpose = _ROTATIONS.get(round(getattr(frame, "rotation", 0) or 0))
    return image.transpose(transpose) if transpose is not None else image


def _decode_at(av: ModuleType, path: Path, indices: list[int]) -> tuple[list[Image.Image], int]:
    """Decode the frames at sorted ``indices``; also return how many frames were decoded."""
    wanted = set(indices)
    last = indices[-1]
    frames: list[Image.Image] = []
    count = 0
    with av.open(str(path)) as container:
        for count, frame in enumerate(container.decode(video=0), start=1):
            if count - 1 in wanted:
                frames.append(_upright(frame))
            if count - 1 == last:
                break
    return frames, count


def read_video_frames(path: str | os.PathLike[str], max_frames: int | None = None) -> list[tuple[int, Image.Image]]:
    """Decode up to ``max_frames`` evenly spaced frames of a video, as ``(frame_index, RGB image)`` pairs.

    Raises:
        ImportError: PyAV is not installed.
        VideoReadError: the file cannot be decoded or has no frames.
    """
    av = _import_av()
    video = Path(path)
    try:
        check_regular_file(video)
    except NotARegularFileError as err:
        raise VideoReadError(str(err)) from err
    try:
        num_frames = _count_packets(av, video)
        if num_frames == 0:
            raise VideoReadError(f"{video}: the video has no frames")
        indices = sample_frame_indices(num_frames, max_frames)
        frames, decoded = _decode_at(av, video, indices)
        if len(frames) < len(indices):  # packet count overestimated the frames: resample on the true count
            if decoded == 0:
                raise VideoReadError(f"{video}: no frame could be decoded")
            indices = sample_frame_indices(decoded, max_frames)
            frames, _ = _decode_at(av, video, indices)
    except av.FFmpegError as err:
        raise VideoReadError(f"{video}: cannot decode video ({err})") from err
    assert len(frames) == len(indices)
    return list(zip(indices, frames, strict=True))


def read_video_frame(path: str | os.PathLike[str], index: int) -> Image.Image:
    """Decode the single frame ``index`` (0-based, presentation order) of a video as an RGB image."""
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")
    av = _import_av()
    video = Path(path)
    try:
        frames, decoded = _decode_at(av, video, [index])
    except av.FFmpegError as err:
        raise VideoReadError(f"{video}: cannot decode video ({err})") from err
    if not frames:
        raise VideoReadError(f"{video}: frame {index} requested but the video has {decoded} frames")
    return frames[0]
