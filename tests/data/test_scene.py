"""Scene types (ArrayScene, Frame, SceneError) and scene collections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vggt_py.data.collection import SceneCollection
from vggt_py.data.scene import ArrayScene, SceneError
from vggt_py.data.scene_folder import write_scene_folder
from vggt_py.data.synthetic import SceneConfig


# ------------------------------------------------------------------------------------------ scenes
class TestScenes:
    def test_array_scene_validation(self, scene):
        with pytest.raises(SceneError, match="scene 'x': images must be uint8"):
            ArrayScene("x", scene.images.astype(np.float32), scene.intrinsics, scene.extrinsics)
        with pytest.raises(SceneError, match="4 images but 3 cameras"):
            ArrayScene("x", scene.images, scene.intrinsics[:3], scene.extrinsics[:3])
        bad = scene.extrinsics.copy()
        bad[1, 0, 0] = np.nan
        with pytest.raises(SceneError, match="NaN or infinite"):
            ArrayScene("x", scene.images, scene.intrinsics, bad)
        with pytest.raises(SceneError, match="depths must be"):
            ArrayScene("x", scene.images, scene.intrinsics, scene.extrinsics, scene.depths[:, :10])

    def test_array_scene_frames(self, array_scene, scene):
        frame = array_scene.load_frame(2)
        assert np.array_equal(frame.image, scene.images[2])
        assert np.allclose(frame.depth, np.where(scene.valid_masks[2], scene.depths[2], 0))
        assert array_scene.num_frames == 4 and array_scene.image_size(0) == (48, 64) and array_scene.has_depth

    def test_synthetic_collection(self):
        scenes = SceneCollection.synthetic(SceneConfig.preset("easy", num_frames=2, height=20, width=20), 3, seed=5)
        assert len(scenes) == 3 and scenes.name(1) == "synthetic-000006"
        assert scenes.open(0).num_frames == 2
        assert len(scenes + scenes) == 6
        with pytest.raises(ValueError, match="num_scenes"):
            SceneCollection.synthetic(SceneConfig(), 0)

    def test_collection_from_path(self, scene, tmp_path):
        write_scene_folder(scene, tmp_path / "b_scene")
        (tmp_path / "a_colmap" / "sparse").mkdir(parents=True)
        (tmp_path / "not_a_scene").mkdir()
        found = SceneCollection.from_path(tmp_path)
        assert [Path(found.name(i)).name for i in range(len(found))] == ["a_colmap", "b_scene"]
        assert len(SceneCollection.from_path(tmp_path, kind="folder")) == 1
        assert len(SceneCollection.from_path(tmp_path / "b_scene")) == 1  # a scene itself
        assert SceneCollection.from_path(tmp_path / "b_scene").open(0).num_frames == 4
        with pytest.raises(ValueError, match="no scenes found"):
            SceneCollection.from_path(tmp_path / "not_a_scene")
        with pytest.raises(ValueError, match="is not a folder"):
            SceneCollection.from_path(tmp_path / "missing")
        with pytest.raises(ValueError, match="kind must be"):
            SceneCollection.from_path(tmp_path, kind="ply")
