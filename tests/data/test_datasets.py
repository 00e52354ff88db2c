"""The multi-view dataset: one sample assembled from scenes, frames, augmentation, tracks and normalisation."""

from __future__ import annotations

import pytest
import torch

from vggt_py.data.augment import AugmentConfig
from vggt_py.data.collection import SceneCollection
from vggt_py.data.datasets import MultiViewDataset
from vggt_py.data.sampling import DynamicBatchSampler, SampleRequest
from vggt_py.data.scene_folder import SceneFolderError, write_scene_folder
from vggt_py.data.synthetic import SceneConfig
from vggt_py.geometry import project_points


# ------------------------------------------------------------------------------------------ dataset
class TestDataset:
    @pytest.fixture(scope="class")
    def dataset(self) -> MultiViewDataset:
        scenes = SceneCollection.synthetic(SceneConfig.preset("easy", num_frames=4, height=48, width=64), 2)
        return MultiViewDataset(scenes, augment=AugmentConfig(), num_tracks=8)

    def test_sample(self, dataset):
        sample = dataset[SampleRequest(scene=1, num_frames=3, height=28, width=42, seed=7)]
        shapes = {k: tuple(v.shape) for k, v in sample.items() if isinstance(v, torch.Tensor)}
        assert shapes == {
            "images": (3, 3, 28, 42),
            "depths": (3, 28, 42),
            "intrinsics": (3, 3, 3),
            "extrinsics": (3, 3, 4),
            "world_points": (3, 28, 42, 3),
            "point_masks": (3, 28, 42),
            "scale": (),
            "frame_ids": (3,),
            "tracks": (3, 8, 2),
            "track_visibility": (3, 8),
        }
        assert sample["scene"] == "synthetic-000001"
        assert sample["images"].dtype == torch.float32 and 0 <= sample["images"].min() <= sample["images"].max() <= 1
        assert torch.equal(sample["extrinsics"][0], torch.eye(3, 4))
        norms = sample["world_points"].norm(dim=-1)[sample["point_masks"]]
        assert norms.mean().item() == pytest.approx(1.0, rel=1e-3)
        _, z = project_points(
            sample["world_points"][1][sample["point_masks"][1]][None].double(),
            sample["intrinsics"][1:2].double(),
            sample["extrinsics"][1:2].double(),
        )
        assert torch.allclose(z[0].float(), sample["depths"][1][sample["point_masks"][1]], rtol=1e-4)

    def test_samples_are_reproducible(self, dataset):
        request = SampleRequest(0, 2, 28, 28, seed=11)
        a, b = dataset[request], dataset[request]
        assert all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))
        c = dataset[request._replace(seed=12)]
        assert not torch.equal(a["images"], c["images"])

    def test_integer_index_and_errors(self, dataset):
        small = MultiViewDataset(dataset.scenes, default_frames=2, default_size=(28, 28))
        assert small[1]["images"].shape == (2, 3, 28, 28)
        with pytest.raises(IndexError):
            small[5]
        with pytest.raises(ValueError, match="SampleRequest or an int"):
            small["0"]
        with pytest.raises(ValueError, match="num_tracks"):
            MultiViewDataset(dataset.scenes, num_tracks=-1)

    def test_depth_percentile(self, dataset):
        request = SampleRequest(0, 2, 28, 28, seed=0)
        keep_all = MultiViewDataset(dataset.scenes, depth_percentile=None)[request]["point_masks"].float().mean()
        clipped = MultiViewDataset(dataset.scenes, depth_percentile=80.0)[request]["point_masks"].float().mean()
        assert clipped < keep_all * 0.9

    def test_loader_collates_batches(self, dataset):
        sampler = DynamicBatchSampler(len(dataset), frames=(2, 3), max_side=28, images_per_batch=6)
        batch = next(iter(torch.utils.data.DataLoader(dataset, batch_sampler=sampler)))
        frames = batch["images"].shape[1]
        assert batch["images"].shape[0] == 6 // frames and len(batch["scene"]) == 6 // frames

    def test_scene_folders_and_broken_ones(self, scene, tmp_path):
        for name in ("a", "b"):
            write_scene_folder(scene, tmp_path / name)
        scenes = SceneCollection.from_path(tmp_path)
        scenes.validate()
        dataset = MultiViewDataset(scenes)
        assert dataset[SampleRequest(1, 2, 28, 28, 0)]["images"].shape == (2, 3, 28, 28)
        (tmp_path / "b" / "images" / "000002.png").unlink()
        with pytest.raises(SceneFolderError, match=r"b.*images/000002.png.*missing image"):
            SceneCollection.from_path(tmp_path).validate()
