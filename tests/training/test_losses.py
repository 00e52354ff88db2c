"""Training losses: known values, masking, reduction per scene, gradients, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from vggt_py.geometry import extri_intri_to_pose_encoding
from vggt_py.training.losses import (
    LossConfig,
    VGGTLoss,
    camera_loss,
    confidence_regression_loss,
    fix_non_finite,
    gradient_loss,
    normal_loss,
    point_normals,
    quantile_filtered_mean,
    track_loss,
)

HW = (100, 100)


def _cameras(batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Two frames: identity and a 1-unit x translation; f = 50 px on 100 x 100 images (fov = 90 deg)."""
    extrinsics = torch.eye(3, 4).repeat(batch, 2, 1, 1)
    extrinsics[:, 1, 0, 3] = 1.0
    intrinsics = torch.tensor([[50.0, 0, 50], [0, 50, 50], [0, 0, 1]]).repeat(batch, 2, 1, 1)
    return extrinsics, intrinsics


def _perturbed(gt: torch.Tensor) -> torch.Tensor:
    pred = gt.clone()
    pred[:, 1, 0] += 0.3  # translation x of frame 1
    pred[:, 0, 3] += 0.1  # quaternion x of frame 0
    pred[:, 1, 7:] += 0.2  # both fields of view of frame 1
    return pred


class TestHelpers:
    def test_fix_non_finite(self):
        x = torch.tensor([float("nan"), float("inf"), -float("inf"), 250.0, -3.0])
        assert fix_non_finite(x).tolist() == [0.0, 0.0, 0.0, 100.0, -3.0]

    def test_quantile_filter_known_values(self):
        # 2000 values in [0, 1): k = round(0.98 * 1999) + 1 = 1960, threshold = 1959/2000, 1959 kept.
        values = torch.arange(2000, dtype=torch.float64) / 2000
        assert quantile_filtered_mean(values, 0.98).item() == pytest.approx(979 / 2000)
        # Clamped at 100, almost everything equals the threshold: too few survive, all are kept (clamped).
        big = torch.arange(2000, dtype=torch.float64)
        assert quantile_filtered_mean(big, 0.98).item() == pytest.approx((4950 + 100 * 1900) / 2000)

    def test_quantile_filter_small_input_is_plain_mean(self):
        values = torch.tensor([1.0, 2.0, 300.0])
        assert quantile_filtered_mean(values, 0.5).item() == pytest.approx(101.0)
        with pytest.raises(ValueError, match="no values"):
            quantile_filtered_mean(torch.zeros(0), 0.98)


