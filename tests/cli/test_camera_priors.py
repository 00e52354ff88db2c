"""``vggt-py reconstruct`` with known cameras and metric anchors: file formats, EXIF focal lengths, flags, errors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import write_photos
from vggt_py.cli import main
from vggt_py.cli.camera_priors import exif_focal_length, focal_from_exif, read_intrinsics, read_poses, resolve_frame
from vggt_py.cli.common import CLIError
from vggt_py.inference.export import load_npz

NAMES = ["a.png", "b.png", "c.png"]
K = [[500.0, 0.0, 99.5], [0.0, 510.0, 74.5], [0.0, 0.0, 1.0]]


def run(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------------------------------------
# File formats


def test_intrinsics_formats(tmp_path: Path) -> None:
    one = read_intrinsics(write_json(tmp_path / "one.json", K), NAMES)
    assert one.shape == (3, 3) and (one == np.array(K)).all()
    short = read_intrinsics(write_json(tmp_path / "short.json", {"f": 500.0, "cx": 99.5, "cy": 74.5}), NAMES)
    assert short[0, 0] == short[1, 1] == 500.0 and short[0, 2] == 99.5
    listed = read_intrinsics(write_json(tmp_path / "list.json", [K, {"fx": 1, "fy": 2, "cx": 3, "cy": 4}, K]), NAMES)
    assert listed[1].tolist() == [[1, 0, 3], [0, 2, 4], [0, 0, 1]]
    mapping = {"c.png": K, "0": {"fx": 7, "fy": 7, "cx": 1, "cy": 1}, "b.png": K}
    by_name = read_intrinsics(write_json(tmp_path / "map.json", mapping), NAMES)
    assert by_name[0, 0, 0] == 7 and by_name[2, 1, 1] == 510.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"a.png": K, "b.png": K}, r"no camera for 1 frame\(s\): 'c.png'"),
        ({"a.png": K, "b.png": K, "c.png": K, "d.png": K}, r"unknown frame 'd.png'; frames are named 'a.png'"),
        ({"a.png": K, "0": K, "b.png": K, "c.png": K}, r"frame 'a.png' is given twice"),
        ([K, K], r"a list needs one camera per input frame \(3\), got 2"),
        ({"fx": 1, "cx": 2, "cy": 3}, r"expected keys fx, fy, cx, cy \(or f, cx, cy\), got \['cx', 'cy', 'fx'\]"),
        ([[1, 2], [3, 4]], r"a list needs one camera per input frame"),
        ({"a.png": [[1, 2], [3, 4]], "b.png": K, "c.png": K}, r"frame 'a.png': expected a 3x3 camera matrix, got \[\[1, 2\], \[3, 4\]\]"),
        ("K", r"expected one camera .* got str"),
        ({"7": K}, r"frame index 7 out of range for 3 input frames"),
    ],
)
def test_intrinsics_file_errors(tmp_path: Path, data: object, message: str) -> None:
    with pytest.raises(CLIError, match=message):
        read_intrinsics(write_json(tmp_path / "k.json", data), NAMES)


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CLIError, match=r"--intrinsics .*bad.json: not valid JSON"):
        read_intrinsics(tmp_path / "bad.json", NAMES)
    with pytest.raises(CLIError, match=r"--poses .*missing.json: cannot be read"):
        read_poses(tmp_path / "missing.json", NAMES)


def test_max_frames_lets_a_mapping_name_more_photos(tmp_path: Path) -> None:
    mapping = write_json(tmp_path / "map.json", {n: K for n in [*NAMES, "z.png"]})
    assert read_intrinsics(mapping, NAMES, strict=False).shape == (3, 3, 3)
    poses = write_json(tmp_path / "poses.json", {"z.png": np.eye(4).tolist(), "b.png": np.eye(4).tolist()})
    assert list(read_poses(poses, NAMES, strict=False)) == [1]
    with pytest.raises(CLIError, match="unknown frame 'z.png'"):
        read_poses(poses, NAMES)


def test_poses_file(tmp_path: Path) -> None:
    pose = np.eye(4)
    pose[:3, 3] = [1, 2, 3]
    poses = read_poses(write_json(tmp_path / "p.json", {"b.png": pose.tolist(), "2": pose[:3].tolist()}), NAMES)
    assert sorted(poses) == [1, 2] and (poses[1] == pose).all()
    with pytest.raises(CLIError, match=r"expected a JSON object \{frame: 4x4 camera-from-world matrix\}, got \[1, 2\]"):
        read_poses(write_json(tmp_path / "l.json", [1, 2]), NAMES)
    with pytest.raises(CLIError, match=r"frame 'a.png': expected a 4x4 \(or 3x4\) matrix, got \[1, 2, 3\]"):
        read_poses(write_json(tmp_path / "s.json", {"a.png": [1, 2, 3]}), NAMES)


def test_frame_references() -> None:
    assert resolve_frame("--x", "c.png", NAMES) == 2 and resolve_frame("--x", "1", NAMES) == 1
    with pytest.raises(CLIError, match="ambiguous"):
        resolve_frame("--x", "a.png", ["a.png", "a.png"])


# ---------------------------------------------------------------------------------------------
# EXIF


def jpeg(path: Path, size: tuple[int, int], tags: dict[int, object]) -> Path:
    image = Image.new("RGB", size, (120, 90, 60))
    exif = image.getexif()
    exif.get_ifd(0x8769).update(tags)
    image.save(path, exif=exif)
    return path


def test_exif_35mm_equivalent(tmp_path: Path) -> None:
    path = jpeg(tmp_path / "a.jpg", (400, 300), {0xA405: 28})
    focal, source = exif_focal_length(path, (400, 300))
    assert focal == pytest.approx(28 * 500 / math.hypot(36, 24)) and "FocalLengthIn35mmFilm 28" in source
    k = focal_from_exif([path], [None], [(400, 300)])
    assert k[0].tolist() == [[focal, 0, 199.5], [0, focal, 149.5], [0, 0, 1]]


def test_exif_focal_length_with_sensor_resolution(tmp_path: Path) -> None:
    # 4.2 mm lens, 1000 px/mm on a sensor read out at 4000 px wide, photo resized to 400 px: 420 px
    path = jpeg(tmp_path / "b.jpg", (400, 300), {0x920A: 4.2, 0xA20E: 1000.0, 0xA210: 4, 0xA002: 4000})
    focal, _ = exif_focal_length(path, (400, 300))
    assert focal == pytest.approx(420.0)


def test_exif_without_focal_length_is_a_clear_error(tmp_path: Path) -> None:
    good = jpeg(tmp_path / "good.jpg", (40, 30), {0xA405: 28})
    plain = tmp_path / "plain.png"
    Image.new("RGB", (40, 30)).save(plain)
    mm_only = jpeg(tmp_path / "mm.jpg", (40, 30), {0x920A: 4.2})
    with pytest.raises(CLIError) as info:
        focal_from_exif([good, plain, mm_only], [None] * 3, [(40, 30)] * 3)
    message = str(info.value)
    assert "--focal-from-exif: 2 photo(s) have no usable focal length" in message
    assert "plain.png (no FocalLengthIn35mmFilm or FocalLength EXIF tag)" in message
    assert "mm.jpg (FocalLength 4.2 mm but no sensor size" in message and "--intrinsics FILE" in message
    with pytest.raises(CLIError, match="is a video"):
        focal_from_exif([tmp_path / "v.mp4"], [3], [(40, 30)])


# ---------------------------------------------------------------------------------------------
# The command


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_photos(tmp_path_factory.mktemp("priors") / "photos", (150, 200), count=3)


def base(photos: Path, out: Path, model_dir: Path) -> list[str | Path]:
    return ["reconstruct", photos, "-o", out, "--model", model_dir, "--device", "cpu", "--formats", "colmap,npz"]


def test_intrinsics_poses_and_depth_scale_applied(photos: Path, model_dir: Path, tmp_path: Path, capsys) -> None:
    pycolmap = pytest.importorskip("pycolmap")
    k = {"fx": 180.25, "fy": 181.5, "cx": 99.75, "cy": 74.0}
    pose = np.eye(4)
    pose[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    pose[:3, 3] = [0.5, -1.0, 2.0]
    argv = base(photos, tmp_path / "out", model_dir)
    argv += ["--intrinsics", write_json(tmp_path / "k.json", k), "--poses", write_json(tmp_path / "p.json", {"01.png": pose.tolist()})]
    assert run(*argv, "--scale-depth", "02.png", "3.5") == 0
    rec = load_npz(tmp_path / "out" / "reconstruction.npz")
    expected = np.array([[k["fx"], 0, k["cx"]], [0, k["fy"], k["cy"]], [0, 0, 1]])
    np.testing.assert_array_equal(rec.known_intrinsics, np.broadcast_to(expected, (3, 3, 3)))
    for camera in pycolmap.Reconstruction(str(tmp_path / "out" / "sparse")).cameras.values():
        assert tuple(camera.params) == (k["fx"], k["fy"], k["cx"] + 0.5, k["cy"] + 0.5)
    # one known pose: frame 01 sits exactly there (rotation and translation; the depth anchor then scales)
    np.testing.assert_allclose(rec.extrinsics[1][:, :3], pose[:3, :3], atol=1e-5)
    assert rec.scale_source == "depth" and rec.metadata["known_poses"] == [1]
    assert float(np.median(rec.depth[2][rec.mask()[2]])) == pytest.approx(3.5, rel=1e-4)
    out = capsys.readouterr().out
    assert "intrinsics" in out and "k.json" in out and "aligned to 1 known camera" in out and "depth 3.5 of 02.png" in out


def test_exif_focal_and_distance_scale(model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "exif"
    folder.mkdir()
    for i in range(2):
        jpeg(folder / f"{i}.jpg", (160, 120), {0xA405: 35})
    argv = base(folder, tmp_path / "out", model_dir) + ["--focal-from-exif"]
    assert run(*argv, "--scale-distance", "0", "40", "60", "120", "60", "2.0", "--refine") == 0
    rec = load_npz(tmp_path / "out" / "reconstruction.npz")
    focal = 35 * 200 / math.hypot(36, 24)
    assert rec.known_intrinsics[0].tolist() == [[focal, 0, 79.5], [0, focal, 59.5], [0, 0, 1]]
    assert rec.scale_source == "distance"
    a, b = (rec.points_original(0)[60, x] for x in (40, 120))
    assert float(np.linalg.norm(a - b)) == pytest.approx(2.0, rel=1e-3)


def test_window_flags_reach_reconstruct(photos: Path, model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from vggt_py.inference import api

    seen: dict[str, object] = {}
    real = api.reconstruct

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "reconstruct", spy)
    argv = base(photos, tmp_path / "out", model_dir) + ["--window", "2", "--overlap", "1", "--loop-closure", "00.png:02.png"]
    ks = [[[100.0 + i, 0, 99.5], [0, 100.0 + i, 74.5], [0, 0, 1]] for i in range(3)]
    assert run(*argv, "--keyframes", "0", "--intrinsics", write_json(tmp_path / "k.json", ks)) == 0
    assert seen["window"] == 2 and seen["overlap"] == 1 and seen["loop_closure"] == [(0, 2)] and seen["keyframes"] == 0
    rec = load_npz(tmp_path / "out" / "reconstruction.npz")
    assert "windowed" in rec.metadata
    # each kept frame carries its own input frame's K (windows may drop frames)
    kept = [int(n[:2]) for n in rec.names]
    np.testing.assert_array_equal(rec.known_intrinsics, np.array(ks)[kept])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--intrinsics", "{K_BAD}"], r"--intrinsics .*: intrinsics\[1\]: expected positive focal lengths fx, fy, got -5.0"),
        (["--intrinsics", "{K_ROW}"], r"intrinsics: expected the bottom row \[0, 0, 1\] of a camera matrix, got \[0.0, 1.0, 1.0\]"),
        (["--poses", "{P_SKEW}"], r"--poses .*: frame '00.png': poses\[0\]: not rigid"),
        (["--poses", "{P_UNKNOWN}"], r"--poses .*: unknown frame 'nope.png'"),
        (["--scale-depth", "9", "2.0"], r"--scale-depth: frame index 9 out of range for 3 input frames"),
        (["--scale-depth", "0", "deep"], r"--scale-depth: expected a metric depth \(a number\) or a .npy depth map, got 'deep'"),
        (["--scale-distance", "0", "1", "2", "x", "4", "1"], r"--scale-distance: expected FRAME X1 Y1 X2 Y2 METRES with numbers"),
        (["--scale-distance", "0", "1", "2", "3", "4", "-1"], r"--scale-distance: distance: expected a positive finite number of metres, got -1.0"),
        (["--intrinsics", "{K_GOOD}", "--refine", "--refine-intrinsics", "shared"], r"--refine-intrinsics shared would change"),
        (["--loop-closure", "00.png-02.png", "--window", "2"], r"--loop-closure: expected 'auto' or pairs A:B"),
    ],
)
def test_bad_camera_input_is_a_clear_error(photos: Path, model_dir: Path, tmp_path: Path, capsys, extra, message) -> None:
    skew = np.eye(4)
    skew[0, 1] = 0.3
    files = {
        "{K_BAD}": write_json(tmp_path / "bad.json", [K, [[-5.0, 0, 1], [0, 5, 1], [0, 0, 1]], K]),
        "{K_ROW}": write_json(tmp_path / "row.json", [[5.0, 0, 1], [0, 5, 1], [0, 1, 1]]),
        "{K_GOOD}": write_json(tmp_path / "good.json", K),
        "{P_SKEW}": write_json(tmp_path / "skew.json", {"00.png": skew.tolist()}),
        "{P_UNKNOWN}": write_json(tmp_path / "unknown.json", {"nope.png": np.eye(4).tolist()}),
    }
    extra = [files.get(v, v) for v in extra]
    assert run(*base(photos, tmp_path / "out", model_dir), *extra) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert re.search(message, err), err
