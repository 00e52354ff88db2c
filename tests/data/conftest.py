"""Shared fixtures of the training-data tests: one small synthetic scene."""

from __future__ import annotations

import pytest

from vggt_py.data.scene import ArrayScene
from vggt_py.data.synthetic import SceneConfig, generate_scene


@pytest.fixture(scope="module")
def scene():
    return generate_scene(SceneConfig.preset("easy", num_frames=4, height=48, width=64, num_tracks=0), 3)


@pytest.fixture(scope="module")
def array_scene(scene) -> ArrayScene:
    return ArrayScene.from_synthetic(scene, "easy-3")
