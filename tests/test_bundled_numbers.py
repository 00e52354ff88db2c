"""The bundled model reproduces the numbers of its model card (eval.json) on the fixed held-out scene.

``benchmarks/bundled_model_eval.py`` wrote ``eval.json`` next to the weights; its ``fixed_scene`` entry is
the demo's default scene (seed ``DEFAULT_SEED``, default difficulty, 8 views at 224x168), scored through
the same path as ``vggt-py demo``. CPU fp32 inference is deterministic on one machine; the tolerances
below absorb BLAS differences between CPUs (a pose error moving across a 1-degree AUC bin, a depth value
in the last bits).
"""

from __future__ import annotations

import json
import math

import pytest

from vggt_py.bundled import bundled_model_dir
from vggt_py.inference.demo import DEFAULT_SEED, run_demo

# metric -> absolute tolerance
TOLERANCES = {
    "camera/auc@30": 0.02,
    "camera/auc@15": 0.02,
    "camera/rra@15": 0.04,  # 28 pairs: one pair is 0.036
    "camera/rta@15": 0.04,
    "depth/abs_rel": 0.005,
    "depth/delta<1.25": 0.01,
    "points/chamfer": 0.01,
}


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads((bundled_model_dir() / "eval.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo_metrics(tmp_path_factory: pytest.TempPathFactory, card: dict) -> dict[str, float]:
    fixed = card["fixed_scene"]
    out = tmp_path_factory.mktemp("demo")
    report = run_demo(out, seed=fixed["seed"], frames=fixed["frames"], difficulty=fixed["difficulty"], device="cpu")
    assert report.model == "bundled:small-synthetic"
    return report.metrics


def test_card_describes_the_demo_scene(card: dict) -> None:
    assert card["fixed_scene"]["seed"] == DEFAULT_SEED
    assert card["heldout"]["difficulty"] == "default"
    for name in ("trained", "untrained", "pycolmap"):
        assert name in card["mean"]


@pytest.mark.parametrize("metric", sorted(TOLERANCES))
def test_bundled_model_reproduces_card(card: dict, demo_metrics: dict[str, float], metric: str) -> None:
    expected = card["fixed_scene"]["metrics"][metric]
    got = demo_metrics[metric]
    assert math.isfinite(got)
    assert got == pytest.approx(expected, abs=TOLERANCES[metric]), f"{metric}: card {expected}, now {got}"


def test_trained_model_beats_untrained_twin(card: dict) -> None:
    """What training did learn (depth, the mean rotation) must show against the untrained twin; the card
    states that relative poses were not learned, so camera AUC is not compared."""
    trained, untrained = card["mean"]["trained"], card["mean"]["untrained"]
    assert trained["depth/abs_rel"] < 0.6 * untrained["depth/abs_rel"]
    assert trained["depth/delta<1.25"] > untrained["depth/delta<1.25"] + 0.2
    assert trained["camera/rra@15"] > untrained["camera/rra@15"] + 0.2
    assert trained["points/chamfer"] < 0.5 * untrained["points/chamfer"]
