"""Tests for vggt_py.inference.images: reference-loader parity, colour modes, geometry maps, errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from helpers import SHARED
from vggt_py.inference.images import (
    IMAGE_EXTENSIONS,
    ImageBatch,
    ImageLoadError,
    list_images,
    load_images,
    preprocess_image,
    read_image,
    resize_shape,
    to_rgb,
)

EXAMPLES = SHARED / "examples"
ROOM = EXAMPLES / "room" / "images"
PAINTING = EXAMPLES / "single_oil_painting" / "images"
needs_examples = pytest.mark.skipif(not ROOM.is_dir() or not PAINTING.is_dir(), reason="example photos not present")


# ---------------------------------------------------------------------------------------------
# An independent, literal transcription of the documented reference steps (docs/architecture.md, Image preprocessing)


def reference_load(paths: list[Path], mode: str, target: int = 518) -> torch.Tensor:
    tensors = []
    for path in paths:
        img = Image.open(path)
        if img.mode == "RGBA":
            img = Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), img)
        img = img.convert("RGB")
        width, height = img.size
        if mode == "square":
            side = max(width, height)
            canvas = Image.new("RGB", (side, side), (0, 0, 0))
            canvas.paste(img, ((side - width) // 2, (side - height) // 2))
            img = canvas.resize((target, target), Image.Resampling.BICUBIC)
            tensors.append(torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255.0)
            continue
        if mode == "pad" and height > width:
            new_h = target
            new_w = round(width * (new_h / height) / 14) * 14
        else:
            new_w = target
            new_h = round(height * (new_w / width) / 14) * 14
        img = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
        t = torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255.0
        if mode == "crop" and new_h > target:
            start = (new_h - target) // 2
            t = t[:, start : start + target, :]
        if mode == "pad":
            dh, dw = target - t.shape[1], target - t.shape[2]
            t = F.pad(t, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), value=1.0)
        tensors.append(t)
    max_h = max(t.shape[1] for t in tensors)
    max_w = max(t.shape[2] for t in tensors)
    out = []
    for t in tensors:
        dh, dw = max_h - t.shape[1], max_w - t.shape[2]
        out.append(F.pad(t, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), value=1.0))
    return torch.stack(out)


def save(tmp_path: Path, name: str, image: Image.Image, **kwargs: object) -> Path:
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


# ---------------------------------------------------------------------------------------------
# Sizes


@pytest.mark.parametrize(
    ("size", "mode", "expected"),
    [
        ((1000, 500), "crop", (518, 252)),  # 2:1 -> 18.5 rounds half to even -> 18 patches, not 19
        ((2000, 1000), "crop", (518, 252)),
        ((640, 480), "crop", (518, 392)),
        ((480, 640), "crop", (518, 686)),
        ((300, 300), "crop", (518, 518)),
        ((1000, 500), "pad", (518, 252)),
        ((500, 1000), "pad", (252, 518)),
        ((480, 640), "pad", (392, 518)),
        ((300, 300), "pad", (518, 518)),
        ((480, 640), "square", (518, 518)),
        ((4000, 10), "crop", (518, 14)),  # would round to 0 patches: kept at one
    ],
)
def test_resize_shape(size: tuple[int, int], mode: str, expected: tuple[int, int]) -> None:
    assert resize_shape(*size, mode=mode) == expected


@pytest.mark.parametrize(
    ("size", "mode", "shape"),
    [
        ((1000, 500), "crop", (252, 518)),
        ((640, 480), "crop", (392, 518)),
        ((480, 640), "crop", (518, 518)),
        ((300, 300), "crop", (518, 518)),
        ((1000, 500), "pad", (518, 518)),
        ((480, 640), "pad", (518, 518)),
        ((300, 300), "pad", (518, 518)),
        ((480, 640), "square", (518, 518)),
    ],
)
def test_output_shapes(tmp_path: Path, size: tuple[int, int], mode: str, shape: tuple[int, int]) -> None:
    batch = load_images([save(tmp_path, "a.png", noise_image(*size))], mode=mode)
    assert batch.images.shape == (1, 3, *shape)
    assert batch.images.dtype == torch.float32
    assert batch.original_sizes == (size,)


def test_other_target_and_patch(tmp_path: Path) -> None:
    batch = load_images([save(tmp_path, "a.png", noise_image(640, 480))], target_size=224, patch_size=16)
    assert batch.images.shape == (1, 3, 160, 224)  # 480 * 224/640 = 168 -> 10.5 patches -> 10 (half to even)


# ---------------------------------------------------------------------------------------------
# Pixel-exact parity with the documented reference steps


@needs_examples
@pytest.mark.parametrize("mode", ["crop", "pad", "square"])
def test_parity_room(mode: str) -> None:
    paths = list_images(ROOM)
    batch = load_images(ROOM, mode=mode)
    assert torch.equal(batch.images, reference_load(paths, mode))
    assert batch.images.shape == ((8, 3, 392, 518) if mode == "crop" else (8, 3, 518, 518))


@needs_examples
@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_parity_palette_painting(mode: str) -> None:
    paths = list_images(PAINTING)
    assert Image.open(paths[0]).mode == "P"
    batch = load_images(paths, mode=mode)
    assert torch.equal(batch.images, reference_load(paths, mode))


def test_parity_synthetic_mixed(tmp_path: Path) -> None:
    paths = [
        save(tmp_path, "land.png", noise_image(700, 350, 1)),
        save(tmp_path, "port.jpg", noise_image(300, 500, 2), quality=90),
        save(tmp_path, "rgba.png", Image.fromarray(np.random.default_rng(3).integers(0, 256, (90, 120, 4), np.uint8))),
    ]
    for mode in ("crop", "pad"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            batch = load_images(paths, mode=mode)
        assert torch.equal(batch.images, reference_load(paths, mode))


# ---------------------------------------------------------------------------------------------
# Colour modes and orientation


def test_exif_rotation(tmp_path: Path) -> None:
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:10, :10] = (255, 0, 0)  # red block in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    path = save(tmp_path, "rot.jpg", Image.fromarray(pixels), exif=exif, quality=95)
    batch = load_images([path])
    assert batch.original_sizes == ((40, 60),)
    original = batch.load_original(0)
    assert original.shape == (60, 40, 3)
    assert original[3, 36, 0] > 200 and original[3, 3, 0] < 50  # the block is now top-right
    assert batch.images.shape == (1, 3, 518, 518)  # portrait in crop mode


def test_rgba_composited_on_white() -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (255, 0, 0, 0)  # fully transparent red -> white
    rgba[:, 4:] = (255, 0, 0, 128)  # half-transparent red over white
    rgb = np.asarray(to_rgb(Image.fromarray(rgba, "RGBA")))
    assert (rgb[:, :4] == 255).all()
    assert (rgb[:, 4:, 0] == 255).all()
    assert np.abs(rgb[:, 4:, 1:].astype(int) - 127).max() <= 1


def test_la_composited_on_white() -> None:
    la = Image.fromarray(np.stack([np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8)], axis=-1), "LA")
    assert (np.asarray(to_rgb(la)) == 255).all()


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (6, 4))
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    image.paste(1, (0, 0, 3, 4))  # left half index 1 (green-ish), right half index 0
    opaque = np.asarray(read_image(save(tmp_path, "p.png", image)))
    assert (opaque[:, :3] == (10, 200, 30)).all() and (opaque[:, 3:] == 0).all()
    transparent = np.asarray(read_image(save(tmp_path, "pt.png", image, transparency=0)))
    assert (transparent[:, :3] == (10, 200, 30)).all() and (transparent[:, 3:] == 255).all()


def test_grayscale(tmp_path: Path) -> None:
    gray = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(6, 8) * 5, "L")
    rgb = np.asarray(read_image(save(tmp_path, "g.png", gray)))
    assert rgb.shape == (6, 8, 3)
    assert (rgb == np.asarray(gray)[..., None]).all()


def test_sixteen_bit_png(tmp_path: Path) -> None:
    values = np.array([[0, 257, 128 * 257, 65535]], dtype=np.uint16).repeat(2, axis=0)
    path = save(tmp_path, "d.png", Image.fromarray(values))
    assert Image.open(path).mode in ("I;16", "I")
    rgb = np.asarray(read_image(path))
    assert (rgb[..., 0] == [0, 1, 128, 255]).all()
    assert (rgb == rgb[..., :1]).all()


def test_32bit_and_float_grayscale() -> None:
    ints = Image.fromarray(np.array([[0, 65535, 70000, -5]], dtype=np.int32))
    assert np.asarray(to_rgb(ints))[0, :, 0].tolist() == [0, 255, 255, 0]
    floats = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert np.asarray(to_rgb(floats))[0, :, 0].tolist() == [0, 128, 255]


def test_cmyk(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (5, 5), (0, 255, 255, 0))  # pure red in CMYK
    rgb = np.asarray(read_image(save(tmp_path, "c.tif", cmyk)))
    assert (rgb == (255, 0, 0)).all()


def test_rgb_passthrough_is_exact() -> None:
    image = noise_image(20, 10)
    assert np.array_equal(np.asarray(to_rgb(image)), np.asarray(image))


# ---------------------------------------------------------------------------------------------
# Batches: padding to the largest shape, single image, folders


def test_mixed_sizes_pad_to_max_with_warning(tmp_path: Path) -> None:
    wide = save(tmp_path, "a.png", Image.new("RGB", (1000, 500), (0, 0, 0)))
    four_three = save(tmp_path, "b.png", Image.new("RGB", (640, 480), (0, 0, 0)))
    with pytest.warns(UserWarning, match="different shapes"):
        batch = load_images([wide, four_three])
    assert batch.images.shape == (2, 3, 392, 518)
    top = (392 - 252) // 2
    assert batch.valid_regions.tolist() == [[0, top, 518, top + 252], [0, 0, 518, 392]]
    # padding is white, content black, and the valid mask separates them exactly
    mask = batch.valid_mask()
    assert torch.equal(mask, (batch.images == 0).all(dim=1))
    assert (batch.images[0, :, :top] == 1.0).all() and (batch.images[0, :, top + 252 :] == 1.0).all()
    assert batch.transforms[0, 1, 2].item() == pytest.approx(252 / 500 * 0.5 - 0.5 + top)


def test_same_shapes_no_warning(tmp_path: Path) -> None:
    paths = [save(tmp_path, f"{i}.png", noise_image(640, 480, i)) for i in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = load_images(paths)
    assert batch.images.shape == (2, 3, 392, 518)


def test_single_image(tmp_path: Path) -> None:
    batch = load_images(save(tmp_path, "one.jpg", noise_image(640, 480)))
    assert batch.images.shape == (1, 3, 392, 518)
    assert len(batch) == 1 and batch.names == ["one.jpg"] and batch.frame_indices == (None,)


def test_folder_natural_order_and_filtering(tmp_path: Path) -> None:
    for name in ["img10.png", "img2.PNG", "img1.jpg", ".hidden.png", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    for name in ["img10.png", "img2.PNG", "img1.jpg"]:
        noise_image(16, 12).save(tmp_path / name, format="PNG" if "png" in name.lower() else "JPEG")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["img1.jpg", "img2.PNG", "img10.png"]
    assert load_images(tmp_path).names == ["img1.jpg", "img2.PNG", "img10.png"]


def test_max_frames_even_subsampling(tmp_path: Path) -> None:
    paths = [save(tmp_path, f"f{i}.png", noise_image(28, 28, i)) for i in range(10)]
    batch = load_images(tmp_path, max_frames=4)
    assert [p.name for p in batch.paths] == ["f0.png", "f3.png", "f6.png", "f9.png"]
    assert len(load_images(paths, max_frames=1)) == 1


def test_load_original_roundtrip(tmp_path: Path) -> None:
    image = noise_image(30, 20)
    batch = load_images([save(tmp_path, "x.png", image)])
    original = batch.load_original(0)
    assert original.dtype == np.uint8 and np.array_equal(original, np.asarray(image))
    assert np.array_equal(batch.load_original(-1), original)
    with pytest.raises(IndexError):
        batch.load_original(1)


# ---------------------------------------------------------------------------------------------
# Errors


def test_corrupt_and_missing_listed_together(tmp_path: Path) -> None:
    good = save(tmp_path, "good.png", noise_image(20, 20))
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"definitely not a jpeg")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    missing = tmp_path / "missing.png"
    with pytest.raises(ImageLoadError) as info:
        load_images([good, corrupt, missing, truncated])
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert [p for p, _ in info.value.failures] == [corrupt, missing, truncated]
    assert str(corrupt) in message and str(missing) in message and str(truncated) in message
    assert "file not found" in message and "good.png" not in message


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ImageLoadError, match="no images found") as info:
        load_images(tmp_path)
    assert str(tmp_path) in str(info.value) and ".jpg" in str(info.value) and ".webp" in str(info.value)


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="no such file or folder"):
        load_images(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "stretch"}, "mode must be one of"),
        ({"target_size": 500}, "multiple of patch_size"),
        ({"patch_size": 0}, "patch_size"),
        ({"max_frames": 0}, "max_frames"),
    ],
)
def test_bad_settings(tmp_path: Path, kwargs: dict, match: str) -> None:
    path = save(tmp_path, "a.png", noise_image(20, 20))
    with pytest.raises(ValueError, match=match):
        load_images([path], **kwargs)


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty list"):
        load_images([])
    with pytest.raises(ValueError, match="images only"):
        load_images([tmp_path / "a.png", tmp_path / "clip.mp4"])
    with pytest.raises(TypeError, match="source must be"):
        load_images(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        resize_shape(0, 10)


# ---------------------------------------------------------------------------------------------
# Geometry: the affine maps


def blob_centroid(image: torch.Tensor, centre: np.ndarray, radius: int = 25) -> np.ndarray:
    """Intensity centroid (x, y) of channel 0 in a window around ``centre``."""
    x0, y0 = (round(c) - radius for c in centre)
    window = image[0, max(y0, 0) : y0 + 2 * radius + 1, max(x0, 0) : x0 + 2 * radius + 1].double().numpy()
    ys, xs = np.mgrid[: window.shape[0], : window.shape[1]]
    total = window.sum()
    return np.array([(xs * window).sum() / total + max(x0, 0), (ys * window).sum() / total + max(y0, 0)])


@pytest.mark.parametrize("mode", ["crop", "pad", "square"])
@pytest.mark.parametrize(
    ("size", "spot"),
    [
        ((100, 60), (31, 37)),  # landscape, x5.18 upsampling
        ((60, 100), (23, 58)),  # portrait: crop mode crops rows, pad mode pads columns
        ((2000, 1300), (1234, 777)),  # landscape, strong downsampling
        ((1300, 2000), (400, 1200)),  # portrait, strong downsampling
    ],
)
def test_bright_spot_lands_where_predicted(mode: str, size: tuple[int, int], spot: tuple[int, int]) -> None:
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    half = 1 if max(size) < 500 else 6  # a few original pixels, so the spot survives downsampling
    pixels[spot[1] - half : spot[1] + half + 1, spot[0] - half : spot[0] + half + 1] = 255
    result = preprocess_image(Image.fromarray(pixels), mode=mode)
    batch = ImageBatch(
        images=result.image[None],
        paths=(Path("spot.png"),),
        frame_indices=(None,),
        original_sizes=(size,),
        transforms=result.transform[None],
        valid_regions=torch.tensor([result.valid_region]),
        mode=mode,
    )
    predicted = batch.to_model(np.array(spot, dtype=np.float64), 0)
    measured = blob_centroid(result.image, predicted)
    # a half-pixel convention error would shift the spot by 0.5 * |scale - 1|, at least 0.3 px here
    assert np.abs(measured - predicted).max() < 0.1, (measured, predicted)


def test_affine_values_crop_portrait() -> None:
    result = preprocess_image(Image.new("RGB", (480, 640)), mode="crop")
    s = 518 / 480
    top = (686 - 518) // 2
    expected = torch.tensor([[s, 0, 0.5 * s - 0.5], [0, 686 / 640, 0.5 * 686 / 640 - 0.5 - top], [0, 0, 1]])
    assert torch.allclose(result.transform, expected.double(), atol=1e-12)
    assert result.valid_region == (0, 0, 518, 518)


def test_square_valid_region_matches_original_coords() -> None:
    result = preprocess_image(Image.new("RGB", (300, 200), (255, 255, 255)), mode="square")
    # content spans y in [50 * 518/300, 250 * 518/300) = [86.33, 431.67) in edge coordinates
    assert result.valid_region == (0, 86, 518, 432)
    assert (result.image[:, :85] == 0).all() and (result.image[:, 433:] == 0).all()


def test_roundtrip_and_types(tmp_path: Path) -> None:
    paths = [save(tmp_path, "a.png", noise_image(480, 640)), save(tmp_path, "b.png", noise_image(1000, 500))]
    batch = load_images(paths, mode="pad")
    rng = np.random.default_rng(0)
    for i in range(2):
        xy = rng.uniform(-10, 600, (7, 3, 2))
        back = batch.to_original(batch.to_model(xy, i), i)
        assert isinstance(back, np.ndarray) and np.allclose(back, xy, atol=1e-9)
        xy_t = torch.from_numpy(xy).float()
        back_t = batch.to_original(batch.to_model(xy_t, i), i)
        assert back_t.dtype == torch.float32 and torch.allclose(back_t, xy_t, atol=1e-4)
    # the original image corners map to the edges of the valid region (edge convention = centre - 0.5)
    w, h = batch.original_sizes[0]
    corners = batch.to_model(np.array([[-0.5, -0.5], [w - 0.5, h - 0.5]]), 0) + 0.5
    x0, y0, x1, y1 = batch.valid_regions[0].tolist()
    assert np.allclose(corners, [[x0, y0], [x1, y1]], atol=1e-9)
    with pytest.raises(ValueError, match=r"\[\.\.\., 2\]"):
        batch.to_model(np.zeros((4, 3)), 0)


def test_intrinsics_to_original(tmp_path: Path) -> None:
    batch = load_images([save(tmp_path, "a.png", noise_image(480, 640))], mode="crop")
    k_model = torch.tensor([[[400.0, 0, 259], [0, 410, 259], [0, 0, 1]]], dtype=torch.float64)
    k_orig = batch.intrinsics_to_original(k_model)
    point = torch.tensor([0.3, -0.2, 2.0], dtype=torch.float64)
    in_model = (k_model[0] @ point)[:2] / point[2]
    in_orig = (k_orig[0] @ point)[:2] / point[2]
    assert torch.allclose(batch.to_model(in_orig, 0), in_model, atol=1e-9)
    with pytest.raises(ValueError, match="intrinsics"):
        batch.intrinsics_to_original(torch.eye(3))


def test_accepted_extensions() -> None:
    assert set(IMAGE_EXTENSIONS) == {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
