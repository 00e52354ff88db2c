"""Load photos (a list, a folder or a video) into the model's input tensor, the way VGGT does.

Preprocessing reproduces the reference loader pixel for pixel: the image is resized with PIL
bicubic on uint8 to a size chosen with Python's round-half-to-even on 14-pixel multiples, divided
by 255 to float32, then centre-cropped (``"crop"``) or padded with white (``"pad"``). ``"square"``
pads onto a black square first and resizes that to ``target_size`` (the COLMAP demo's loader).
Frames whose shapes still differ are padded with white to the largest height and width.

Coordinates: every pixel coordinate here is ``(x, y)`` with **integer values at pixel centres**,
so pixel column ``i`` covers ``[i - 0.5, i + 0.5)``. This is VGGT's own convention (depth
unprojection uses the integer pixel index as the coordinate, query points sample with
``align_corners=True``). PIL's resize maps centres by ``x_model + 0.5 = (x_orig + 0.5) * new_w / w``,
so each image gets an exact affine map from original to model pixels.

Differences from the reference loader, all on inputs where it is wrong or fails: EXIF orientation
is applied; ``LA``/``PA``/palette-with-transparency are composited on white like ``RGBA``; 16-bit
and 32-bit grayscale are scaled to 8 bit instead of clipped; an extremely elongated image keeps at
least one patch row instead of failing on a zero-sized resize.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, NamedTuple, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from vggt_py.errors import InputError
from vggt_py.utils.io import NotARegularFileError, check_regular_file
from vggt_py.geometry.pixels import intrinsics_to_original, model_to_original, original_to_model
from vggt_py.inference.video import (
    VideoReadError,
    is_video_path,
    read_video_frame,
    read_video_frames,
    sample_frame_indices,
)

__all__ = [
    "MAX_RESIZE_FACTOR",
    "IMAGE_EXTENSIONS",
    "ImageBatch",
    "ImageLoadError",
    "PreprocessMode",
    "PreprocessedImage",
    "list_images",
    "load_images",
    "preprocess_image",
    "read_image",
    "resize_shape",
    "to_rgb",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
PreprocessMode = Literal["crop", "pad", "square"]
_MODES: tuple[str, ...] = ("crop", "pad", "square")
# Before cropping, no side is resized beyond this many times the model size (a 1 x 2400 strip in
# crop mode would otherwise become 518 x 1.2 million pixels).
MAX_RESIZE_FACTOR = 8
_WHITE = (255, 255, 255, 255)
_PointsT = TypeVar("_PointsT", torch.Tensor, np.ndarray)


class ImageLoadError(InputError):
    """Images that could not be loaded; ``failures`` lists every ``(path, reason)``."""

    def __init__(self, message: str, failures: Sequence[tuple[Path, str]] = ()) -> None:
        super().__init__(message)
        self.failures: tuple[tuple[Path, str], ...] = tuple(failures)

    @classmethod
    def from_failures(cls, failures: Sequence[tuple[Path, str]]) -> ImageLoadError:
        lines = "\n".join(f"  {path}: {reason}" for path, reason in failures)
        return cls(f"could not load {len(failures)} image(s):\n{lines}", failures)


# ---------------------------------------------------------------------------------------------
# Reading: any PIL mode -> upright 8-bit RGB


def _composite_on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, _WHITE)
    return Image.alpha_composite(background, rgba).convert("RGB")


def _gray_to_uint8(image: Image.Image) -> np.ndarray:
    """8-bit [h, w] from a 16/32-bit integer ("I;16*", "I": 0..65535) or float ("F") grayscale image."""
    values = np.asarray(image)
    if image.mode == "F":
        values = np.nan_to_num(values.astype(np.float64))
        scale = 255.0 if values.max(initial=0.0) <= 1.0 else 1.0  # [0, 1] floats, else already 0..255
        return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    wide = np.clip(values.astype(np.int64), 0, 65535)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)  # round(v * 255 / 65535)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB; transparency is composited onto white.

    ``RGB`` is returned unchanged and ``RGBA`` is composited exactly like the reference loader.
    """
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("RGBA", "RGBa", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        return _composite_on_white(image)
    if mode == "La":
        return _composite_on_white(image.convert("LA"))
    if mode == "I" or mode == "F" or mode.startswith("I;16"):
        return Image.fromarray(_gray_to_uint8(image), mode="L").convert("RGB")
    return image.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV, RGBX


def read_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open an image file as upright (EXIF-transposed) 8-bit RGB, fully decoded.

    Animated images (GIF, APNG, WebP with several frames) are refused rather than silently reduced
    to their first frame: extract the frames (or pass a video) to reconstruct from all of them.

    Raises whatever PIL raises on a missing, unreadable or corrupt file; ``NotARegularFileError``
    for a FIFO or device; ``ValueError`` for an animated image.
    """
    check_regular_file(path)
    with Image.open(path) as opened:
        frames = getattr(opened, "n_frames", 1)
        if getattr(opened, "is_animated", False) and opened.format in ("GIF", "PNG", "WEBP") and frames > 1:
            raise ValueError(
                f"an animated {opened.format} with {frames} frames; expected a still image "
                "(extract its frames into a folder, or pass a video, to use all of them)"
            )
        opened.load()
        upright = ImageOps.exif_transpose(opened)
        assert upright is not None
        rgb = to_rgb(upright)
        rgb.load()
    return rgb


def _failure_reason(err: Exception) -> str:
    if isinstance(err, FileNotFoundError):
        return "file not found"
    if isinstance(err, IsADirectoryError):
        return "is a directory, not an image file"
    if isinstance(err, PermissionError):
        return "permission denied"
    if isinstance(err, NotARegularFileError):
        return str(err).rsplit(" is ", 1)[-1]
    if isinstance(err, ValueError):
        return str(err)
    if isinstance(err, UnidentifiedImageError):
        return "not a readable image (unknown format or corrupt header)"
    return f"corrupt or unsupported image ({type(err).__name__}: {err})"


# ---------------------------------------------------------------------------------------------
# Geometry of one image


def _round_to_patches(length: float, patch_size: int) -> int:
    """``patch_size * round(length / patch_size)`` (round half to even), at least one patch."""
    return max(1, round(length / patch_size)) * patch_size


def resize_shape(
    width: int, height: int, mode: PreprocessMode = "crop", target_size: int = 518, patch_size: int = 14
) -> tuple[int, int]:
    """Size ``(new_w, new_h)`` an image of ``width x height`` is resized to, before crop or pad.

    crop: the width becomes ``target_size``; pad: the longer side does; the other side is scaled
    and rounded (half to even) to a multiple of ``patch_size``. square: ``(target, target)``.
    """
    _check_settings(mode, target_size, patch_size)
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if mode == "square":
        return target_size, target_size
    if mode == "crop" or width >= height:
        size = target_size, _round_to_patches(height * (target_size / width), patch_size)
    else:
        size = _round_to_patches(width * (target_size / height), patch_size), target_size
    if max(size) > MAX_RESIZE_FACTOR * target_size:
        raise ValueError(
            f"image of {width}x{height} is too elongated for mode {mode!r}: it would be resized to "
            f"{size[0]}x{size[1]} before cropping (at most {MAX_RESIZE_FACTOR} x {target_size} per side); "
            "use mode 'pad' or crop the image first"
        )
    return size


def _check_settings(mode: str, target_size: int, patch_size: int) -> None:
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if patch_size < 1:
        raise ValueError(f"patch_size must be >= 1, got {patch_size}")
    if target_size < patch_size or target_size % patch_size:
        raise ValueError(f"target_size must be a positive multiple of patch_size={patch_size}, got {target_size}")


@dataclass(frozen=True)
class _Placement:
    """Where an image lands: original -> source (square paste) -> resized -> shifted onto the canvas."""

    source_offset: tuple[int, int]  # (x, y) of the original inside the resized source (square mode)
    source_size: tuple[int, int]  # (w, h) of the image that gets resized
    resized: tuple[int, int]  # (w, h) after the PIL resize
    offset: tuple[int, int]  # (x, y) shift of the resized image on the canvas (negative = crop)
    canvas: tuple[int, int]  # (W, H) of the output frame

    def affine(self) -> torch.Tensor:
        """[3, 3] float64 map from original pixel centres to canvas pixel centres."""
        matrix = torch.eye(3, dtype=torch.float64)
        for axis in (0, 1):
            scale = self.resized[axis] / self.source_size[axis]
            matrix[axis, axis] = scale
            matrix[axis, 2] = scale * (self.source_offset[axis] + 0.5) - 0.5 + self.offset[axis]
        return matrix

    def valid_region(self, original_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """Half-open box ``(x0, y0, x1, y1)`` of canvas pixels whose centres fall on image content."""
        bounds: list[int] = []
        for axis in (0, 1):
            scale = Fraction(self.resized[axis], self.source_size[axis])
            start = scale * self.source_offset[axis] + self.offset[axis]  # content edges, edge coordinates
            stop = scale * (self.source_offset[axis] + original_size[axis]) + self.offset[axis]
            first = max(0, _ceil(start - Fraction(1, 2)))  # first pixel i with i + 0.5 >= start
            end = min(self.canvas[axis], _ceil(stop - Fraction(1, 2)))  # pixels i with i + 0.5 < stop
            bounds.append(first)
            bounds.append(end)
        return bounds[0], bounds[2], bounds[1], bounds[3]


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


def _placement(width: int, height: int, mode: PreprocessMode, target_size: int, patch_size: int) -> _Placement:
    new_w, new_h = resize_shape(width, height, mode, target_size, patch_size)
    if mode == "square":
        side = max(width, height)
        source_offset = ((side - width) // 2, (side - height) // 2)
        return _Placement(source_offset, (side, side), (new_w, new_h), (0, 0), (target_size, target_size))
    if mode == "crop":
        top = (new_h - target_size) // 2 if new_h > target_size else 0
        return _Placement((0, 0), (width, height), (new_w, new_h), (0, -top), (new_w, min(new_h, target_size)))
    offset = ((target_size - new_w) // 2, (target_size - new_h) // 2)
    return _Placement((0, 0), (width, height), (new_w, new_h), offset, (target_size, target_size))


class PreprocessedImage(NamedTuple):
    """One preprocessed frame, before any padding to the batch's largest shape."""

    image: torch.Tensor  # [3, H, W] float32 in [0, 1]
    transform: torch.Tensor  # [3, 3] float64, original pixel centres -> model pixel centres
    valid_region: tuple[int, int, int, int]  # (x0, y0, x1, y1), half-open model-pixel box of real content


def _to_float(image: Image.Image) -> torch.Tensor:
    """uint8 RGB PIL image -> float32 [3, h, w] in [0, 1] (same operations as torchvision's ToTensor)."""
    array = np.array(image, dtype=np.uint8, copy=True)  # [h, w, 3]
    return torch.from_numpy(array).permute(2, 0, 1).contiguous().to(torch.float32).div(255)


def preprocess_image(
    image: Image.Image, mode: PreprocessMode = "crop", target_size: int = 518, patch_size: int = 14
) -> PreprocessedImage:
    """Resize and crop/pad one image (any PIL mode) as VGGT's reference loader does.

    crop: width -> ``target_size``, height rounded to patches, centre-cropped to at most ``target_size``.
    pad: longer side -> ``target_size``, then padded with white (1.0) to a square, extra row/column
    at the bottom/right. square: pasted centred on a black square, resized to ``target_size``.
    """
    rgb = to_rgb(image)
    place = _placement(rgb.width, rgb.height, mode, target_size, patch_size)
    if mode == "square":
        square = Image.new("RGB", place.source_size, (0, 0, 0))
        square.paste(rgb, place.source_offset)
        rgb = square
    pixels = _to_float(rgb.resize(place.resized, Image.Resampling.BICUBIC))  # [3, new_h, new_w]
    if mode == "crop":
        top = -place.offset[1]
        pixels = pixels[:, top : top + place.canvas[1], :]
    elif mode == "pad":
        (left, top), (new_w, new_h) = place.offset, place.resized
        pad = (left, target_size - new_w - left, top, target_size - new_h - top)
        pixels = F.pad(pixels, pad, mode="constant", value=1.0)
    assert pixels.shape[1:] == (place.canvas[1], place.canvas[0])
    return PreprocessedImage(pixels, place.affine(), place.valid_region((image.width, image.height)))


# ---------------------------------------------------------------------------------------------
# Batches


@dataclass(frozen=True, eq=False)
class ImageBatch:
    """Preprocessed frames plus everything needed to map model pixels back to the original images.

    ``transforms[i]`` maps original pixel centres ``(x, y, 1)`` of frame ``i`` to model pixel centres
    (integer = pixel centre, see the module docstring). ``valid_regions[i]`` is the half-open box
    ``(x0, y0, x1, y1)`` of model pixels showing real image content rather than padding.
    """

    images: torch.Tensor  # [S, 3, H, W] float32 in [0, 1]
    paths: tuple[Path, ...]  # the file each frame comes from (the video file for video frames)
    frame_indices: tuple[int | None, ...]  # frame number inside the video, None for still images
    original_sizes: tuple[tuple[int, int], ...]  # (width, height) of the upright original
    transforms: torch.Tensor  # [S, 3, 3] float64, original -> model pixel centres
    valid_regions: torch.Tensor  # [S, 4] int64, (x0, y0, x1, y1) half-open
    mode: PreprocessMode

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def names(self) -> list[str]:
        """A label per frame: the file name, or ``"video.mp4#frame=12"`` for video frames."""
        return [
            p.name if f is None else f"{p.name}#frame={f}" for p, f in zip(self.paths, self.frame_indices, strict=True)
        ]

    def _check_index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"frame index {index} out of range for {len(self)} frames")
        return index % len(self)

    def to_model(self, points: _PointsT, index: int) -> _PointsT:
        """Map original pixel coordinates [..., 2] (x, y) of frame ``index`` to model pixels."""
        return original_to_model(self.transforms[self._check_index(index)], points)

    def to_original(self, points: _PointsT, index: int) -> _PointsT:
        """Map model pixel coordinates [..., 2] (x, y) of frame ``index`` to original pixels."""
        return model_to_original(self.transforms[self._check_index(index)], points)

    def valid_mask(self) -> torch.Tensor:
        """[S, H, W] bool, True on model pixels showing image content (False on padding)."""
        height, width = self.images.shape[-2:]
        ys = torch.arange(height)[None, :, None]
        xs = torch.arange(width)[None, None, :]
        x0, y0, x1, y1 = (self.valid_regions[:, k, None, None] for k in range(4))
        return (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)

    def intrinsics_to_original(self, intrinsics: torch.Tensor) -> torch.Tensor:
        """Turn model-space intrinsics [..., S, 3, 3] into intrinsics of the original images.

        Both use the pixel-centre convention, so ``K_orig = inverse(transform) @ K_model``.
        """
        if intrinsics.shape[-3:] != (len(self), 3, 3):
            raise ValueError(f"intrinsics must have shape [..., {len(self)}, 3, 3], got {tuple(intrinsics.shape)}")
        return intrinsics_to_original(self.transforms, intrinsics)

    def load_original(self, index: int) -> np.ndarray:
        """The original frame ``index`` as uint8 [h, w, 3], read again from disk (same EXIF/mode handling)."""
        index = self._check_index(index)
        frame = self.frame_indices[index]
        image = read_image(self.paths[index]) if frame is None else read_video_frame(self.paths[index], frame)
        return np.asarray(image, dtype=np.uint8)


