"""Tests of the reconstruct / track / info sub-commands (vggt_py.inference.commands), run in-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import SHARED, sane_tiny_model
from vggt_py import VGGT, VGGTConfig
from vggt_py.cli import main
from vggt_py.inference.commands import (
    INFO_HEIGHT,
    INFO_WIDTH,
    available_memory,
    estimate_memory,
    frames_that_fit,
    parse_points,
)
from vggt_py.inference.export import load_npz, select_points

ROOM = SHARED / "examples" / "room" / "images"
needs_room = pytest.mark.skipif(not ROOM.is_dir(), reason="example photos not present")




@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_model")
    sane_tiny_model().save_pretrained(folder)
    return folder


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "240")  # rich tables on one line each, so substrings can be checked


def write_photos(folder: Path, size: tuple[int, int], count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def run(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


# ---------------------------------------------------------------------------------------------
# vggt-py reconstruct


@needs_room
def test_reconstruct_writes_every_format(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pycolmap = pytest.importorskip("pycolmap")
    out = tmp_path / "out"
    assert run("reconstruct", ROOM, "-o", out, "--model", model_dir, "--device", "cpu", "--offline") == 0
    assert sorted(p.name for p in out.iterdir()) == ["points.ply", "reconstruction.npz", "scene.glb", "sparse"]
    sparse = pycolmap.Reconstruction(str(out / "sparse"))
    assert sparse.num_images() == 8
    rec = load_npz(out / "reconstruction.npz")
    assert len(rec) == 8 and rec.metadata["mode"] == "crop"
    kept = len(select_points(rec, conf_percentile=50))  # the default filter
    assert 0.4 < kept / rec.content_mask().sum() <= 0.6
    assert sparse.num_points3D() == min(kept, 100_000)
    stdout = capsys.readouterr().out
    assert "points kept" in stdout and f"{kept:,} of" in stdout
    assert "wrote colmap" in stdout and "1280 x 960 (7)" in stdout


def test_reconstruct_options(model_dir: Path, tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos", (150, 200), count=5)
    out = tmp_path / "out"
    argv = ["reconstruct", photos, "-o", out, "--model", model_dir, "--device", "cpu", "--formats", "glb, npz"]
    argv += ["--mode", "pad", "--points", "head", "--conf-threshold", "0", "--max-frames", "3", "--chunk", "1"]
    assert run(*argv, "--dtype", "fp32") == 0
    assert sorted(p.name for p in out.iterdir()) == ["reconstruction.npz", "scene.glb"]
    rec = load_npz(out / "reconstruction.npz")
    assert rec.names == ["00.png", "02.png", "04.png"]
    assert rec.point_source == "head" and rec.metadata["mode"] == "pad"
    import trimesh

    cloud = trimesh.load(out / "scene.glb").geometry["points"]
    assert len(cloud.vertices) == int(rec.content_mask().sum())  # threshold 0 keeps every content pixel


def test_missing_input_folder(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no_such_folder"
    assert run("reconstruct", missing, "-o", tmp_path / "out", "--model", model_dir) == 2
    err = capsys.readouterr().err
    assert "vggt-py reconstruct: error: input not found" in err and str(missing) in err
    assert not (tmp_path / "out").exists()


def test_empty_folder_and_corrupt_image(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("reconstruct", empty, "-o", tmp_path / "out", "--model", model_dir, "--device", "cpu") == 2
    assert "no images found" in capsys.readouterr().err
    (empty / "broken.jpg").write_bytes(b"not a jpeg at all")
    assert run("reconstruct", empty, "-o", tmp_path / "out", "--model", model_dir, "--device", "cpu") == 2
    assert "broken.jpg" in capsys.readouterr().err


def test_uncached_hub_model_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    photos = write_photos(tmp_path / "photos", (64, 48), count=1)
    code = run("reconstruct", photos, "-o", tmp_path / "out", "--model", "nobody/vggt-missing", "--offline")
    assert code == 2
    err = capsys.readouterr().err
    assert "nobody/vggt-missing" in err and "--model PATH" in err and "hf download" in err


def test_bad_arguments(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photos = write_photos(tmp_path / "photos", (64, 48), count=1)
    assert run("reconstruct", photos, "-o", tmp_path / "o", "--model", model_dir, "--formats", "glb,obj") == 2
    assert "--formats" in capsys.readouterr().err
    assert run("reconstruct", photos, "-o", tmp_path / "o", "--model", tmp_path / "no_model_here") == 2
    assert "--model" in capsys.readouterr().err
    assert run("reconstruct", photos, "-o", tmp_path / "o", "--conf-percentile", "150") == 2
    with pytest.raises(SystemExit) as exit_info:
        run("reconstruct", photos, "-o", tmp_path / "o", "--max-frames", "0")
    assert exit_info.value.code == 2


def test_out_of_memory_suggests_frames_and_chunk(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vggt_py.inference.api as api

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

    monkeypatch.setattr(api, "reconstruct", out_of_memory)
    photos = write_photos(tmp_path / "photos", (64, 48), count=2)
    assert run("reconstruct", photos, "-o", tmp_path / "out", "--model", model_dir, "--device", "cpu") == 2
    err = capsys.readouterr().err
    assert "out of memory on cpu with 2 frames of 140x112" in err  # 64x48 -> 140x105 -> 7.5 patches -> 8
    assert "--max-frames" in err and "--chunk 1" in err


@needs_room
def test_out_of_memory_message_counts_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    from vggt_py.inference import commands
    from vggt_py.inference.images import load_images

    model = sane_tiny_model()
    batch = load_images(ROOM, target_size=140)  # 8 frames of 140x112
    weights = sum(p.numel() * 4 for p in model.parameters())
    for_frames = {s: commands.estimate_memory(model.config, s, 112, 140, frames_chunk_size=8).total for s in (0, 3)}
    # available memory such that 3 of the 8 frames fit: the message must say so and suggest --max-frames 3
    monkeypatch.setattr(commands, "available_memory", lambda device: int(for_frames[3] / 0.9) + 1 - weights)
    message = commands._out_of_memory_message(model, torch.device("cpu"), batch, torch.float32, 8)
    assert "about 3 frame(s) probably fit" in message and "--max-frames 3" in message
    monkeypatch.setattr(commands, "available_memory", lambda device: int(for_frames[0] / 0.9) - weights)
    message = commands._out_of_memory_message(model, torch.device("cpu"), batch, torch.float32, 8)
    assert "even one frame probably does not fit" in message


# ---------------------------------------------------------------------------------------------
# vggt-py track


def test_track_points(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photos = write_photos(tmp_path / "photos", (300, 200), count=3)
    out = tmp_path / "tracks.npz"
    assert run("track", photos, "--points", "10,20; 150.5,99", "-o", out, "--model", model_dir, "--device", "cpu") == 0
    with np.load(out) as data:
        assert data["tracks"].shape == (3, 2, 2) and data["visibility"].shape == (3, 2)
        np.testing.assert_allclose(data["tracks"][0], [[10.0, 20.0], [150.5, 99.0]], atol=1e-3)
        assert list(data["names"]) == ["00.png", "01.png", "02.png"]
    assert "2 point(s) over 3 frame(s)" in capsys.readouterr().out

    points_file = tmp_path / "points.txt"
    points_file.write_text("# x y\n10 20\n\n299,199  # bottom-right pixel\n")
    assert run("track", photos, "--points-file", points_file, "-o", out, "--model", model_dir, "--device", "cpu") == 0
    with np.load(out) as data:
        np.testing.assert_allclose(data["query_points"], [[10.0, 20.0], [299.0, 199.0]])


def test_track_bad_points(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photos = write_photos(tmp_path / "photos", (150, 200), count=2)  # portrait: crop mode loses top and bottom
    common = ["-o", tmp_path / "t.npz", "--model", model_dir, "--device", "cpu"]
    assert run("track", photos, "--points", "10,500", *common) == 2
    assert "outside the first image" in capsys.readouterr().err
    assert run("track", photos, "--points", "75,2", *common) == 2
    assert "use --mode pad" in capsys.readouterr().err
    assert run("track", photos, "--points", "75,2", *common, "--mode", "pad") == 0
    assert run("track", photos, *common) == 2
    assert "exactly one of --points" in capsys.readouterr().err
    assert run("track", photos, "--points", "1,2", "-o", tmp_path / "t.txt", "--model", model_dir) == 2
    assert ".npz" in capsys.readouterr().err


def test_parse_points() -> None:
    np.testing.assert_array_equal(parse_points("1,2; 3 4;"), [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(parse_points("# header\n5.5, 6\n\n7 8 # note\n"), [[5.5, 6.0], [7.0, 8.0]])
    for bad in ("", "1", "1,2,3", "a,b", "nan,1"):
        with pytest.raises(ValueError):
            parse_points(bad)


# ---------------------------------------------------------------------------------------------
# vggt-py info and the memory model


def test_info(model_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert run("info", "--model", model_dir, "--device", "cpu") == 0
    out = capsys.readouterr().out
    params = sum(p.numel() for p in sane_tiny_model().parameters())
    assert f"{params:,} (" in out
    assert "camera_head, depth_head, point_head, track_head" in out
    assert f"frames at {INFO_WIDTH}x{INFO_HEIGHT}" in out and "torch " + torch.__version__ in out
    assert "img_size 140" in out


def test_info_uncached_hub_model_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    assert run("info", "--model", "nobody/vggt-missing", "--offline", "--device", "cpu") == 0
    out = capsys.readouterr().out
    assert "not in the local cache" in out and "1,256,537,516" in out  # the VGGT-1B default architecture


def test_memory_model_known_values() -> None:
    config = VGGTConfig()  # VGGT-1B: P = 5 + 37 * 28 = 1041 tokens, 4 layers kept (4, 11, 17, 23)
    pixels = INFO_HEIGHT * INFO_WIDTH
    fp32 = estimate_memory(config, 1, num_params=1000)
    assert fp32.weights == 4000
    assert estimate_memory(config, 1, num_params=1000, compute_dtype=torch.bfloat16).weights == 6000
    assert fp32.heads_per_frame == 2 * 3 * pixels * 4 + 4 * 1041 * 2048 * 4 + 3 * 1041 * 1024 * 4 + 36 * pixels
    assert fp32.chunk_frames == 1
    assert estimate_memory(config, 20, num_params=1000, frames_chunk_size=8).chunk_frames == 8
    assert estimate_memory(config, 20, num_params=1000, frames_chunk_size=None).chunk_frames == 20
    # linear growth beyond the dense-head chunk
    totals = [estimate_memory(config, s, num_params=1000).total for s in (100, 101, 200, 201)]
    assert totals[1] - totals[0] == totals[3] - totals[2] > 0
    with pytest.raises(ValueError, match="multiples of the patch size"):
        estimate_memory(config, 1, 100, 100, num_params=1)
    with pytest.raises(ValueError, match="frames"):
        estimate_memory(config, -1, num_params=1)


def test_frames_that_fit_inverts_the_estimate(tiny_config: VGGTConfig) -> None:
    params = sum(p.numel() for p in VGGT(tiny_config).parameters())
    assert estimate_memory(tiny_config, 3).weights == params * 4  # parameter count from the config
    for available in (2**30, 2**32, 2**35):
        fit = frames_that_fit(tiny_config, available)
        assert fit >= 1
        assert estimate_memory(tiny_config, fit).total <= 0.9 * available < estimate_memory(tiny_config, fit + 1).total
    assert frames_that_fit(tiny_config, params * 4) == 0  # the weights alone take it all
    assert available_memory(torch.device("cpu")) > 0


def test_reconstruct_refine_and_consistent_filter(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photos = write_photos(tmp_path / "photos", (140, 112), 3)
    code = run("reconstruct", photos, "-o", tmp_path / "out", "--model", model_dir, "--formats", "npz,ply",
               "--refine", "--filter", "consistent")
    assert code == 0
    out = capsys.readouterr().out
    assert "bundle adjustment" in out and "multi-view consistent" in out
    assert (tmp_path / "out" / "reconstruction.npz").is_file()