class TestCameraLoss:
    def test_known_values(self):
        extrinsics, intrinsics = _cameras()
        gt = extri_intri_to_pose_encoding(extrinsics, intrinsics, HW)
        assert gt[0, 0, 7:].tolist() == pytest.approx([math.pi / 2] * 2)
        out = camera_loss([_perturbed(gt)], extrinsics, intrinsics, HW)
        assert out["loss_T"].item() == pytest.approx(0.3 / 6)
        assert out["loss_R"].item() == pytest.approx(0.1 / 8)
        assert out["loss_FL"].item() == pytest.approx(0.4 / 4)
        assert out["loss_camera"].item() == pytest.approx(0.05 + 0.0125 + 0.5 * 0.1)

    def test_translation_weight(self):
        extrinsics, intrinsics = _cameras()
        pred = _perturbed(extri_intri_to_pose_encoding(extrinsics, intrinsics, HW))
        out = camera_loss([pred], extrinsics, intrinsics, HW, translation_weight=10.0)
        assert out["loss_T"].item() == pytest.approx(0.3 / 6)  # the logged part itself is unweighted
        assert out["loss_camera"].item() == pytest.approx(10 * 0.05 + 0.0125 + 0.5 * 0.1)
        with pytest.raises(ValueError, match="camera_translation_weight"):
            LossConfig(camera_translation_weight=-1.0)

    def test_stage_weights(self):
        extrinsics, intrinsics = _cameras()
        pred = _perturbed(extri_intri_to_pose_encoding(extrinsics, intrinsics, HW))
        out = camera_loss([pred, pred], extrinsics, intrinsics, HW, stage_gamma=0.6)
        assert out["loss_camera"].item() == pytest.approx((0.6 + 1.0) / 2 * 0.1125)
        exact = extri_intri_to_pose_encoding(extrinsics, intrinsics, HW)
        only_first = camera_loss([pred, exact], extrinsics, intrinsics, HW, stage_gamma=0.6)
        assert only_first["loss_camera"].item() == pytest.approx(0.6 / 2 * 0.1125)

    def test_invalid_scenes_are_ignored(self):
        extrinsics, intrinsics = _cameras(batch=2)
        pred = _perturbed(extri_intri_to_pose_encoding(extrinsics, intrinsics, HW))
        pred[1] += 50.0
        valid = torch.tensor([True, False])
        out = camera_loss([pred], extrinsics, intrinsics, HW, valid)
        assert out["loss_camera"].item() == pytest.approx(0.1125)
        none = camera_loss([pred.requires_grad_()], extrinsics, intrinsics, HW, torch.tensor([False, False]))
        assert none["loss_camera"].item() == 0.0
        none["loss_camera"].backward()  # still connected to the graph
        assert pred.grad is not None and pred.grad.abs().sum() == 0

    def test_l2_variant(self):
        extrinsics, intrinsics = _cameras()
        pred = _perturbed(extri_intri_to_pose_encoding(extrinsics, intrinsics, HW))
        out = camera_loss([pred], extrinsics, intrinsics, HW, loss_type="l2")
        assert out["loss_T"].item() == pytest.approx(0.3 / 2)
        assert out["loss_FL"].item() == pytest.approx(math.hypot(0.2, 0.2) / 2)

    def test_non_finite_predictions_are_fixed(self):
        extrinsics, intrinsics = _cameras()
        pred = extri_intri_to_pose_encoding(extrinsics, intrinsics, HW)
        pred[0, 1, 0] = float("nan")
        assert camera_loss([pred], extrinsics, intrinsics, HW)["loss_camera"].item() == 0.0

    def test_gradcheck(self):
        extrinsics, intrinsics = _cameras()
        gt = extri_intri_to_pose_encoding(extrinsics.double(), intrinsics.double(), HW)
        pred = (gt + 0.05 + 0.1 * torch.rand_like(gt)).requires_grad_()
        assert torch.autograd.gradcheck(
            lambda p: camera_loss([p, 0.5 * p], extrinsics, intrinsics, HW)["loss_camera"], (pred,)
        )

    def test_bad_input(self):
        extrinsics, intrinsics = _cameras()
        with pytest.raises(ValueError, match="empty"):
            camera_loss([], extrinsics, intrinsics, HW)
        with pytest.raises(ValueError, match="gt_extrinsics"):
            camera_loss([torch.zeros(1, 2, 9)], extrinsics[..., :3], intrinsics, HW)
        with pytest.raises(ValueError, match="do not match"):
            camera_loss([torch.zeros(1, 3, 9)], extrinsics, intrinsics, HW)
        with pytest.raises(ValueError, match="loss_type"):
            camera_loss([torch.zeros(1, 2, 9)], extrinsics, intrinsics, HW, loss_type="huber")


