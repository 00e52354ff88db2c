"""Frame selection by covisibility and the dynamic batch sampler."""

from __future__ import annotations

import numpy as np
import pytest

from vggt_py.data.sampling import DynamicBatchSampler, batch_image_size, covisibility_scores, sample_frames
from vggt_py.data.scene import ArrayScene


def _look_back(extrinsic: np.ndarray) -> np.ndarray:
    """The same camera centre, turned 180 degrees about its y axis."""
    flip = np.diag([-1.0, 1.0, -1.0])
    return np.concatenate([flip @ extrinsic[:, :3], (flip @ extrinsic[:, 3])[:, None]], axis=1)

# --------------------------------------------------------------------------------- frame selection
class TestFrameSelection:
    @pytest.fixture
    def scene_with_stranger(self, scene) -> ArrayScene:
        """Frames 0-2 of the synthetic scene plus frame 3: frame 0's camera turned to look backwards."""
        extrinsics = np.concatenate([scene.extrinsics[:3], _look_back(scene.extrinsics[0].astype(np.float64))[None]])
        depths = np.where(scene.valid_masks, scene.depths, 0)
        return ArrayScene("stranger", scene.images, scene.intrinsics, extrinsics, depths)

    def test_covisibility_scores(self, scene_with_stranger):
        scores = covisibility_scores(scene_with_stranger, anchor=0)
        assert scores[0] == 1.0
        assert scores[1] > 0.5 and scores[2] > 0.5
        assert scores[3] == 0.0
        with pytest.raises(ValueError, match="anchor"):
            covisibility_scores(scene_with_stranger, anchor=4)

    def test_occluded_points_do_not_count(self, scene):
        depths = np.where(scene.valid_masks, scene.depths, 0)
        depths[0] = 0.05  # a wall right in front of camera 0 hides everything the others see
        occluded = ArrayScene("wall", scene.images, scene.intrinsics, scene.extrinsics, depths)
        assert covisibility_scores(occluded, anchor=0)[1:].max() == 0.0

    def test_sampling_prefers_covisible_frames(self, scene_with_stranger):
        anchors = set()
        for seed in range(40):
            ids = sample_frames(scene_with_stranger, 3, np.random.default_rng(seed))
            anchors.add(int(ids[0]))
            if ids[0] == 3:  # nothing is covisible with the stranger: it is repeated
                assert ids.tolist() == [3, 3, 3]
            else:
                assert 3 not in ids and len(set(ids.tolist())) == 3
        assert anchors == {0, 1, 2, 3}
        uniform = [
            sample_frames(scene_with_stranger, 4, np.random.default_rng(s), covisibility=False) for s in range(5)
        ]
        assert all(sorted(ids.tolist()) == [0, 1, 2, 3] for ids in uniform)

    def test_more_frames_than_the_scene_has(self, array_scene):
        ids = sample_frames(array_scene, 7, np.random.default_rng(0))
        assert len(ids) == 7 and set(ids.tolist()) <= {0, 1, 2, 3}
        with pytest.raises(ValueError, match="num_frames"):
            sample_frames(array_scene, 0, np.random.default_rng(0))


