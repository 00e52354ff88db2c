"""Inputs that used to hang, exhaust memory or be accepted silently get a clear, early answer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import random_images, sane_tiny_model
from vggt_py.inference.images import ImageLoadError, load_images, read_image, resize_shape


def test_a_fifo_named_like_an_image_is_refused_without_blocking(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "a.png")
    os.mkfifo(tmp_path / "b.png")  # opening it for reading would wait forever for a writer
    with pytest.raises(OSError, match="FIFO"):
        read_image(tmp_path / "b.png")
    with pytest.raises(ImageLoadError, match=r"b\.png.*FIFO"):
        load_images([tmp_path / "a.png", tmp_path / "b.png"], target_size=28)
    os.mkfifo(tmp_path / "c.mp4")
    pytest.importorskip("av")
    with pytest.raises(ValueError, match="FIFO"):
        load_images(tmp_path / "c.mp4", target_size=28)


def test_an_extreme_strip_is_refused_before_resizing() -> None:
    with pytest.raises(ValueError, match=r"1x2400 is too elongated .* 518x1243200"):
        resize_shape(1, 2400, "crop", 518)
    assert resize_shape(1, 2400, "pad", 518)[1] == 518  # pad keeps the long side at the model size
    assert resize_shape(500, 4000, "crop", 518) == (518, 4144)  # 1:8 still allowed


def test_an_animated_gif_is_refused(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ("red", "green", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match="animated GIF with 3 frames"):
        read_image(tmp_path / "anim.gif")
    frames[0].save(tmp_path / "still.gif")
    assert read_image(tmp_path / "still.gif").size == (20, 20)


def test_float64_images_run_like_float32() -> None:
    model = sane_tiny_model()
    images = random_images(None, 2, 28, 28)
    with torch.no_grad():
        a = model(images)
        b = model(images.double())
    torch.testing.assert_close(a.depth, b.depth, rtol=0, atol=0)


def test_api_refuses_query_points_outside_the_image(tmp_path: Path) -> None:
    from helpers import write_photos
    from vggt_py import VGGT, VGGTConfig
    from vggt_py.inference.api import reconstruct

    torch.manual_seed(0)
    model = VGGT(VGGTConfig.from_preset("tiny").replace(img_size=28)).eval()
    photos = write_photos(tmp_path / "p", (30, 20), 2)
    with pytest.raises(ValueError, match=r"\(5000, 3\) lie outside the first image \(30 x 20"):
        reconstruct(photos, model, query_points=np.array([[5.0, 3.0], [5000.0, 3.0]]), device="cpu")