class TestGradientAndNormals:
    def test_gradient_loss_known_values(self):
        pred = torch.tensor([0.0, 1.0, 3.0]).view(1, 1, 3, 1)
        gt = torch.zeros_like(pred)
        mask = torch.ones(1, 1, 3, dtype=torch.bool)
        # scale 0: (1 + 2) / 3; scale 1 (stride 2, values [0, 3]): 3 / 2; scales 2 and 3: a single pixel.
        assert gradient_loss(pred, gt, mask).item() == pytest.approx((1.0 + 1.5) / 4)
        mask[0, 0, 1] = False  # both pairs at scale 0 lose a member
        assert gradient_loss(pred, gt, mask).item() == pytest.approx(1.5 / 4)
        assert gradient_loss(pred, gt, torch.zeros_like(mask)).item() == 0.0

    def test_gradient_loss_ignores_offsets(self):
        gt = torch.rand(2, 8, 8, 1)
        mask = torch.ones(2, 8, 8, dtype=torch.bool)
        assert gradient_loss(gt + 3.0, gt, mask).item() == pytest.approx(0.0, abs=1e-6)

    def test_confidence_weighted_gradient(self):
        pred = torch.tensor([0.0, 1.0]).view(1, 1, 2, 1)
        mask = torch.ones(1, 1, 2, dtype=torch.bool)
        conf = torch.tensor([5.0, 2.0]).view(1, 1, 2)
        # one pair: gamma * 1 * conf[x+1] - alpha * log conf[x+1], over 2 valid pixels, scale 0 only.
        expected = (2.0 - 0.2 * math.log(2.0)) / 2 / 4
        assert gradient_loss(pred, torch.zeros_like(pred), mask, conf).item() == pytest.approx(expected)

    def test_point_normals_of_a_plane(self):
        ys, xs = torch.meshgrid(torch.arange(4.0), torch.arange(5.0), indexing="ij")
        plane = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1)[None]  # z = 1
        mask = torch.ones(1, 4, 5, dtype=torch.bool)
        normals, valid = point_normals(plane, mask)
        assert normals.shape == (1, 4, 5, 4, 3) and valid.shape == (1, 4, 5, 4)
        assert torch.allclose(normals[valid], torch.tensor([0.0, 0.0, -1.0]).expand(int(valid.sum()), 3))
        assert valid[0, 1:-1, 1:-1].all()
        assert not valid[0, 0, 0, 0]  # up x left needs the missing upper and left neighbours

    def test_normal_loss_known_angle(self):
        ys, xs = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
        gt = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1)[None]
        angle = 0.3
        pred = gt.clone()
        pred[..., 2] = 1 + xs * math.tan(angle)  # the plane tilted by `angle` about the y axis
        mask = torch.ones(1, 12, 12, dtype=torch.bool)
        assert normal_loss(pred, gt, mask).item() == pytest.approx(1 - math.cos(angle), rel=1e-5)
        assert normal_loss(gt, gt, mask).item() == pytest.approx(0.0, abs=1e-6)
        assert normal_loss(pred, gt, torch.zeros_like(mask)).item() == 0.0

    def test_gradcheck(self):
        torch.manual_seed(0)
        gt = torch.rand(1, 6, 6, 3, dtype=torch.float64)
        pred = (gt + 0.3 * torch.rand_like(gt)).requires_grad_()
        mask = torch.rand(1, 6, 6) > 0.2
        conf = (1 + torch.rand(1, 6, 6, dtype=torch.float64)).requires_grad_()
        assert torch.autograd.gradcheck(lambda p, c: gradient_loss(p, gt, mask, c, scales=2), (pred, conf))
        assert torch.autograd.gradcheck(lambda p: normal_loss(p, gt, mask, scales=2), (pred,))

    def test_bad_shapes(self):
        with pytest.raises(ValueError, match="gradient_loss"):
            gradient_loss(torch.zeros(1, 4, 4, 1), torch.zeros(1, 4, 4, 2), torch.ones(1, 4, 4, dtype=torch.bool))
        with pytest.raises(ValueError, match="normal_loss"):
            normal_loss(torch.zeros(1, 4, 4, 1), torch.zeros(1, 4, 4, 1), torch.ones(1, 4, 4, dtype=torch.bool))


