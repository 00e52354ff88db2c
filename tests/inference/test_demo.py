"""run_demo (vggt_py.inference.demo; the command is in tests/cli/test_demo.py): structure, finiteness and ranges, not quality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import check_metrics, sane_tiny_model
from vggt_py import VGGT, VGGTConfig
from vggt_py.data import SceneConfig, generate_scene, read_scene_folder
from vggt_py.inference.demo import (
    HELD_OUT_SEED_START,
    REPORT_NAME,
    TARGETS,
    DemoReport,
    Target,
    demo_image_size,
    run_demo,
)
from vggt_py.inference.export import load_npz


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


# ---------------------------------------------------------------------------------------------
# End to end


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
