from __future__ import annotations

import numpy as np
import pytest

from vggt_py.data.synthetic import SceneConfig, generate_scene
from vggt_py.evaluation.baseline import evaluate_colmap_baseline, evaluate_scene_prediction


@pytest.fixture(scope="module")
def scene():
    return generate_scene(SceneConfig.preset("easy", num_frames=5, height=192, width=256), seed=3)


def test_unregistered_frames_count_as_failures(scene) -> None:
    perfect = evaluate_scene_prediction(scene.extrinsics.copy(), scene)
    assert perfect["camera/auc@30"] == pytest.approx(1.0)
    assert perfect["camera/registered_fraction"] == 1.0
    broken = scene.extrinsics.copy()
    broken[2] = np.nan  # 4 of the 10 pairs involve frame 2
    metrics = evaluate_scene_prediction(broken, scene)
    assert metrics["camera/registered_fraction"] == pytest.approx(0.8)
    assert metrics["camera/rra@30"] == pytest.approx(0.6)
    assert metrics["camera/auc@30"] == pytest.approx(0.6)


def test_colmap_baseline_on_easy_scene(scene) -> None:
    pytest.importorskip("pycolmap")
    metrics, result = evaluate_colmap_baseline(scene)
    assert result.registered.sum() >= 4
    assert metrics["camera/auc@30"] > 0.5
