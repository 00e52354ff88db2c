"""``vggt-py synth``: writes readable scene folders, reports errors a person can act on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vggt_py.cli import build_parser, main
from vggt_py.data.scene_folder import read_scene_folder

ARGS = ["--frames", "2", "--height", "28", "--width", "42", "--tracks", "5", "--objects", "3"]


def test_synth_writes_scene_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["synth", str(out), *ARGS, "--num-scenes", "2", "--seed", "7"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["scene_000000", "scene_000001"]
    first, second = (read_scene_folder(out / name) for name in ("scene_000000", "scene_000001"))
    assert first.images.shape == (2, 28, 42, 3) and first.tracks.shape == (2, 5, 2)
    assert not np.array_equal(first.images, second.images)  # seeds 7 and 8
    assert "wrote 2 scene(s)" in capsys.readouterr().out


def test_synth_options_reach_the_config(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [*ARGS, "--difficulty", "hard", "--trajectory", "forward", "--baseline", "0.5", "--depth-format", "png16"]
    assert main(["synth", str(out), *args]) == 0
    assert (out / "scene_000000" / "depth" / "000000.png").is_file()
    scene = read_scene_folder(out / "scene_000000")
    centers = [-e[:, :3].T @ e[:, 3] for e in scene.extrinsics.astype(np.float64)]
    np.testing.assert_allclose(np.linalg.norm(centers[1][:2] - centers[0][:2]), 0.5, rtol=1e-4)


def test_synth_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["synth", str(out), *ARGS]) == 0
    assert main(["synth", str(out), *ARGS]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["synth", str(out), *ARGS, "--overwrite", "--seed", "3"]) == 0


def test_synth_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", str(tmp_path / "a"), "--frames", "0"]) == 2
    assert "num_frames" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "b"), "--num-scenes", "0"]) == 2
    (tmp_path / "file").write_text("x")
    assert main(["synth", str(tmp_path / "file"), *ARGS]) == 2
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["synth", str(tmp_path), "--difficulty", "impossible"])