def _natural_key(name: str) -> tuple[tuple[int, int | str, str], ...]:
    parts = (part for part in re.split(r"(\d+)", name) if part)
    return tuple((0, int(p), p) if p.isdigit() else (1, p.casefold(), p) for p in parts)


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly inside ``folder`` (by extension, hidden files skipped), in natural order."""
    directory = Path(folder)
    if not directory.is_dir():
        raise ImageLoadError(f"not a folder: {directory}")
    files = [
        p
        for p in directory.iterdir()
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(files, key=lambda p: _natural_key(p.name))


class _Frame(NamedTuple):
    path: Path
    frame_index: int | None
    image: Image.Image | None  # already decoded (video frames); None = read from path


def _collect_frames(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], max_frames: int | None
) -> list[_Frame]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageLoadError(f"no such file or folder: {path}", [(path, "file not found")])
        if path.is_dir():
            paths = list_images(path)
            if not paths:
                accepted = ", ".join(IMAGE_EXTENSIONS)
                raise ImageLoadError(f"no images found in folder {path} (accepted extensions: {accepted})")
        elif is_video_path(path):
            try:
                return [_Frame(path, index, image) for index, image in read_video_frames(path, max_frames)]
            except VideoReadError as err:
                raise ImageLoadError(str(err), [(path, str(err))]) from err
        else:
            paths = [path]
    elif isinstance(source, Sequence) and not isinstance(source, bytes):
        paths = [Path(p) for p in source]
        if not paths:
            raise ValueError("load_images got an empty list of paths")
        videos = [p for p in paths if is_video_path(p)]
        if videos:
            raise ValueError(f"a list of paths must hold images only; pass a video file on its own: {videos[0]}")
    else:
        raise TypeError(f"source must be a path, a folder or a sequence of paths, got {type(source).__name__}")
    return [_Frame(paths[i], None, None) for i in sample_frame_indices(len(paths), max_frames)]


def _pad_to_largest(results: list[PreprocessedImage]) -> list[PreprocessedImage]:
    """Pad every frame with white to the largest height and width, centred; shift maps and boxes to match."""
    height = max(r.image.shape[1] for r in results)
    width = max(r.image.shape[2] for r in results)
    padded: list[PreprocessedImage] = []
    for image, transform, (x0, y0, x1, y1) in results:
        top, left = (height - image.shape[1]) // 2, (width - image.shape[2]) // 2
        pad = (left, width - image.shape[2] - left, top, height - image.shape[1] - top)
        shifted = transform.clone()
        shifted[0, 2] += left
        shifted[1, 2] += top
        box = (x0 + left, y0 + top, x1 + left, y1 + top)
        padded.append(PreprocessedImage(F.pad(image, pad, mode="constant", value=1.0), shifted, box))
    return padded


def load_images(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    mode: PreprocessMode = "crop",
    target_size: int = 518,
    patch_size: int = 14,
    max_frames: int | None = None,
) -> ImageBatch:
    """Load and preprocess images for VGGT, matching the reference loader pixel for pixel.

    Args:
        source: a list of image paths; a folder (its image files, natural sort order, extensions
            :data:`IMAGE_EXTENSIONS`); a single image; or a video file (needs ``pip install "vggt-py[video]"``).
        mode: ``"crop"`` (width to ``target_size``, centre crop of taller images), ``"pad"`` (longer
            side to ``target_size``, white padding to a square) or ``"square"`` (black square pad,
            then resize to ``target_size``).
        target_size: output width (crop) or side (pad, square); a multiple of ``patch_size``.
        patch_size: the side lengths are rounded to multiples of this.
        max_frames: keep at most this many frames, spread evenly over the folder, list or video
            (first and last included); ``None`` keeps all.

    Returns:
        An :class:`ImageBatch` with ``images`` [S, 3, H, W] float32 in [0, 1]. Frames of different
        shapes are padded with white to the largest H and W (with a warning).

    Raises:
        ImageLoadError: a missing path, an empty folder, or unreadable files (all listed at once).
    """
    _check_settings(mode, target_size, patch_size)
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be None or >= 1, got {max_frames}")
    frames = _collect_frames(source, max_frames)

    results: list[PreprocessedImage] = []
    sizes: list[tuple[int, int]] = []
    failures: list[tuple[Path, str]] = []
    for frame in frames:
        image = frame.image
        if image is None:
            try:
                image = read_image(frame.path)
            except Exception as err:  # PIL raises many types on corrupt data; all are reported together
                failures.append((frame.path, _failure_reason(err)))
                continue
        sizes.append((image.width, image.height))
        results.append(preprocess_image(image, mode, target_size, patch_size))
    if failures:
        raise ImageLoadError.from_failures(failures)

    shapes = {tuple(r.image.shape) for r in results}
    if len(shapes) > 1:
        results = _pad_to_largest(results)
        warnings.warn(
            f"images have different shapes after preprocessing {sorted(shapes)}; padded with white to "
            f"{tuple(results[0].image.shape)}",
            stacklevel=2,
        )
    return ImageBatch(
        images=torch.stack([r.image for r in results]),
        paths=tuple(f.path for f in frames),
        frame_indices=tuple(f.frame_index for f in frames),
        original_sizes=tuple(sizes),
        transforms=torch.stack([r.transform for r in results]),
        valid_regions=torch.tensor([r.valid_region for r in results], dtype=torch.int64).reshape(-1, 4),
        mode=mode,
    )