class TestRegressionLoss:
    def test_known_values(self):
        gt = torch.full((1, 1, 10, 10), 2.0)
        pred = (gt + 0.5)[..., None]
        conf = torch.full((1, 1, 10, 10), 2.0)
        mask = torch.ones(1, 1, 10, 10, dtype=torch.bool)
        out = confidence_regression_loss(pred, conf, gt, mask, gamma=1.0, alpha=0.2)
        assert out["conf"].item() == pytest.approx(0.5 * 2.0 - 0.2 * math.log(2.0))
        assert out["reg"].item() == pytest.approx(0.5)
        assert out["grad"].item() == pytest.approx(0.0)

    def test_reduction_is_per_scene(self):
        gt = torch.zeros(2, 1, 20, 20, 3)
        pred = gt.clone()
        pred[0, ..., 0] = 1.0  # scene 0: error 1 everywhere
        pred[1, 0, :10, :, 0] = 3.0  # scene 1: error 3 on its valid half only
        conf = torch.ones(2, 1, 20, 20)
        mask = torch.ones(2, 1, 20, 20, dtype=torch.bool)
        mask[1, 0, 10:] = False
        out = confidence_regression_loss(pred, conf, gt, mask, gradient="none")
        assert out["reg"].item() == pytest.approx((1.0 + 3.0) / 2)

    def test_scene_with_too_few_pixels_is_skipped(self):
        gt = torch.zeros(2, 1, 10, 10)
        pred = torch.ones(2, 1, 10, 10, 1)
        pred[1] = 7.0
        mask = torch.ones(2, 1, 10, 10, dtype=torch.bool)
        mask[1, 0, 1:] = False  # 10 valid pixels < 100
        out = confidence_regression_loss(pred, torch.ones(2, 1, 10, 10), gt, mask)
        assert out["reg"].item() == pytest.approx(1.0)
        mask[0] = False
        assert confidence_regression_loss(pred, torch.ones(2, 1, 10, 10), gt, mask)["reg"].item() == 0.0

    def test_gradcheck(self):
        torch.manual_seed(1)
        gt = torch.rand(1, 1, 5, 5, 3, dtype=torch.float64)
        pred = (gt + 0.2 + torch.rand_like(gt)).requires_grad_()
        conf = (1 + torch.rand(1, 1, 5, 5, dtype=torch.float64)).requires_grad_()
        mask = torch.rand(1, 1, 5, 5) > 0.1

        def total(p: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            out = confidence_regression_loss(p, c, gt, mask, gradient="conf_normal", min_valid_pixels=10)
            return out["conf"] + out["reg"] + out["grad"]

        assert torch.autograd.gradcheck(total, (pred, conf))

    def test_bad_input(self):
        with pytest.raises(ValueError, match="expected pred/gt"):
            confidence_regression_loss(
                torch.zeros(1, 1, 4, 4, 1), torch.ones(1, 1, 4, 5), torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)
            )
        with pytest.raises(ValueError, match="unknown gradient"):
            confidence_regression_loss(
                torch.zeros(1, 1, 4, 4, 1),
                torch.ones(1, 1, 4, 4),
                torch.zeros(1, 1, 4, 4),
                torch.ones(1, 1, 4, 4),
                gradient="sobel",
            )


class TestTrackLoss:
    @staticmethod
    def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gt = torch.tensor([[[[5.0, 5.0], [8.0, 8.0]], [[10.0, 10.0], [20.0, 20.0]]]])  # [1,2,2,2]
        visibility = torch.tensor([[[True, True], [True, False]]])
        pred = gt.clone()
        pred[0, 1, 0] = torch.tensor([11.0, 10.0])  # 1 px off in x
        pred[0, 1, 1] = torch.tensor([0.0, 0.0])  # invisible: not penalised
        return gt, visibility, pred

    def test_known_values(self):
        gt, visibility, pred = self._data()
        zeros = torch.zeros(1, 2, 2)
        out = track_loss([pred], zeros, zeros, gt, visibility)
        assert out["loss_track_coord"].item() == pytest.approx(0.5)
        assert out["loss_track_vis"].item() == pytest.approx(math.log(2))
        assert out["loss_track_conf"].item() == pytest.approx(math.log(2))
        assert out["loss_track"].item() == pytest.approx(0.5 + 2 * math.log(2))

    def test_iteration_weights_and_conf_target(self):
        gt, visibility, pred = self._data()
        far = pred.clone()
        far[0, 1, 0] = torch.tensor([14.0, 10.0])  # 4 px off: mean |.| = 2, not "confident"
        logits = torch.zeros(1, 2, 2)
        out = track_loss([far, pred], logits, logits, gt, visibility, stage_gamma=0.8)
        assert out["loss_track_coord"].item() == pytest.approx((0.8 * 2.0 + 1.0 * 0.5) / 2)
        conf_logits = torch.zeros(1, 2, 2)
        conf_logits[0, 1, 0] = -20.0  # predicts "not confident" while the final error is 1 px
        out = track_loss([pred], logits, conf_logits, gt, visibility)
        assert out["loss_track_conf"].item() == pytest.approx(20.0, rel=1e-6)

    def test_gradcheck(self):
        gt, visibility, pred = self._data()
        pred = (pred.double() + 0.3).requires_grad_()
        vis = torch.randn(1, 2, 2, dtype=torch.float64, requires_grad=True)
        conf = torch.randn(1, 2, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda p, v, c: track_loss([p], v, c, gt.double(), visibility)["loss_track"], (pred, vis, conf)
        )

    def test_bad_input(self):
        gt, visibility, pred = self._data()
        with pytest.raises(ValueError, match="empty"):
            track_loss([], visibility.float(), visibility.float(), gt, visibility)
        with pytest.raises(ValueError, match="expected gt_tracks"):
            track_loss([pred], visibility.float(), visibility.float(), gt[:, :1], visibility)


