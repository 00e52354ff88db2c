"""The default model and the bundled model in reconstruct / track / info (vggt_py.inference.commands)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vggt_py.cli import main
from vggt_py.inference import api
from vggt_py.inference.export import load_npz

NOTICE = "facebook/VGGT-1B not used:"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "240")  # rich tables on one line each, so substrings can be checked


@pytest.fixture
def hf_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HUB_OFFLINE=1 with an empty Hugging Face cache (HF_HOME in tmp_path)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_home" / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def run(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


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


def test_unknown_bundled_model(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run("reconstruct", photos, "-o", tmp_path / "out", "--model", "bundled:nope") == 2
    err = capsys.readouterr().err
    assert "--model bundled:nope" in err and "no bundled model named 'nope'; available: small-synthetic" in err


def test_info_shows_the_bundled_models(capsys: pytest.CaptureFixture) -> None:
    assert run("info", "--model", "bundled", "--device", "cpu") == 0
    out = capsys.readouterr().out
    assert "bundled models" in out and "bundled:small-synthetic at" in out
    (heads,) = [line for line in out.splitlines() if [c.strip() for c in line.split("│")][1:2] == ["heads"]]
    assert "camera_head, depth_head, point_head" in heads and "track_head" not in heads
    assert "img_size 224" in out


def test_info_without_model_describes_what_would_run(hf_offline: None, capsys: pytest.CaptureFixture) -> None:
    assert run("info", "--device", "cpu") == 0
    out = capsys.readouterr().out
    assert "bundled:small-synthetic (used instead of the default, which is not available: HF_HUB_OFFLINE" in out
    assert "img_size 224" in out
