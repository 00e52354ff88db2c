"""What ``vggt-py reconstruct`` reads about the cameras: ``--intrinsics``, ``--focal-from-exif``, ``--poses``,
``--scale-distance``, ``--scale-depth`` (file formats in the README, "Long sequences, known cameras, metric scale").

Frames are named as in the outputs (the file name, ``video.mp4#frame=12`` for video frames) or by their
0-based index among the INPUT frames (after ``--max-frames``), written as a string in JSON (``"0"``).
Pixels are ORIGINAL photo pixels with pixel centres at integers (OpenCV's convention; a COLMAP principal
point is this one + 0.5).

* ``--intrinsics FILE`` (JSON): one camera for all frames, ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` or
  ``{"fx": .., "fy": .., "cx": .., "cy": ..}`` (``"f"`` for both focal lengths); or a list with one camera per
  input frame, in input order; or an object ``{frame: camera}`` naming every frame.
* ``--focal-from-exif``: ``fx = fy`` from each photo's EXIF ``FocalLengthIn35mmFilm`` (35 mm equivalent,
  diagonal: ``f_px = f35 * sqrt(w^2 + h^2) / 43.27``) or ``FocalLength`` in mm with the sensor's
  ``FocalPlaneXResolution``/``FocalPlaneResolutionUnit`` (``f_px = f_mm * pixels per mm``, rescaled when the
  photo is smaller than ``PixelXDimension``); the principal point at the photo's centre ``((w-1)/2, (h-1)/2)``.
* ``--poses FILE`` (JSON): ``{frame: 4x4 camera-from-world}`` (OpenCV axes, any unit; two or more fix the scale).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vggt_py.cli.common import CLIError

__all__ = [
    "exif_focal_length",
    "focal_from_exif",
    "read_intrinsics",
    "read_poses",
    "resolve_frame",
]

_DIAGONAL_35MM = math.hypot(36.0, 24.0)  # 43.27 mm
_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # FocalPlaneResolutionUnit: inch, cm, mm, micrometre
# EXIF tags (in the Exif IFD)
_FOCAL_LENGTH = 0x920A
_FOCAL_35MM = 0xA405
_FOCAL_PLANE_X = 0xA20E
_FOCAL_PLANE_UNIT = 0xA210
_PIXEL_X = 0xA002
_EXIF_IFD = 0x8769


def _read_json(flag: str, path: Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise CLIError(f"{flag} {path}: cannot be read ({err.strerror or err})") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise CLIError(f"{flag} {path}: not valid JSON ({err})") from err


def resolve_frame(flag: str, key: object, names: Sequence[str]) -> int:
    """The input-frame index of ``key``: a frame name, or a 0-based index (int or digit string)."""
    text = str(key)
    if text in names:
        if list(names).count(text) > 1:
            raise CLIError(f"{flag}: frame name {text!r} is ambiguous (several input frames have it); use its index")
        return list(names).index(text)
    if (isinstance(key, int) and not isinstance(key, bool)) or text.isdigit():
        index = int(text)
        if 0 <= index < len(names):
            return index
        raise CLIError(f"{flag}: frame index {index} out of range for {len(names)} input frames")
    shown = ", ".join(repr(n) for n in list(names)[:5]) + (", ..." if len(names) > 5 else "")
    raise CLIError(f"{flag}: unknown frame {text!r}; frames are named {shown} or by index 0..{len(names) - 1}")


def _camera(flag: str, where: str, value: object) -> np.ndarray:
    """One camera matrix from ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` or ``{"fx", "fy", "cx", "cy"}``."""
    if isinstance(value, dict):
        keys = set(value)
        focal = {"f"} if "f" in keys else {"fx", "fy"}
        if keys != focal | {"cx", "cy"}:
            raise CLIError(
                f"{flag}: {where}: expected keys fx, fy, cx, cy (or f, cx, cy), got {sorted(keys)}"
            )
        try:
            fx = float(value["f"] if "f" in value else value["fx"])
            fy = float(value["f"] if "f" in value else value["fy"])
            cx, cy = float(value["cx"]), float(value["cy"])
        except (TypeError, ValueError):
            raise CLIError(f"{flag}: {where}: expected numbers, got {value!r}") from None
        return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    try:
        matrix = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CLIError(f"{flag}: {where}: expected a 3x3 camera matrix, got {value!r}") from None
    if matrix.shape != (3, 3):
        raise CLIError(f"{flag}: {where}: expected a 3x3 camera matrix, got {value!r}")
    return matrix


def _is_one_camera(data: object) -> bool:
    if isinstance(data, dict):
        return {"cx", "cy"} <= set(data)
    return isinstance(data, list) and len(data) == 3 and all(
        isinstance(row, list) and len(row) == 3 and all(not isinstance(v, list) for v in row) for row in data
    )


def _known_key(key: object, names: Sequence[str], strict: bool) -> bool:
    """Whether ``key`` of a ``{frame: ...}`` file is used: with ``strict`` False (``--max-frames`` left some
    photos out) a name that is no input frame is skipped; indices and ``strict`` names must resolve."""
    return strict or str(key) in names or str(key).isdigit()


def read_intrinsics(path: Path, names: Sequence[str], strict: bool = True) -> np.ndarray:
    """Camera matrices (ORIGINAL pixels) of the input frames ``names`` from ``--intrinsics FILE``: one ``[3, 3]``
    for all frames, or ``[S, 3, 3]``.

    The matrices are not validated here (``reconstruct`` does, naming the frame index). ``strict``: see
    :func:`read_poses`.
    """
    flag = f"--intrinsics {path}"
    data = _read_json("--intrinsics", path)
    if _is_one_camera(data):
        return _camera(flag, "the camera", data)
    if isinstance(data, list):
        if len(data) != len(names):
            raise CLIError(
                f"{flag}: a list needs one camera per input frame ({len(names)}), got {len(data)}"
            )
        return np.stack([_camera(flag, f"camera {i} ({names[i]})", item) for i, item in enumerate(data)])
    if isinstance(data, dict):
        cameras: dict[int, np.ndarray] = {}
        for key, item in data.items():
            if not _known_key(key, names, strict):
                continue
            index = resolve_frame(flag, key, names)
            if index in cameras:
                raise CLIError(f"{flag}: frame {names[index]!r} is given twice")
            cameras[index] = _camera(flag, f"frame {key!r}", item)
        missing = [names[i] for i in range(len(names)) if i not in cameras]
        if missing:
            raise CLIError(
                f"{flag}: no camera for {len(missing)} frame(s): {', '.join(repr(m) for m in missing[:5])}"
                + (", ..." if len(missing) > 5 else "")
                + "; name every frame, or give one camera for all"
            )
        return np.stack([cameras[i] for i in range(len(names))])
    raise CLIError(
        f"{flag}: expected one camera ([[fx, 0, cx], [0, fy, cy], [0, 0, 1]] or {{\"fx\", \"fy\", \"cx\", \"cy\"}}), "
        f"a list of cameras or {{frame: camera}}, got {type(data).__name__}"
    )


def _rational(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def exif_focal_length(path: Path, size: tuple[int, int]) -> tuple[float | None, str]:
    """Focal length in pixels of the photo at ``path`` (``size`` = (width, height) as loaded) and its EXIF
    source; ``None`` and the reason when the photo has no usable focal length."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            exif = image.getexif()
            stored_width = image.size[0]  # before any EXIF rotation: the sensor's X axis
    except (OSError, UnidentifiedImageError) as err:
        return None, f"its EXIF cannot be read ({err})"
    tags = dict(exif)
    tags.update(exif.get_ifd(_EXIF_IFD))
    width, height = size
    f35 = _rational(tags.get(_FOCAL_35MM))
    if f35 is not None:
        return f35 * math.hypot(width, height) / _DIAGONAL_35MM, f"FocalLengthIn35mmFilm {f35:g} mm"
    f_mm = _rational(tags.get(_FOCAL_LENGTH))
    if f_mm is None:
        return None, "no FocalLengthIn35mmFilm or FocalLength EXIF tag"
    resolution = _rational(tags.get(_FOCAL_PLANE_X))
    unit = _UNIT_MM.get(int(tags.get(_FOCAL_PLANE_UNIT, 2) or 2))
    if resolution is None or unit is None:
        return None, (
            f"FocalLength {f_mm:g} mm but no sensor size (FocalPlaneXResolution/FocalPlaneResolutionUnit) "
            "to turn it into pixels"
        )
    pixels_per_mm = resolution / unit
    captured = _rational(tags.get(_PIXEL_X))
    if captured is not None:  # the photo may have been resized since it was taken
        pixels_per_mm *= stored_width / captured
    return f_mm * pixels_per_mm, f"FocalLength {f_mm:g} mm with FocalPlaneXResolution"


def focal_from_exif(paths: Sequence[Path], frame_indices: Sequence[int | None], sizes: Sequence[tuple[int, int]]) -> np.ndarray:
    """``[S, 3, 3]`` camera matrices from the photos' EXIF focal lengths, principal points at the centres."""
    cameras = []
    missing: list[str] = []
    for path, frame, (width, height) in zip(paths, frame_indices, sizes, strict=True):
        if frame is not None:
            raise CLIError(f"--focal-from-exif: {path.name} is a video; video frames carry no EXIF focal length "
                           "(use --intrinsics FILE)")
        focal, why = exif_focal_length(path, (int(width), int(height)))
        if focal is None:
            missing.append(f"{path.name} ({why})")
            continue
        cameras.append(np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]]))
    if missing:
        raise CLIError(
            f"--focal-from-exif: {len(missing)} photo(s) have no usable focal length: " + "; ".join(missing[:5])
            + ("; ..." if len(missing) > 5 else "") + ". Give the cameras with --intrinsics FILE instead"
        )
    return np.stack(cameras)


def read_poses(path: Path, names: Sequence[str], strict: bool = True) -> dict[int, np.ndarray]:
    """``{input frame index: 4x4 camera-from-world}`` from ``--poses FILE`` (rigidity checked by the caller).

    A frame name that is no input frame is an error, unless ``strict`` is False (``--max-frames`` left some
    photos out): then it is skipped.
    """
    flag = f"--poses {path}"
    data = _read_json("--poses", path)
    if not isinstance(data, dict) or not data:
        raise CLIError(f"{flag}: expected a JSON object {{frame: 4x4 camera-from-world matrix}}, got {data!r:.200}")
    poses: dict[int, np.ndarray] = {}
    for key, value in data.items():
        if not _known_key(key, names, strict):
            continue
        index = resolve_frame(flag, key, names)
        if index in poses:
            raise CLIError(f"{flag}: frame {names[index]!r} is given twice")
        try:
            matrix = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise CLIError(f"{flag}: frame {key!r}: expected a 4x4 matrix, got {value!r}") from None
        if matrix.shape not in ((4, 4), (3, 4)):
            raise CLIError(f"{flag}: frame {key!r}: expected a 4x4 (or 3x4) matrix, got {value!r}")
        poses[index] = matrix
    if not poses:
        raise CLIError(f"{flag}: none of its frames is among the input frames ({', '.join(map(repr, names[:5]))}...)")
    return poses


def read_depth(flag: str, value: str) -> float | np.ndarray:
    """``--scale-depth``'s value: a number (metres) or a ``.npy`` depth map in original pixels."""
    try:
        return float(value)
    except ValueError:
        pass
    path = Path(value)
    if path.suffix.lower() != ".npy":
        raise CLIError(f"{flag}: expected a metric depth (a number) or a .npy depth map, got {value!r}")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise CLIError(f"{flag}: {value} cannot be read as a depth map ({err})") from err