class TestTotal:
    def _batch_and_predictions(self) -> tuple[dict, dict]:
        torch.manual_seed(0)
        extrinsics, intrinsics = _cameras()
        depths = 1 + torch.rand(1, 2, 14, 14)
        gt_points = torch.rand(1, 2, 14, 14, 3)
        batch = {
            "images": torch.rand(1, 2, 3, *HW),
            "extrinsics": extrinsics,
            "intrinsics": intrinsics,
            "depths": depths,
            "world_points": gt_points,
            "point_masks": torch.ones(1, 2, 14, 14, dtype=torch.bool),
            "tracks": torch.rand(1, 2, 3, 2) * 10,
            "track_visibility": torch.ones(1, 2, 3, dtype=torch.bool),
        }
        predictions = {
            "pose_enc_list": [_perturbed(extri_intri_to_pose_encoding(extrinsics, intrinsics, HW))],
            "depth": (depths + 0.1)[..., None],
            "depth_conf": torch.full((1, 2, 14, 14), 1.5),
            "world_points": gt_points + 0.2,
            "world_points_conf": torch.full((1, 2, 14, 14), 1.5),
            "track_list": [batch["tracks"] + 1.0],
            "vis_logits": torch.zeros(1, 2, 3),
            "conf_logits": torch.zeros(1, 2, 3),
        }
        return batch, predictions

    def test_weighted_sum(self):
        batch, predictions = self._batch_and_predictions()
        terms = VGGTLoss(LossConfig())(predictions, batch)
        expected = 5 * terms["loss_camera"] + terms["loss_depth"] + terms["loss_point"] + 0.05 * terms["loss_track"]
        assert terms["loss"].item() == pytest.approx(expected.item())
        assert terms["loss_camera"].item() == pytest.approx(0.1125)
        assert terms["loss_depth"].item() == pytest.approx(
            terms["loss_conf_depth"].item() + terms["loss_reg_depth"].item() + terms["loss_grad_depth"].item()
        )

    def test_zero_weight_drops_a_term(self):
        batch, predictions = self._batch_and_predictions()
        terms = VGGTLoss(LossConfig(point_weight=0.0, track_weight=0.0))(predictions, batch)
        assert "loss_point" not in terms and "loss_track" not in terms
        assert terms["loss"].item() == pytest.approx(5 * terms["loss_camera"].item() + terms["loss_depth"].item())

    def test_no_applicable_term(self):
        batch, predictions = self._batch_and_predictions()
        with pytest.raises(ValueError, match="no loss term"):
            VGGTLoss(LossConfig(camera_weight=0, depth_weight=0, point_weight=0, track_weight=0))(predictions, batch)

    @pytest.mark.parametrize(
        "changes, match",
        [
            ({"camera_weight": -1.0}, "camera_weight"),
            ({"valid_range": 0.0}, "valid_range"),
            ({"depth_gradient": "sobel"}, "depth_gradient"),
            ({"min_valid_pixels": 0}, "min_valid_pixels"),
            ({"camera_ramp": (5, 2)}, r"camera_ramp must be \(start, end\) with 0 <= start <= end, got \(5, 2\)"),
            ({"camera_ramp": (-1, 2)}, "camera_ramp"),
        ],
    )
    def test_config_validation(self, changes, match):
        with pytest.raises(ValueError, match=match):
            LossConfig(**changes)
