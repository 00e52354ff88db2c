"""``vggt-py demo``, run in-process: the bundled model end to end, the output folder, argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trimesh

from helpers import check_metrics, sane_tiny_model
from vggt_py.cli import main
from vggt_py.data import read_scene_folder
from vggt_py.inference.demo import DEFAULT_SEED, REPORT_NAME
from vggt_py.inference.export import load_npz

OUTPUTS = ["reconstruction.npz", "report.json", "scene", "scene.glb", "vggt-export.json"]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    sane_tiny_model(img_size=56).save_pretrained(folder)
    return folder


def run(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


def test_demo_command_with_the_bundled_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "demo"
    assert run("demo", "--out", out, "--device", "cpu") == 0
    assert sorted(p.name for p in out.iterdir()) == OUTPUTS

    report = json.loads((out / REPORT_NAME).read_text())
    assert report["format"] == "vggt-py-demo" and report["model"] == "bundled:small-synthetic"
    assert report["scene"] == {
        "seed": DEFAULT_SEED,
        "held_out": True,
        "difficulty": "default",
        "num_frames": 8,
        "width": 224,
        "height": 168,
    }
    check_metrics(report["metrics"])
    assert report["metrics"]["depth/valid_pixels"] == 8 * 168 * 224  # closed room: every pixel has depth
    assert [t["metric"] for t in report["targets"]] == ["camera/auc@30", "depth/abs_rel"]
    assert all(isinstance(t["met"], bool) for t in report["targets"])
    consistency = report["consistency"]
    assert consistency["num_frames"] == 8 and consistency["checks"]
    assert {frame["verdict"] for frame in consistency["frames"]} <= {"ok", "suspect"}
    assert report["files"] == {
        "scene": "scene",
        "glb": "scene.glb",
        "npz": "reconstruction.npz",
        "report": "report.json",
    }
    assert set(report["timings"]) == {"model", "scene", "inference", "evaluation", "consistency", "export", "total"}

    rec = load_npz(out / "reconstruction.npz")
    assert len(rec) == 8 and rec.image_size == (168, 224) and rec.model_name == "bundled:small-synthetic"
    glb = trimesh.load(out / "scene.glb")
    assert len(glb.geometry["points"].vertices) > 0
    assert sum(name.startswith("camera_") for name in glb.geometry) == 8
    scene = read_scene_folder(out / "scene")
    assert scene.images.shape == (8, 168, 224, 3)

    stdout = capsys.readouterr().out
    assert "held-out synthetic scene 1001000" in stdout
    assert "camera AUC@30" in stdout and ">= 0.6" in stdout and "depth AbsRel" in stdout and "<= 0.15" in stdout
    assert "consistency:" in stdout and "of 8 frames consistent" in stdout and "wrote glb" in stdout


def test_demo_refuses_a_non_empty_out(tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    argv = ("demo", "--out", out, "--model", tiny_dir, "--frames", "2", "--device", "cpu")
    assert run(*argv) == 2
    assert "is not empty" in capsys.readouterr().err and not (out / REPORT_NAME).exists()
    assert run(*argv, "--overwrite") == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUTS, "keep.txt"])
    assert (out / "keep.txt").read_text() == "mine"
    assert json.loads((out / REPORT_NAME).read_text())["model"] == str(tiny_dir)


def test_demo_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "demo"
    assert run("demo", "--out", out, "--seed", "42") == 2
    assert "--seed must be an integer >= 1_000_000" in capsys.readouterr().err
    assert run("demo", "--out", out, "--frames", "1") == 2
    assert "--frames must be an integer >= 2" in capsys.readouterr().err
    assert run("demo", "--out", out, "--model", "bundled:nope") == 2
    assert "no bundled model named 'nope'" in capsys.readouterr().err
    assert not out.exists()  # nothing is created before the model loads
    (tmp_path / "file").write_text("x")
    assert run("demo", "--out", tmp_path / "file") == 2
    assert "is not a folder" in capsys.readouterr().err