# ----------------------------------------------------------------------------------------- batching
class TestBatchSampler:
    def test_batch_image_size(self):
        assert batch_image_size(0.5, 518, 14) == (252, 518)  # 259 -> 18 patches
        assert batch_image_size(2.0, 518, 14) == (518, 252)
        assert batch_image_size(1.0, 518, 14) == (518, 518)
        assert batch_image_size(0.01, 518, 14) == (14, 518)
        with pytest.raises(ValueError, match="aspect"):
            batch_image_size(0.0, 518, 14)

    def test_batches_share_shapes(self):
        sampler = DynamicBatchSampler(10, frames=(2, 6), aspect_range=(0.33, 1.0), max_side=140, images_per_batch=12)
        batches = list(sampler)
        assert len(batches) == len(sampler) == sampler.num_batches(0)
        for batch in batches:
            frames, height, width = batch[0].num_frames, batch[0].height, batch[0].width
            assert all((r.num_frames, r.height, r.width) == (frames, height, width) for r in batch)
            assert len(batch) == max(1, 12 // frames)
            assert width == 140 and height % 14 == 0 and 0.33 * 140 - 14 <= height <= 140
        assert len({r.seed for b in batches for r in b}) == sum(len(b) for b in batches)

    def test_one_frame_count_visits_every_scene_once(self):
        sampler = DynamicBatchSampler(10, frames=(3, 3), max_side=28, images_per_batch=12)  # 4 scenes a batch
        batches = list(sampler)
        assert len(batches) == 3 == sampler.pass_length()
        scenes = [r.scene for b in batches for r in b]
        assert set(scenes[:10]) == set(range(10)) and len(scenes) == 12  # the last batch is filled up

    def test_default_epoch_length_is_the_same_every_epoch(self):
        """Without batches_per_epoch, the epoch length no longer depends on the frame counts drawn (it
        varied from epoch to epoch: 1, then 3 steps for 4 scenes)."""
        sampler = DynamicBatchSampler(4, frames=(2, 24), max_side=28, images_per_batch=48, seed=0)
        # scenes per batch 48 // S for S = 2..24 average 5.52: one step covers the 4 scenes on average
        assert sampler.pass_length() == 1
        sampler = DynamicBatchSampler(4, frames=(2, 4), max_side=28, images_per_batch=4, seed=0)
        assert sampler.pass_length() == 3  # 2, 1, 1 scenes per batch: 4 / (4 / 3) = 3 batches
        lengths = []
        for epoch in range(12):
            sampler.set_epoch(epoch)
            lengths.append(len(list(sampler)))
            assert len(sampler) == sampler.num_batches(epoch) == lengths[-1]
        assert lengths == [3] * 12
        two = DynamicBatchSampler(9, frames=(2, 4), max_side=28, images_per_batch=4, num_replicas=2, rank=1)
        assert two.pass_length() == 4 and len(list(two)) == 4  # 9 / (2 * 4 / 3) = 3.4 -> 4

    def test_deterministic_per_epoch(self):
        make = lambda: DynamicBatchSampler(6, frames=(2, 3), max_side=28, images_per_batch=4, seed=3)
        a, b = make(), make()
        assert list(a) == list(b)
        b.set_epoch(1)
        assert list(a) != list(b)
        a.set_epoch(1)
        a.set_start_batch(2)
        assert list(a) == list(b)[2:] and len(a) == len(b) - 2

    def test_ranks_partition_the_global_batches(self):
        common = dict(frames=(2, 4), max_side=28, images_per_batch=4, batches_per_epoch=5, seed=1)
        ranks = [list(DynamicBatchSampler(9, num_replicas=2, rank=r, **common)) for r in range(2)]
        merged = [r0 + r1 for r0, r1 in zip(*ranks)]
        assert merged == DynamicBatchSampler(9, num_replicas=2, **common).global_batches(0)
        single = DynamicBatchSampler(9, **{**common, "images_per_batch": 8}).global_batches(0)
        assert merged == single  # the same global batches with one process and twice the images

    def test_fixed_epoch_length(self):
        sampler = DynamicBatchSampler(3, frames=(2, 2), max_side=28, images_per_batch=4, batches_per_epoch=7)
        assert len(list(sampler)) == 7 == len(sampler)

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"frames": (3, 2)}, "frames"),
            ({"max_side": 30}, "max_side"),
            ({"rank": 2, "num_replicas": 2}, "rank"),
            ({"images_per_batch": 0}, "images_per_batch"),
            ({"seed": -1}, "seed"),
        ],
    )
    def test_bad_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            DynamicBatchSampler(4, **kwargs)
