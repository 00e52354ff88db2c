"""``vggt-py demo`` and run_demo (vggt_py.inference.demo): structure, finiteness and ranges, not quality."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import trimesh

from helpers import sane_tiny_model
from vggt_py import VGGT, VGGTConfig
from vggt_py.cli import main
from vggt_py.data import SceneConfig, generate_scene, read_scene_folder
from vggt_py.inference.demo import (
    DEFAULT_SEED,
    HELD_OUT_SEED_START,
    REPORT_NAME,
    TARGETS,
    DemoReport,
    Target,
    demo_image_size,
    run_demo,
)
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


def check_metrics(metrics: dict[str, float | None]) -> None:
    """Finite values in their ranges (no quality bar: the bundled weights may be a placeholder)."""
    for key in ("camera/auc@30", "camera/auc@15", "camera/auc@5", "camera/rra@15", "camera/rta@15"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert 0.0 <= metrics["depth/delta<1.25"] <= 1.0 and metrics["depth/abs_rel"] >= 0.0
    for group in ("points", "points_head"):
        assert metrics[f"{group}/chamfer"] == pytest.approx(
            0.5 * (metrics[f"{group}/accuracy"] + metrics[f"{group}/completeness"])
        )
    assert all(value is not None and math.isfinite(value) for value in metrics.values())


# ---------------------------------------------------------------------------------------------
# End to end


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


def test_run_demo_with_a_model_object(tmp_path: Path) -> None:
    seed = HELD_OUT_SEED_START + 5
    stages: list[str] = []
    report = run_demo(
        tmp_path / "demo",
        model=sane_tiny_model(img_size=56),
        seed=seed,
        frames=3,
        difficulty="easy",
        device="cpu",
        progress=stages.append,
    )
    assert isinstance(report, DemoReport)
    assert report.model == "VGGT object" and report.image_size == (56, 42) and report.num_frames == 3
    assert report.device == "cpu" and report.dtype == "float32" and len(stages) == 6
    check_metrics(report.metrics)
    assert len(report.consistency.frames) == 3
    assert report.files["report"] == tmp_path / "demo" / REPORT_NAME
    assert json.loads(report.files["report"].read_text()) == json.loads(
        json.dumps(report.to_dict(relative_to=tmp_path / "demo"))
    )
    assert report.targets_met == all(result["met"] for result in report.target_results())
    # the ground truth on disk is the held-out scene of that seed, at the model's input size
    expected = generate_scene(SceneConfig.preset("easy", num_frames=3, height=42, width=56, num_tracks=0), seed)
    scene = read_scene_folder(report.files["scene"])
    np.testing.assert_array_equal(scene.images, expected.images)
    np.testing.assert_allclose(scene.extrinsics, expected.extrinsics)
    rec = load_npz(report.files["npz"])
    assert rec.depth.shape == scene.depths.shape  # one pixel grid for prediction and ground truth
    np.testing.assert_array_equal(rec.colors, scene.images)  # the model saw the rendered pixels unresampled
    assert rec.model_name is None  # a model object has no name to record


# ---------------------------------------------------------------------------------------------
# Output folder and arguments


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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": HELD_OUT_SEED_START - 1}, "seed must be an integer >= 1_000_000"),
        ({"seed": True}, "seed must be an integer"),
        ({"frames": 1}, "frames must be an integer >= 2"),
        ({"difficulty": "medium"}, "difficulty must be one of"),
    ],
)
def test_run_demo_rejects_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_demo(tmp_path / "demo", **kwargs)
    assert not (tmp_path / "demo").exists()


def test_run_demo_needs_camera_and_depth_heads(tmp_path: Path) -> None:
    config = VGGTConfig.from_preset("tiny").replace(img_size=56)
    config.depth_head.enabled = False
    with pytest.raises(ValueError, match="needs a model with camera and depth heads"):
        run_demo(tmp_path / "demo", model=VGGT(config), device="cpu")


# ---------------------------------------------------------------------------------------------
# Pieces


@pytest.mark.parametrize(
    ("img_size", "patch", "expected"),
    [(224, 14, (224, 168)), (518, 14, (518, 392)), (140, 14, (140, 112)), (56, 14, (56, 42)), (14, 14, (14, 14))],
)
def test_demo_image_size(img_size: int, patch: int, expected: tuple[int, int]) -> None:
    assert demo_image_size(img_size, patch) == expected


@pytest.mark.parametrize(("img_size", "patch"), [(100, 14), (0, 14), (14, 0), (7, 14)])
def test_demo_image_size_rejects_bad_sizes(img_size: int, patch: int) -> None:
    with pytest.raises(ValueError, match="multiple of patch_size"):
        demo_image_size(img_size, patch)


def test_targets() -> None:
    assert TARGETS == (Target("camera/auc@30", ">=", 0.6), Target("depth/abs_rel", "<=", 0.15))
    at_least, at_most = TARGETS
    assert at_least.met(0.6) is True and at_least.met(0.59) is False
    assert at_most.met(0.15) is True and at_most.met(0.2) is False
    assert at_least.met(float("nan")) is None and at_most.met(None) is None
