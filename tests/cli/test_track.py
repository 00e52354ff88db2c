"""``vggt-py track``, run in-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import write_photos
from vggt_py.cli import main

NOTICE = "facebook/VGGT-1B not used:"


def run(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


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


@pytest.mark.parametrize("model_args", [("--model", "bundled"), ()], ids=["explicit", "fallback"])
def test_track_with_the_bundled_model_explains(
    hf_offline: None, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture, model_args: tuple[str, ...]
) -> None:
    code = run("track", photos, "--points", "10,10", "-o", tmp_path / "t.npz", "--device", "cpu", *model_args)
    assert code == 2
    err = capsys.readouterr().err
    assert "error: the bundled model small-synthetic has no track head" in err
    assert "use --model facebook/VGGT-1B" in err
    assert (NOTICE in err) == (not model_args)
    assert not (tmp_path / "t.npz").exists()
