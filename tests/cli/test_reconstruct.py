"""``vggt-py reconstruct``, run in-process: formats, options, errors, out of memory, the default model."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import SHARED, sane_tiny_model, write_photos
from vggt_py.cli import common, main
from vggt_py.inference import api
from vggt_py.inference.export import load_npz, select_points

ROOM = SHARED / "examples" / "room" / "images"
needs_room = pytest.mark.skipif(not ROOM.is_dir(), reason="example photos not present")
NOTICE = "facebook/VGGT-1B not used:"


def run(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


@needs_room
def test_reconstruct_writes_every_format(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pycolmap = pytest.importorskip("pycolmap")
    out = tmp_path / "out"
    assert run("reconstruct", ROOM, "-o", out, "--model", model_dir, "--device", "cpu", "--offline") == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "points.ply",
        "reconstruction.npz",
        "report",
        "scene.glb",
        "sparse",
        "transforms.json",
        "vggt-export.json",
    ]
    assert (out / "report" / "report.html").is_file() and len(list((out / "report").glob("frame_*_photo.png"))) == 8
    sparse = pycolmap.Reconstruction(str(out / "sparse"))
    assert sparse.num_images() == 8
    rec = load_npz(out / "reconstruction.npz")
    assert len(rec) == 8 and rec.metadata["mode"] == "crop"
    kept = len(select_points(rec, conf_percentile=50))  # the default filter
    assert 0.4 < kept / rec.content_mask().sum() <= 0.6
    entry = json.loads((out / "vggt-export.json").read_text())["colmap"]  # multi-view tracks, or dense with a reason
    assert sparse.num_points3D() == entry["points"]
    if entry["points_kind"] == "tracks":
        assert sparse.compute_mean_track_length() == pytest.approx(entry["observations_per_point"]) and entry["points"]
        assert sparse.compute_mean_track_length() >= 2.0
        assert sparse.compute_mean_reprojection_error() == pytest.approx(entry["mean_reprojection_error"], rel=1e-3)
    else:
        assert entry["fallback_reason"] and sparse.num_points3D() == min(kept, 100_000)
    stdout = capsys.readouterr().out
    assert "points kept" in stdout and f"{kept:,} of" in stdout and "COLMAP points" in stdout
    assert "wrote colmap" in stdout and "1280 x 960 (7)" in stdout
    transforms = json.loads((out / "transforms.json").read_text())
    assert [(out / f["file_path"]).resolve() for f in transforms["frames"]] == sorted(ROOM.resolve().iterdir())
    assert transforms["ply_file_path"] == "points.ply"


def test_reconstruct_export_options(model_dir: Path, tmp_path: Path) -> None:
    pycolmap = pytest.importorskip("pycolmap")
    import trimesh

    photos = write_photos(tmp_path / "photos", (96, 72), count=3)
    out = tmp_path / "out"
    argv = ["reconstruct", photos, "-o", out, "--model", model_dir, "--device", "cpu"]
    assert run(*argv, "--formats", "colmap,transforms,glb", "--colmap-points", "dense", "--transforms-depth",
               "--glb-axes", "opencv") == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "depths", "points.ply", "scene.glb", "sparse", "transforms.json", "vggt-export.json"
    ]
    sparse = pycolmap.Reconstruction(str(out / "sparse"))
    assert sparse.compute_mean_track_length() == 1.0
    frames = json.loads((out / "transforms.json").read_text())["frames"]
    assert [np.load(out / f["depth_file_path"]).shape for f in frames] == [(72, 96)] * 3
    scene = trimesh.load(out / "scene.glb")
    assert (np.diag(scene.graph["camera_0000"][0][:3, :3]) > 0.9).all()  # frame 0 ~ the world: OpenCV axes kept
    assert run(*argv, "--formats", "colmap", "--colmap-max-error", "0", "--overwrite") == 2


def test_no_report(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photos = write_photos(tmp_path / "photos", (64, 48), count=2)
    base = ["reconstruct", photos, "--model", model_dir, "--device", "cpu"]
    assert run(*base, "-o", tmp_path / "a", "--formats", "npz,report", "--no-report") == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["reconstruction.npz", "vggt-export.json"]
    assert "Consistency checks" not in capsys.readouterr().err  # no report: the checks do not run
    assert run(*base, "-o", tmp_path / "b", "--formats", "report", "--no-report") == 2
    assert "--no-report leaves no format to write" in capsys.readouterr().err


def test_reconstruct_options(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photos = write_photos(tmp_path / "photos", (150, 200), count=5)
    out = tmp_path / "out"
    argv = ["reconstruct", photos, "-o", out, "--model", model_dir, "--device", "cpu", "--formats", "glb, npz"]
    argv += ["--mode", "pad", "--points", "head", "--conf-threshold", "0", "--max-frames", "3", "--chunk", "1"]
    assert run(*argv, "--dtype", "fp32") == 0
    assert sorted(p.name for p in out.iterdir()) == ["reconstruction.npz", "scene.glb", "vggt-export.json"]
    rec = load_npz(out / "reconstruction.npz")
    assert rec.names == ["00.png", "02.png", "04.png"]
    assert rec.point_source == "head" and rec.metadata["mode"] == "pad"
    import trimesh

    cloud = trimesh.load(out / "scene.glb").geometry["points"]
    assert len(cloud.vertices) == int(rec.content_mask().sum())  # threshold 0 keeps every content pixel
    # the inference bar counted the forward pass block by block (tiny: 2 + 4 + 4 blocks, 3 heads), not 0/1 -> 1/1
    assert re.search(r"Inference \(3 frames\)\s+\S+\s+13/13\b", capsys.readouterr().err)


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
    from vggt_py.inference.images import load_images
    from vggt_py.inference.memory import estimate_memory

    model = sane_tiny_model()
    batch = load_images(ROOM, target_size=140)  # 8 frames of 140x112
    weights = sum(p.numel() * 4 for p in model.parameters())
    for_frames = {s: estimate_memory(model.config, s, 112, 140, frames_chunk_size=8).total for s in (0, 3)}
    # available memory such that 3 of the 8 frames fit: the message must say so and suggest --max-frames 3
    monkeypatch.setattr(common, "available_memory", lambda device: int(for_frames[3] / 0.9) + 1 - weights)
    message = common.out_of_memory_message(model, torch.device("cpu"), batch, torch.float32, 8)
    assert "about 3 frame(s) probably fit" in message and "--max-frames 3" in message
    monkeypatch.setattr(common, "available_memory", lambda device: int(for_frames[0] / 0.9) - weights)
    message = common.out_of_memory_message(model, torch.device("cpu"), batch, torch.float32, 8)
    assert "even one frame probably does not fit" in message


def test_reconstruct_refine_and_consistent_filter(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photos = write_photos(tmp_path / "photos", (140, 112), 3)
    code = run("reconstruct", photos, "-o", tmp_path / "out", "--model", model_dir, "--formats", "npz,ply",
               "--refine", "--filter", "consistent")
    assert code == 0
    out = capsys.readouterr().out
    assert "bundle adjustment" in out and "multi-view consistent" in out
    assert (tmp_path / "out" / "reconstruction.npz").is_file()


def test_reconstruct_without_model_says_it_uses_the_bundled_model(
    hf_offline: None, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    assert run("reconstruct", photos, "-o", out, "--formats", "npz", "--device", "cpu") == 0
    captured = capsys.readouterr()
    (line,) = [text for text in captured.err.splitlines() if NOTICE in text]  # one line
    assert line.startswith("note: facebook/VGGT-1B not used: HF_HUB_OFFLINE is set")
    assert "bundled model small-synthetic" in line and "model card" in line and "hf download" in line
    assert "bundled:small-synthetic" in captured.out  # the summary's model row
    assert load_npz(out / "reconstruction.npz").model_name == "bundled:small-synthetic"


def test_model_bundled_is_silent(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    monkeypatch.setattr(api, "resolve_default_model", lambda **kwargs: pytest.fail("the default was consulted"))
    out = tmp_path / "out"
    assert run("reconstruct", photos, "-o", out, "--formats", "npz", "--model", "bundled", "--device", "cpu") == 0
    assert NOTICE not in capsys.readouterr().err
    assert load_npz(out / "reconstruction.npz").model_name == "bundled:small-synthetic"


def test_unknown_bundled_model(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run("reconstruct", photos, "-o", tmp_path / "out", "--model", "bundled:nope") == 2
    err = capsys.readouterr().err
    assert "--model bundled:nope" in err and "no bundled model named 'nope'; available: small-synthetic" in err


def _rejecting_refine(calls: list[dict]):
    """A stand-in for refine() whose adjustment ran and was rejected (records its keyword arguments)."""
    from vggt_py.inference.refine import FrameRefinement, RefineReport, RefineResult

    def fake(rec, **kwargs):
        calls.append(kwargs)
        frames = [FrameRefinement(i, str(name), 10, False) for i, name in enumerate(rec.names)]
        report = RefineReport(
            refined=False, message="kept the feed-forward result: rejected", track_source="point_map", frames=frames,
            accepted=False, rejection_reason="the solver did not converge (termination NO_CONVERGENCE)",
            solver={"termination": "NO_CONVERGENCE", "iterations": 101, "usable": True},
        )
        return RefineResult(reconstruction=rec, colmap_model=None, report=report)

    return fake


@pytest.mark.parametrize("strict", [False, True])
def test_rejected_refinement_is_reported_and_strict_fails(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, strict: bool
) -> None:
    import importlib

    calls: list[dict] = []
    monkeypatch.setattr(importlib.import_module("vggt_py.inference.refine"), "refine", _rejecting_refine(calls))
    photos = write_photos(tmp_path / "photos", (140, 112), 3)
    argv = ["reconstruct", photos, "-o", tmp_path / "out", "--model", model_dir, "--formats", "npz", "--refine"]
    code = run(*argv, *(["--strict"] if strict else []))
    assert code == (1 if strict else 0)
    captured = capsys.readouterr()
    text = " ".join(captured.out.split())  # the table may wrap
    assert "solver NO_CONVERGENCE after 101 iterations" in text and "rejected: the solver did not converge" in text
    assert "inf px" not in text and "refined (" not in text
    assert ("--strict" in captured.err) is strict
    assert (tmp_path / "out" / "reconstruction.npz").is_file()  # the feed-forward result is still written
    assert calls == [{"refine_focal_length": True, "shared_camera": True, "camera_model": "SIMPLE_PINHOLE"}]


def test_refine_intrinsics_option(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    calls: list[dict] = []
    monkeypatch.setattr(importlib.import_module("vggt_py.inference.refine"), "refine", _rejecting_refine(calls))
    photos = write_photos(tmp_path / "photos", (140, 112), 2)
    for choice in ("none", "per-frame"):
        argv = ["reconstruct", photos, "-o", tmp_path / choice, "--model", model_dir, "--formats", "npz"]
        assert run(*argv, "--refine", "--refine-intrinsics", choice) == 0
    assert calls == [
        {"refine_focal_length": False, "shared_camera": False, "camera_model": "PINHOLE"},
        {"refine_focal_length": True, "shared_camera": False, "camera_model": "PINHOLE"},
    ]
    with pytest.raises(SystemExit) as exit_info:
        run("reconstruct", photos, "-o", tmp_path / "bad", "--refine-intrinsics", "all")
    assert exit_info.value.code == 2 and "invalid choice: 'all'" in capsys.readouterr().err


def test_refine_on_copies_of_one_photo_is_declined(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("pycolmap")
    import shutil

    photos = write_photos(tmp_path / "photos", (140, 112), 1)
    for i in range(1, 4):
        shutil.copy(photos / "00.png", photos / f"{i:02d}.png")
    argv = ["reconstruct", photos, "-o", tmp_path / "out", "--model", model_dir, "--formats", "npz", "--refine"]
    assert run(*argv, "--strict") == 1
    text = " ".join(capsys.readouterr().out.split())
    assert "bundle adjustment" in text and "refined (" not in text
    assert "rejected:" in text or "not refined:" in text


def test_rerun_into_an_export_needs_overwrite_and_replaces_it_whole(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    photos = write_photos(tmp_path / "photos", (150, 200), count=2)
    out = tmp_path / "out"
    argv = ["reconstruct", photos, "-o", out, "--model", model_dir, "--device", "cpu"]
    assert run(*argv, "--formats", "glb,npz") == 0
    (out / "consistency.json").write_text("{}")  # `vggt-py check` of the first run
    capsys.readouterr()
    assert run(*argv, "--formats", "npz") == 2
    err = capsys.readouterr().err
    assert "already holds the export of run" in err and "--overwrite" in err and "Traceback" not in err
    assert run(*argv, "--formats", "npz", "--overwrite") == 0
    assert sorted(p.name for p in out.iterdir()) == ["reconstruction.npz", "vggt-export.json"]


def test_output_under_a_file_or_read_only(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photos = write_photos(tmp_path / "photos", (150, 200), count=2)
    (tmp_path / "file").write_text("x")
    argv = ["reconstruct", photos, "--model", model_dir, "--device", "cpu", "-o"]
    assert run(*argv, tmp_path / "file" / "out") == 2
    assert "is a file" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert run(*argv, locked) == 2
        assert "cannot write into the output folder" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)
