"""Training data: scenes, frame selection, crop / resize with intrinsics, colour jitter, GT tracks,
normalisation, the batch sampler and the dataset."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vggt_py.data.datasets import (
    ArrayScene,
    AugmentConfig,
    DynamicBatchSampler,
    Frame,
    MultiViewDataset,
    SampleRequest,
    SceneCollection,
    SceneError,
    batch_image_size,
    color_jitter,
    covisibility_scores,
    crop_resize_frame,
    normalize_to_first_camera,
    sample_frames,
    tracks_from_depth,
)
from vggt_py.data.scene_folder import SceneFolderError, write_scene_folder
from vggt_py.data.synthetic import SceneConfig, generate_scene
from vggt_py.geometry import project_points


@pytest.fixture(scope="module")
def scene():
    return generate_scene(SceneConfig.preset("easy", num_frames=4, height=48, width=64, num_tracks=0), 3)


@pytest.fixture(scope="module")
def array_scene(scene) -> ArrayScene:
    return ArrayScene.from_synthetic(scene, "easy-3")


def _look_back(extrinsic: np.ndarray) -> np.ndarray:
    """The same camera centre, turned 180 degrees about its y axis."""
    flip = np.diag([-1.0, 1.0, -1.0])
    return np.concatenate([flip @ extrinsic[:, :3], (flip @ extrinsic[:, 3])[:, None]], axis=1)


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


# ------------------------------------------------------------------------------------ augmentation
class TestCropResize:
    def test_intrinsics_known_values(self):
        K = np.array([[50.0, 0, 30], [0, 50, 20], [0, 0, 1]])
        frame = Frame(np.zeros((40, 60, 3), np.uint8), np.ones((40, 60), np.float32), K, np.eye(3, 4))
        out = crop_resize_frame(frame, (20, 30))
        # scale = max(24/40, 34/60) = 0.6 -> 24 x 36; c' = (c + 0.5) 0.6 - 0.5 = (17.8, 11.8);
        # strict crop at (round(11.8 - 10), round(17.8 - 15)) = (2, 3).
        assert out.image.shape == (20, 30, 3) and out.depth.shape == (20, 30)
        assert np.allclose(out.intrinsics, [[30.0, 0, 14.8], [0, 30.0, 9.8], [0, 0, 1]])
        assert np.array_equal(out.extrinsics, np.eye(3, 4))

    def test_geometry_stays_consistent(self, scene):
        """Every output depth pixel unprojects (new K) to a point that projects (old K) onto a source
        pixel holding that very depth value: the intrinsics follow the crop and resize."""
        rng = np.random.default_rng(0)
        for i in range(scene.num_frames):
            frame = Frame(
                scene.images[i],
                np.where(scene.valid_masks[i], scene.depths[i], 0).astype(np.float32),
                scene.intrinsics[i].astype(np.float64),
                scene.extrinsics[i].astype(np.float64),
            )
            out = crop_resize_frame(frame, (28, 42), rng, AugmentConfig())
            assert abs(out.intrinsics[0, 2] - 21) <= 0.5 and abs(out.intrinsics[1, 2] - 14) <= 0.5
            rows, cols = np.nonzero(out.depth > 0)
            z = out.depth[rows, cols].astype(np.float64)
            rays = np.linalg.inv(out.intrinsics) @ np.stack([cols, rows, np.ones_like(cols)]).astype(np.float64)
            pixels = frame.intrinsics @ (rays * z)
            u, v = pixels[0] / pixels[2], pixels[1] / pixels[2]
            hits = np.zeros(z.size, dtype=bool)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    r = np.clip(np.round(v).astype(int) + dy, 0, 47)
                    c = np.clip(np.round(u).astype(int) + dx, 0, 63)
                    hits |= frame.depth[r, c] == out.depth[rows, cols]
            assert hits.mean() > 0.98

    def test_needs_an_rng_to_augment(self, scene):
        frame = Frame(scene.images[0], None, scene.intrinsics[0], scene.extrinsics[0])
        with pytest.raises(ValueError, match="needs an rng"):
            crop_resize_frame(frame, (14, 14), None, AugmentConfig())
        assert crop_resize_frame(frame, (14, 14)).depth.max() == 0  # no depth: all unknown


class TestColorJitter:
    def test_identity_when_disabled(self):
        images = np.random.default_rng(0).random((2, 5, 5, 3), dtype=np.float32)
        config = AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0, grayscale_prob=0)
        assert np.allclose(color_jitter(images, np.random.default_rng(1), config), images, atol=1e-5)

    def test_shared_and_independent_parameters(self):
        frame = np.random.default_rng(0).random((5, 5, 3), dtype=np.float32)
        images = np.stack([frame, frame])
        shared = color_jitter(images, np.random.default_rng(2), AugmentConfig(color_prob=1, shared_color_prob=1))
        assert np.array_equal(shared[0], shared[1]) and not np.allclose(shared[0], frame)
        independent = color_jitter(images, np.random.default_rng(2), AugmentConfig(color_prob=1, shared_color_prob=0))
        assert not np.allclose(independent[0], independent[1])
        assert 0 <= independent.min() and independent.max() <= 1

    def test_grayscale(self):
        images = np.random.default_rng(0).random((1, 4, 4, 3), dtype=np.float32)
        gray = color_jitter(images, np.random.default_rng(0), AugmentConfig(color_prob=0, grayscale_prob=1))
        assert np.allclose(gray[..., 0], gray[..., 1]) and np.allclose(gray[..., 1], gray[..., 2])
        assert np.allclose(gray[..., 0], images @ np.array([0.299, 0.587, 0.114], dtype=np.float32), atol=1e-6)

    def test_config_validation(self):
        with pytest.raises(ValueError, match="hue"):
            AugmentConfig(hue=0.7)
        with pytest.raises(ValueError, match="scale_range"):
            AugmentConfig(scale_range=(1.2, 0.8))
        with pytest.raises(ValueError, match="color_prob"):
            AugmentConfig(color_prob=1.5)
        with pytest.raises(ValueError, match=r"images must be \[S,H,W,3\]"):
            color_jitter(np.zeros((4, 4, 3)), np.random.default_rng(0), AugmentConfig())


# ------------------------------------------------------------------------------------------ tracks
class TestTracks:
    def test_tracks_follow_the_geometry(self, scene):
        depths = np.where(scene.valid_masks, scene.depths, 0).astype(np.float32)
        tracks, vis = tracks_from_depth(depths, scene.intrinsics, scene.extrinsics, 32, np.random.default_rng(0))
        assert tracks.shape == (4, 32, 2) and vis.shape == (4, 32)
        assert vis[0].all() and (vis[1:].sum(0) >= 1).all()
        query = tracks[0].astype(int)
        assert np.array_equal(query, tracks[0]) and (depths[0][query[:, 1], query[:, 0]] > 0).all()
        points = scene.world_points[0][query[:, 1], query[:, 0]]
        for i in range(1, 4):
            uv, _ = project_points(
                torch.from_numpy(points[None]).double(),
                torch.from_numpy(scene.intrinsics[i : i + 1]).double(),
                torch.from_numpy(scene.extrinsics[i : i + 1]).double(),
            )
            assert np.allclose(uv[0].numpy()[vis[i]], tracks[i][vis[i]], atol=1e-3)
            assert ((tracks[i][vis[i]] >= 4) & (tracks[i][vis[i]] <= np.array([59, 43]))).all()

    def test_occluded_and_padded(self, scene):
        depths = np.where(scene.valid_masks, scene.depths, 0).astype(np.float32)
        depths[2] = 0.05  # a wall in front of camera 2
        tracks, vis = tracks_from_depth(depths, scene.intrinsics, scene.extrinsics, 16, np.random.default_rng(0))
        assert not vis[2].any()
        tiny = np.zeros_like(depths)
        tiny[:, 10:12, 10:12] = depths[:, 10:12, 10:12]  # 4 candidate queries at most
        tracks, vis = tracks_from_depth(tiny, scene.intrinsics, scene.extrinsics, 16, np.random.default_rng(0))
        assert vis[0].sum() <= 4 and not vis[:, 4:].any() and not tracks[:, 4:].any()


# ----------------------------------------------------------------------------------- normalisation
class TestNormalization:
    def test_known_values(self):
        K = torch.tensor([[1.0, 0, 0.5], [0, 1, 0.5], [0, 0, 1]]).repeat(2, 1, 1)
        extrinsics = torch.eye(3, 4).repeat(2, 1, 1)
        extrinsics[1, 2, 3] = -1.0
        depths = torch.zeros(2, 2, 2)
        depths[0] = 2.0  # points (+-1, +-1, 2): |X| = sqrt(6)
        out = normalize_to_first_camera(extrinsics.double(), K.double(), depths.double())
        scale = 4 * math.sqrt(6) / (4 + 1e-3)
        assert out["scale"].item() == pytest.approx(scale)
        assert torch.allclose(out["depths"][0], torch.full((2, 2), 2 / scale, dtype=torch.float64))
        assert out["extrinsics"][1, 2, 3].item() == pytest.approx(-1 / scale)
        assert torch.equal(out["extrinsics"][0], torch.eye(3, 4, dtype=torch.float64))
        assert out["point_masks"].sum() == 4
        assert out["world_points"][0, 0, 0].tolist() == pytest.approx([-1 / scale, -1 / scale, 2 / scale])

    def test_independent_of_the_world_frame(self, scene):
        K = torch.from_numpy(scene.intrinsics).double()
        E = torch.from_numpy(scene.extrinsics).double()
        depths = torch.from_numpy(np.where(scene.valid_masks, scene.depths, 0)).double()
        angle = 0.7
        world_change = torch.tensor(
            [
                [math.cos(angle), -math.sin(angle), 0, 3.0],
                [math.sin(angle), math.cos(angle), 0, -1.0],
                [0, 0, 1, 0.5],
                [0, 0, 0, 1],
            ],
            dtype=torch.float64,
        )  # new world = T old world, so E' = E T^-1
        moved = E @ torch.linalg.inv(world_change)
        a = normalize_to_first_camera(E, K, depths)
        b = normalize_to_first_camera(moved, K, depths)
        for key in ("extrinsics", "depths", "world_points"):
            assert torch.allclose(a[key], b[key], atol=1e-6), key  # R^T vs R^-1 of float32-rounded R
        valid = a["point_masks"]
        assert (a["world_points"].norm(dim=-1)[valid]).mean().item() == pytest.approx(1.0, rel=1e-3)

    def test_batched_and_bad_shapes(self, scene):
        K = torch.from_numpy(scene.intrinsics).double()[None].repeat(2, 1, 1, 1)
        E = torch.from_numpy(scene.extrinsics).double()[None].repeat(2, 1, 1, 1)
        depths = torch.from_numpy(scene.depths).double()[None].repeat(2, 1, 1, 1)
        assert normalize_to_first_camera(E, K, depths)["scale"].shape == (2,)
        with pytest.raises(ValueError, match="depths"):
            normalize_to_first_camera(E, K, depths[:, :2])
        with pytest.raises(ValueError, match="extrinsics"):
            normalize_to_first_camera(K, K, depths)


# ----------------------------------------------------------------------------------------- batching
class TestBatchSampler:
    def test_batch_image_size(self):
        assert batch_image_size(0.5, 518, 14) == (252, 518)  # 259 -> 18 patches
        assert batch_image_size(2.0, 518, 14) == (518, 252)
        assert batch_image_size(1.0, 518, 14) == (518, 518)
        assert batch_image_size(0.01, 518, 14) == (14, 518)
        with pytest.raises(ValueError, match="aspect"):
            batch_image_size(0.0, 518, 14)

    def test_batches_share_shapes_and_visit_every_scene(self):
        sampler = DynamicBatchSampler(10, frames=(2, 6), aspect_range=(0.33, 1.0), max_side=140, images_per_batch=12)
        batches = list(sampler)
        assert len(batches) == len(sampler) == sampler.num_batches(0)
        seen = set()
        for batch in batches:
            frames, height, width = batch[0].num_frames, batch[0].height, batch[0].width
            assert all((r.num_frames, r.height, r.width) == (frames, height, width) for r in batch)
            assert len(batch) == max(1, 12 // frames)
            assert width == 140 and height % 14 == 0 and 0.33 * 140 - 14 <= height <= 140
            seen.update(r.scene for r in batch)
        assert seen == set(range(10))
        assert sum(len(b) for b in batches[:-1]) < 10  # no batch more than needed
        assert len({r.seed for b in batches for r in b}) == sum(len(b) for b in batches)

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
