"""``vggt-py info``, run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import sane_tiny_model
from vggt_py.cli import main

NOTICE = "facebook/VGGT-1B not used:"


def run(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


def test_info(model_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert run("info", "--model", model_dir, "--device", "cpu") == 0
    out = capsys.readouterr().out
    params = sum(p.numel() for p in sane_tiny_model().parameters())
    assert f"{params:,} (" in out
    assert "camera_head, depth_head, point_head, track_head" in out
    assert "torch " + torch.__version__ in out
    assert "img_size 140" in out and "frames at 140x112" in out  # the model's own size, not 518x392


def test_info_uncached_hub_model_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    assert run("info", "--model", "nobody/vggt-missing", "--offline", "--device", "cpu") == 0
    out = capsys.readouterr().out
    assert "not in the local cache" in out and "1,256,537,516" in out  # the VGGT-1B default architecture
    assert "frames at 518x392" in out


def test_info_shows_the_bundled_models(capsys: pytest.CaptureFixture) -> None:
    assert run("info", "--model", "bundled", "--device", "cpu") == 0
    out = capsys.readouterr().out
    assert "bundled models" in out and "bundled:small-synthetic at" in out
    (heads,) = [line for line in out.splitlines() if [c.strip() for c in line.split("│")][1:2] == ["heads"]]
    assert "camera_head, depth_head, point_head" in heads and "track_head" not in heads
    assert "img_size 224" in out and "frames at 224x168" in out and "518x392" not in out


def test_info_without_model_describes_what_would_run(hf_offline: None, capsys: pytest.CaptureFixture) -> None:
    assert run("info", "--device", "cpu") == 0
    out = capsys.readouterr().out
    assert "bundled:small-synthetic (used instead of the default, which is not available: HF_HUB_OFFLINE" in out
    assert "img_size 224" in out
