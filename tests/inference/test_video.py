"""Tests for vggt_py.inference.video and video sources of load_images."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from vggt_py.inference.images import ImageLoadError, load_images
from vggt_py.inference.video import (
    VideoReadError,
    is_video_path,
    read_video_frame,
    read_video_frames,
    sample_frame_indices,
)

needs_av = pytest.mark.skipif(importlib.util.find_spec("av") is None, reason="PyAV (av) is not installed")

WIDTH, HEIGHT, FRAMES = 64, 48, 20


def frame_pixels(index: int) -> np.ndarray:
    """Frame ``index``: uniform grey 10 * index, with a red block in the stored top-left corner."""
    pixels = np.full((HEIGHT, WIDTH, 3), 10 * index, np.uint8)
    pixels[:16, :16] = (255, 0, 0)
    return pixels


def write_video(path: Path, codec: str, rotation: int | None = None) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = "yuv444p" if codec == "ffv1" else "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(FRAMES):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame_pixels(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize(
    ("num", "k", "expected"),
    [
        (20, 5, [0, 5, 10, 14, 19]),  # linspace 0..19: 4.75, 9.5 (half to even), 14.25
        (3, 10, [0, 1, 2]),
        (10, 1, [0]),
        (4, None, [0, 1, 2, 3]),
        (10, 2, [0, 9]),
    ],
)
def test_sample_frame_indices(num: int, k: int | None, expected: list[int]) -> None:
    assert sample_frame_indices(num, k) == expected


def test_sample_frame_indices_bad_input() -> None:
    with pytest.raises(ValueError, match="num_frames"):
        sample_frame_indices(0, 3)
    with pytest.raises(ValueError, match="max_frames"):
        sample_frame_indices(5, 0)


def test_is_video_path() -> None:
    assert is_video_path("a/b/clip.MP4") and is_video_path(Path("x.webm"))
    assert not is_video_path("photo.jpg")


def test_missing_pyav_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "vggt-py\[video\]"'):
        read_video_frames(tmp_path / "clip.mp4", 3)


@needs_av
def test_lossless_video_even_frames(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mkv", "ffv1")  # mkv: no frame count in the header
    batch = load_images(video, max_frames=5)
    assert batch.images.shape == (5, 3, 392, 518)
    assert batch.frame_indices == (0, 5, 10, 14, 19)
    assert batch.names[1] == "clip.mkv#frame=5" and batch.paths == (video,) * 5
    assert batch.original_sizes == ((WIDTH, HEIGHT),) * 5
    grey = batch.images[:, :, -50:, -50:].mean(dim=(1, 2, 3)).numpy() * 255  # away from the red block
    assert np.abs(grey - 10 * np.array([0, 5, 10, 14, 19])).max() < 2.0
    original = batch.load_original(2)
    assert original.shape == (HEIGHT, WIDTH, 3)
    assert np.abs(original.astype(int) - frame_pixels(10)).max() <= 3


@needs_av
def test_mp4_all_frames(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", "libx264")
    frames = read_video_frames(video)
    assert [i for i, _ in frames] == list(range(FRAMES))
    assert frames[7][1].size == (WIDTH, HEIGHT) and frames[7][1].mode == "RGB"
    assert abs(float(np.asarray(frames[7][1])[-10:, -10:].mean()) - 70) < 4


@needs_av
def test_display_rotation_is_applied(tmp_path: Path) -> None:
    video = write_video(tmp_path / "rotated.mp4", "libx264", rotation=90)
    frame = np.asarray(read_video_frame(video, 3))
    assert frame.shape == (WIDTH, HEIGHT, 3)  # upright: portrait
    # 90 degrees counterclockwise: the stored top-left block ends up bottom-left
    assert frame[-4, 4, 0] > 200 and frame[-4, 4, 1] < 60
    assert frame[4, 4, 0] < 100
    batch = load_images(video, max_frames=2)
    assert batch.original_sizes == ((HEIGHT, WIDTH),) * 2
    assert batch.images.shape == (2, 3, 518, 518)


@needs_av
def test_read_video_frame_out_of_range(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mkv", "ffv1")
    with pytest.raises(VideoReadError, match="has 20 frames"):
        read_video_frame(video, 25)
    with pytest.raises(ValueError, match=">= 0"):
        read_video_frame(video, -1)


@needs_av
def test_corrupt_video(tmp_path: Path) -> None:
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00" * 1000)
    with pytest.raises(ImageLoadError) as info:
        load_images(video)
    assert info.value.failures[0][0] == video and str(video) in str(info.value)
