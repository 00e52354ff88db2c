"""Training losses of VGGT (docs/architecture.md, "Training losses"): camera, depth, point map and tracks.

Axis letters: ``B`` scenes, ``S`` frames, ``H x W`` pixels, ``C`` channels, ``N`` tracks.

Every loss is reduced **per scene** (a mean over the scene's valid pixels / frames / tracks) and then
averaged over the scenes that have enough supervision. So the loss of a batch is the mean of its
scenes' losses: gradient accumulation over chunks and data-parallel ranks reproduces the full batch,
and a scene with many valid pixels does not outweigh one with few. (The reference pools pixels over
the whole batch; on batches of one scene both agree.)

Masks make sparse supervision work: depth and points are supervised where ``point_masks`` is set,
tracks where the ground truth is visible, cameras on scenes whose normalisation had enough points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from vggt_py.geometry import extri_intri_to_pose_encoding

__all__ = [
    "LossConfig",
    "VGGTLoss",
    "camera_loss",
    "confidence_regression_loss",
    "fix_non_finite",
    "gradient_loss",
    "normal_loss",
    "point_normals",
    "quantile_filtered_mean",
    "track_loss",
]

GradientKind = Literal["grad", "conf_grad", "normal", "conf_normal", "none"]


@dataclass(frozen=True)
class LossConfig:
    """Weights and options of :class:`VGGTLoss`.

    Attributes:
        camera_weight, depth_weight, point_weight, track_weight: term weights (0 disables a term).
        camera_stage_gamma: weight ``gamma^(n-1-i)`` of camera-head iteration ``i`` of ``n``.
        camera_fov_weight: weight of the field-of-view part of the camera loss.
        camera_translation_weight: weight of the translation part of the camera loss (the reference
            uses 1; small models trained from scratch learn translation late without a larger one).
        camera_loss: "l1" (per component) or "l2" (Euclidean norm per part).
        conf_gamma, conf_alpha: confidence-weighted regression ``gamma * err * conf - alpha * log(conf)``.
        depth_gradient: "grad" (unweighted multi-scale gradient matching, the reference default),
            "conf_grad" (confidence-weighted, the paper's form) or "none".
        point_gradient: "normal" (multi-scale normal consistency), "conf_normal" or "none".
        valid_range: quantile above which per-pixel errors are dropped (1 keeps all).
        track_stage_gamma: weight ``gamma^(n-1-i)`` of tracker iteration ``i``.
        track_conf_threshold: a track point is "confident" when its final error is below this (px).
        min_valid_pixels: scenes with fewer valid depth pixels get no camera, depth or point loss.
        camera_ramp: ``(start, end)`` optimizer steps of a curriculum for the camera term: its weight is 0
            before ``start``, rises linearly to ``camera_weight`` at ``end`` and stays there (``(0, 0)``:
            full weight from the first step). The dense terms then shape the trunk first. Validation
            losses always use the full weight.
    """

    camera_weight: float = 5.0
    depth_weight: float = 1.0
    point_weight: float = 1.0
    track_weight: float = 0.05
    camera_stage_gamma: float = 0.6
    camera_fov_weight: float = 0.5
    camera_translation_weight: float = 1.0
    camera_loss: Literal["l1", "l2"] = "l1"
    conf_gamma: float = 1.0
    conf_alpha: float = 0.2
    depth_gradient: Literal["grad", "conf_grad", "none"] = "grad"
    point_gradient: Literal["normal", "conf_normal", "none"] = "normal"
    valid_range: float = 0.98
    track_stage_gamma: float = 0.8
    track_conf_threshold: float = 3.0
    min_valid_pixels: int = 100
    camera_ramp: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        for name in (
            "camera_weight",
            "depth_weight",
            "point_weight",
            "track_weight",
            "camera_fov_weight",
            "camera_translation_weight",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"LossConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.camera_loss not in ("l1", "l2"):
            raise ValueError(f"LossConfig.camera_loss must be 'l1' or 'l2', got {self.camera_loss!r}")
        if self.depth_gradient not in ("grad", "conf_grad", "none"):
            raise ValueError(f"LossConfig.depth_gradient must be grad, conf_grad or none, got {self.depth_gradient!r}")
        if self.point_gradient not in ("normal", "conf_normal", "none"):
            raise ValueError(
                f"LossConfig.point_gradient must be normal, conf_normal or none, got {self.point_gradient!r}"
            )
        if not 0 < self.valid_range <= 1:
            raise ValueError(f"LossConfig.valid_range must be in (0, 1], got {self.valid_range}")
        if not (0 < self.camera_stage_gamma and 0 < self.track_stage_gamma):
            raise ValueError("LossConfig stage gammas must be positive")
        start, end = self.camera_ramp
        if not 0 <= start <= end:
            raise ValueError(
                f"LossConfig.camera_ramp must be (start, end) with 0 <= start <= end, got {self.camera_ramp}"
            )
        if self.min_valid_pixels < 1:
            raise ValueError(f"LossConfig.min_valid_pixels must be >= 1, got {self.min_valid_pixels}")


# --------------------------------------------------------------------------------------- helpers
def fix_non_finite(x: torch.Tensor, limit: float = 100.0) -> torch.Tensor:
    """NaN and +-Inf become 0, then values are clamped to ``[-limit, limit]``."""
    return torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).clamp(-limit, limit)


def _compute_dtype(t: torch.Tensor) -> torch.dtype:
    """At least float32 (bf16 / fp16 predictions are upcast; float64 stays, e.g. for gradcheck)."""
    return torch.promote_types(t.dtype, torch.float32)


def _stage_weights(count: int, gamma: float) -> list[float]:
    """``gamma^(n-1-i)`` for i < n: the last iteration weighs 1."""
    return [gamma ** (count - 1 - i) for i in range(count)]


def _graph_zero(anchor: torch.Tensor) -> torch.Tensor:
    """A zero connected to ``anchor``'s graph (also when ``anchor`` holds NaN), so backward still runs."""
    return torch.nan_to_num(anchor, nan=0.0, posinf=0.0, neginf=0.0).sum() * 0.0


def _scene_mean(values: torch.Tensor, valid: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
    """Mean of per-scene ``values`` [B] over ``valid`` [B]; ``0 * anchor.sum()`` (graph kept) if none is."""
    if not bool(valid.any()):
        return _graph_zero(anchor)
    return values[valid].mean()


def quantile_filtered_mean(values: torch.Tensor, valid_range: float, min_count: int = 1000) -> torch.Tensor:
    """Mean of ``values`` [M] after dropping the largest ``1 - valid_range`` of them.

    See docs/architecture.md, "Training losses".

    Only applies with more than ``min_count`` values: they are clamped to <= 100, the threshold is the
    ``k``-th smallest with ``k = round(valid_range (M - 1)) + 1`` (half to even), and values strictly
    below it are kept if more than ``min_count`` remain (otherwise all are kept).
    """
    if values.numel() == 0:
        raise ValueError("quantile_filtered_mean: no values")
    if valid_range >= 1 or values.numel() <= min_count:
        return values.mean()
    values = values.clamp(max=100.0)
    k = round(valid_range * (values.numel() - 1)) + 1
    threshold = values.detach().kthvalue(k).values
    keep = values < threshold
    if int(keep.sum()) > min_count:
        values = values[keep]
    return values.mean()


# ---------------------------------------------------------------------------------------- camera
def camera_loss(
    pose_enc_list: Sequence[torch.Tensor],
    gt_extrinsics: torch.Tensor,
    gt_intrinsics: torch.Tensor,
    image_hw: tuple[int, int],
    valid: torch.Tensor | None = None,
    stage_gamma: float = 0.6,
    fov_weight: float = 0.5,
    translation_weight: float = 1.0,
    loss_type: Literal["l1", "l2"] = "l1",
) -> dict[str, torch.Tensor]:
    """Camera loss over the camera-head iterations.

    For iteration ``i`` of ``n``: L1 errors of translation, raw quaternion and the two fields of view
    against the ground-truth encoding (each NaN-fixed and clamped to 100), averaged per scene over frames
    and components, then over the valid scenes. Iterations are weighted ``stage_gamma^(n-1-i)``, summed and
    divided by ``n``. ``loss_camera = translation_weight * T + R + fov_weight * FL``.

    Args:
        pose_enc_list: n tensors [B,S,9].
        gt_extrinsics: [B,S,3,4] (normalised, frame 0 = identity); gt_intrinsics: [B,S,3,3].
        image_hw: (H, W) of the images (for the fields of view).
        valid: [B] bool scenes to supervise (default all).
        loss_type: "l1", or "l2" (Euclidean norm of each part instead of per-component L1).
    """
    if len(pose_enc_list) == 0:
        raise ValueError("camera_loss: pose_enc_list is empty")
    batch = pose_enc_list[0].shape[0]
    if gt_extrinsics.shape[:1] != (batch,) or gt_extrinsics.shape[-2:] != (3, 4):
        raise ValueError(
            f"camera_loss: gt_extrinsics must be [B,S,3,4] with B = {batch}, got {tuple(gt_extrinsics.shape)}"
        )
    if loss_type not in ("l1", "l2"):
        raise ValueError(f"camera_loss: loss_type must be 'l1' or 'l2', got {loss_type!r}")
    device = pose_enc_list[0].device
    valid = torch.ones(batch, dtype=torch.bool, device=device) if valid is None else valid.to(device)
    dtype = _compute_dtype(pose_enc_list[-1])
    gt = extri_intri_to_pose_encoding(gt_extrinsics.double(), gt_intrinsics.double(), image_hw).to(dtype)
    weights = _stage_weights(len(pose_enc_list), stage_gamma)
    parts = {"loss_T": slice(0, 3), "loss_R": slice(3, 7), "loss_FL": slice(7, 9)}
    totals = {name: _graph_zero(pose_enc_list[0]) for name in parts}
    for weight, pred in zip(weights, pose_enc_list):
        if pred.shape != gt.shape:
            raise ValueError(
                f"camera_loss: predictions {tuple(pred.shape)} do not match the ground truth {tuple(gt.shape)}"
            )
        diff = pred.to(dtype) - gt
        for name, part in parts.items():
            if loss_type == "l1":
                per_scene = fix_non_finite(diff[..., part].abs()).mean(dim=(1, 2))
            else:
                per_scene = fix_non_finite(diff[..., part].norm(dim=-1)).mean(dim=1)
            totals[name] = totals[name] + weight * _scene_mean(per_scene, valid, pred)
    out = {name: value / len(pose_enc_list) for name, value in totals.items()}
    out["loss_camera"] = translation_weight * out["loss_T"] + out["loss_R"] + fov_weight * out["loss_FL"]
    return out


# ---------------------------------------------------------------------------- depth and points
def _neighbours(t: torch.Tensor, axis: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(second, first) elements of every adjacent pair along ``axis``."""
    length = t.shape[axis]
    return t.narrow(axis, 1, length - 1), t.narrow(axis, 0, length - 1)


def _gradient_at_scale(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, conf: torch.Tensor | None, gamma: float, alpha: float
) -> torch.Tensor:
    diff = torch.where(mask[..., None], pred - gt, torch.zeros((), dtype=pred.dtype, device=pred.device))
    total = _graph_zero(pred)
    for axis in (1, 2):  # [N,H,W,C] rows (y), then columns (x)
        if diff.shape[axis] < 2:
            continue
        second, first = _neighbours(diff, axis)
        mask_second, mask_first = _neighbours(mask, axis)
        pair = (mask_second & mask_first)[..., None]
        grad = ((second - first).abs() * pair).clamp(max=100.0)
        if conf is not None:
            weight = _neighbours(conf, axis)[0][..., None]
            grad = (gamma * grad * weight - alpha * torch.log(weight)) * pair
        total = total + grad.sum()
    count = mask.sum()
    if int(count) == 0:
        return total * 0.0
    return total / (count * pred.shape[-1])


def gradient_loss(
    pred: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor,
    conf: torch.Tensor | None = None,
    gamma: float = 1.0,
    alpha: float = 0.2,
    scales: int = 4,
) -> torch.Tensor:
    """Multi-scale gradient matching of ``pred - gt``, averaged over ``scales``.

    See docs/architecture.md, "Training losses".

    At scale ``s`` the maps are subsampled with stride ``2^s``; with ``d = mask (pred - gt)``, the
    absolute differences of ``d`` between horizontally and vertically adjacent valid pixels (each
    clamped to 100) are summed and divided by (valid pixels x C). With ``conf`` each term becomes
    ``gamma * g * conf - alpha * log(conf)`` (conf at the second pixel of the pair), valid pairs only.
    (A deliberate deviation: the reference also adds ``-alpha * log(conf)`` at invalid pairs, which only
    rewards raising the confidence where nothing is supervised -- sky, holes -- without bound.)

    Args:
        pred, gt: [N,H,W,C]; mask: [N,H,W] bool; conf: optional [N,H,W].
    """
    if pred.shape != gt.shape or pred.shape[:-1] != mask.shape:
        raise ValueError(
            f"gradient_loss: pred, gt must be [N,H,W,C] and mask [N,H,W], got {tuple(pred.shape)}, "
            f"{tuple(gt.shape)}, {tuple(mask.shape)}"
        )
    total = _graph_zero(pred)
    for scale in range(scales):
        step = 2**scale
        c = conf[:, ::step, ::step] if conf is not None else None
        total = total + _gradient_at_scale(
            pred[:, ::step, ::step], gt[:, ::step, ::step], mask[:, ::step, ::step], c, gamma, alpha
        )
    return total / scales


def point_normals(points: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """Four normals per pixel from its zero-padded 4-neighbourhood: [N,H,W,4,3] and validity [N,H,W,4].

    With ``up, left, down, right`` the vectors from the pixel to its neighbours, the normals are
    ``up x left``, ``left x down``, ``down x right`` and ``right x up`` (unit length, ``eps`` guarded);
    each is valid where the pixel and both neighbours are.
    """
    padded = F.pad(points.permute(0, 3, 1, 2), (1, 1, 1, 1)).permute(0, 2, 3, 1)  # [N,H+2,W+2,3]
    valid = F.pad(mask[:, None].float(), (1, 1, 1, 1))[:, 0] > 0.5
    height, width = points.shape[1:3]

    def at(dy: int, dx: int, t: torch.Tensor) -> torch.Tensor:
        return t[:, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]

    centre = at(0, 0, padded)
    offsets = {"up": (-1, 0), "left": (0, -1), "down": (1, 0), "right": (0, 1)}
    vectors = {k: at(dy, dx, padded) - centre for k, (dy, dx) in offsets.items()}
    masks = {k: at(dy, dx, valid) for k, (dy, dx) in offsets.items()}
    pairs = (("up", "left"), ("left", "down"), ("down", "right"), ("right", "up"))
    normals = torch.stack(
        [F.normalize(torch.linalg.cross(vectors[a], vectors[b]), dim=-1, eps=eps) for a, b in pairs], 3
    )
    validity = torch.stack([mask & masks[a] & masks[b] for a, b in pairs], dim=3)
    return normals, validity


def normal_loss(
    pred: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor,
    conf: torch.Tensor | None = None,
    gamma: float = 1.0,
    alpha: float = 0.2,
    scales: int = 3,
) -> torch.Tensor:
    """Multi-scale normal consistency of point maps: mean ``1 - cos`` between predicted and GT normals.

    At each scale (stride ``2^s``) the normals of :func:`point_normals` are compared where valid;
    a scale with fewer than 10 valid normals contributes 0. With ``conf`` (at the pixel) the term is
    ``gamma * (1 - cos) * conf - alpha * log(conf)``.

    Args:
        pred, gt: [N,H,W,3]; mask: [N,H,W] bool; conf: optional [N,H,W].
    """
    if pred.shape != gt.shape or pred.shape[-1] != 3 or pred.shape[:-1] != mask.shape:
        raise ValueError(
            f"normal_loss: pred, gt must be [N,H,W,3] and mask [N,H,W], got {tuple(pred.shape)}, "
            f"{tuple(gt.shape)}, {tuple(mask.shape)}"
        )
    total = _graph_zero(pred)
    for scale in range(scales):
        step = 2**scale
        m = mask[:, ::step, ::step]
        n_pred, valid = point_normals(pred[:, ::step, ::step], m)
        n_gt, _ = point_normals(gt[:, ::step, ::step], m)
        if int(valid.sum()) < 10:
            continue
        cos = (n_pred * n_gt).sum(-1).clamp(-1 + 1e-8, 1 - 1e-8)
        term = 1 - cos  # [N,H,W,4]
        if conf is not None:
            c = conf[:, ::step, ::step, None].expand_as(term)
            term = gamma * term * c - alpha * torch.log(c)
        total = total + term[valid].mean()
    return total / scales


def confidence_regression_loss(
    pred: torch.Tensor,
    conf: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 1.0,
    alpha: float = 0.2,
    gradient: GradientKind = "grad",
    valid_range: float = 0.98,
    min_valid_pixels: int = 100,
) -> dict[str, torch.Tensor]:
    """Confidence-aware regression of a dense map (depth or points), reduced per scene.

    Per scene, with ``e = |gt - pred|_2`` over channels at valid pixels (NaN-fixed, clamped to 100):
    ``conf = mean(gamma * e * c - alpha * log c)`` and ``reg = mean(e)``, each after
    :func:`quantile_filtered_mean`; ``grad`` is :func:`gradient_loss` ("grad" / "conf_grad") or
    :func:`normal_loss` ("normal" / "conf_normal") over the scene's frames. Scenes with fewer than
    ``min_valid_pixels`` valid pixels are skipped; the results are means over the others.

    Args:
        pred: [B,S,H,W,C]; conf: [B,S,H,W] (>= 1); gt: [B,S,H,W,C] or [B,S,H,W] for C = 1; mask: [B,S,H,W].

    Returns:
        ``{"conf", "reg", "grad"}`` scalars.
    """
    if gt.dim() == pred.dim() - 1:
        gt = gt[..., None]
    if pred.shape != gt.shape or pred.shape[:-1] != conf.shape or conf.shape != mask.shape:
        raise ValueError(
            "confidence_regression_loss: expected pred/gt [B,S,H,W,C], conf and mask [B,S,H,W], got "
            f"{tuple(pred.shape)}, {tuple(gt.shape)}, {tuple(conf.shape)}, {tuple(mask.shape)}"
        )
    if gradient not in ("grad", "conf_grad", "normal", "conf_normal", "none"):
        raise ValueError(f"confidence_regression_loss: unknown gradient term {gradient!r}")
    dtype = _compute_dtype(pred)
    # Ground truth as the reference clamps it: NaN / Inf -> 0, values within +-100 (after normalisation
    # to unit mean distance, anything beyond is a far outlier, not geometry to regress).
    pred, conf, gt, mask = pred.to(dtype), conf.to(dtype), fix_non_finite(gt.to(dtype)), mask.bool()
    zero = _graph_zero(pred)
    results: dict[str, list[torch.Tensor]] = {"conf": [], "reg": [], "grad": []}
    valid = torch.zeros(pred.shape[0], dtype=torch.bool)
    for b in range(pred.shape[0]):
        m = mask[b]
        if int(m.sum()) < min_valid_pixels:
            for values in results.values():
                values.append(zero)
            continue
        valid[b] = True
        err = fix_non_finite((gt[b] - pred[b]).norm(dim=-1)[m])
        c = conf[b][m]
        conf_term = fix_non_finite(gamma * err * c - alpha * torch.log(c))
        results["conf"].append(quantile_filtered_mean(conf_term, valid_range))
        results["reg"].append(quantile_filtered_mean(err, valid_range))
        weight = conf[b] if gradient.startswith("conf_") else None
        if gradient in ("grad", "conf_grad"):
            results["grad"].append(gradient_loss(pred[b], gt[b], m, weight, gamma, alpha))
        elif gradient in ("normal", "conf_normal"):
            results["grad"].append(normal_loss(pred[b], gt[b], m, weight, gamma, alpha))
        else:
            results["grad"].append(zero)
    return {name: _scene_mean(torch.stack(values), valid.to(pred.device), pred) for name, values in results.items()}


# ----------------------------------------------------------------------------------------- tracks
def track_loss(
    track_list: Sequence[torch.Tensor],
    vis_logits: torch.Tensor,
    conf_logits: torch.Tensor,
    gt_tracks: torch.Tensor,
    gt_visibility: torch.Tensor,
    stage_gamma: float = 0.8,
    conf_threshold: float = 3.0,
) -> dict[str, torch.Tensor]:
    """Track loss: per-iteration L1 on positions, BCE on visibility and on confidence.

    Supervised are frames 1..S-1 of tracks whose query (frame 0) is valid; positions and confidence
    where the ground truth is visible. Positions: mean of ``|pred - gt|`` over x and y, per scene,
    iteration ``i`` of ``n`` weighted ``stage_gamma^(n-1-i)``, summed and divided by ``n``. Visibility:
    BCE-with-logits against the GT visibility. Confidence: BCE-with-logits against "final error <
    ``conf_threshold`` px". ``loss_track`` is the sum of the three.

    Args:
        track_list: n tensors [B,S,N,2] (pixels); vis_logits, conf_logits: [B,S,N] raw logits;
        gt_tracks: [B,S,N,2]; gt_visibility: [B,S,N] bool.
    """
    if len(track_list) == 0:
        raise ValueError("track_loss: track_list is empty")
    if gt_tracks.shape != track_list[-1].shape or gt_visibility.shape != gt_tracks.shape[:-1]:
        raise ValueError(
            f"track_loss: expected gt_tracks {tuple(track_list[-1].shape)} and visibility [B,S,N], "
            f"got {tuple(gt_tracks.shape)} and {tuple(gt_visibility.shape)}"
        )
    dtype = _compute_dtype(track_list[-1])
    gt_tracks, visibility = gt_tracks.to(dtype), gt_visibility.bool()
    queried = visibility[:, :1].expand_as(visibility).clone()
    queried[:, 0] = False  # the query frame is fixed by construction
    seen = queried & visibility
    scene_has = seen.flatten(1).any(1)
    weights = _stage_weights(len(track_list), stage_gamma)

    def per_scene(values: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        where = where.to(values.dtype)
        return (values * where).flatten(1).sum(1) / where.flatten(1).sum(1).clamp(min=1)

    coord = _graph_zero(track_list[-1])
    for weight, pred in zip(weights, track_list):
        err = fix_non_finite((pred.to(dtype) - gt_tracks).abs(), limit=1e4).mean(-1)  # [B,S,N]
        coord = coord + weight * _scene_mean(per_scene(err, seen), scene_has, pred)
    coord = coord / len(track_list)
    vis_bce = F.binary_cross_entropy_with_logits(vis_logits.to(dtype), visibility.to(dtype), reduction="none")
    vis = _scene_mean(per_scene(vis_bce, queried), queried.flatten(1).any(1), vis_logits)
    final_error = (track_list[-1].detach().to(dtype) - gt_tracks).norm(dim=-1)
    target = (final_error < conf_threshold).to(dtype)
    conf_bce = F.binary_cross_entropy_with_logits(conf_logits.to(dtype), target, reduction="none")
    conf = _scene_mean(per_scene(conf_bce, seen), scene_has, conf_logits)
    return {
        "loss_track": coord + vis + conf,
        "loss_track_coord": coord,
        "loss_track_vis": vis,
        "loss_track_conf": conf,
    }


# -------------------------------------------------------------------------------------- total
class VGGTLoss:
    """The multi-task objective: ``w_cam L_cam + w_depth L_depth + w_point L_point + w_track L_track``.

    ``L_depth`` and ``L_point`` are each ``conf + reg + grad`` of :func:`confidence_regression_loss`. A
    term is computed when its weight is positive and the predictions hold its outputs (``pose_enc_list``;
    ``depth``/``depth_conf``; ``world_points``/``world_points_conf``; ``track_list``/``vis_logits``/
    ``conf_logits`` with ``tracks`` in the batch).

    Call it with the predictions and a batch from :class:`~vggt_py.data.datasets.MultiViewDataset`
    (``extrinsics``, ``intrinsics``, ``depths``, ``world_points``, ``point_masks``, optional ``tracks``,
    ``track_visibility``). Returns a dict of scalar tensors whose ``"loss"`` is the total.
    """

    def __init__(self, config: LossConfig | None = None):
        self.config = config if config is not None else LossConfig()

    def camera_scale(self, step: int | None) -> float:
        """Share of ``camera_weight`` applied at optimizer step ``step`` (``camera_ramp``; None: 1)."""
        start, end = self.config.camera_ramp
        if step is None or step >= end:
            return 1.0
        if step < start:
            return 0.0
        return (step - start) / (end - start)

    def __call__(
        self, predictions: Mapping[str, Any], batch: Mapping[str, Any], step: int | None = None
    ) -> dict[str, torch.Tensor]:
        """The loss terms; ``step`` (the optimizer step, training only) applies the ``camera_ramp``."""
        cfg = self.config
        masks = batch["point_masks"].bool()
        image_hw = tuple(batch["images"].shape[-2:])
        scene_valid = masks.flatten(1).sum(1) >= cfg.min_valid_pixels
        terms: dict[str, torch.Tensor] = {}
        total: torch.Tensor | None = None

        def add(weight: float, value: torch.Tensor) -> None:
            nonlocal total
            total = weight * value if total is None else total + weight * value

        if cfg.camera_weight > 0 and "pose_enc_list" in predictions:
            cam = camera_loss(
                predictions["pose_enc_list"],
                batch["extrinsics"],
                batch["intrinsics"],
                image_hw,
                scene_valid,
                cfg.camera_stage_gamma,
                cfg.camera_fov_weight,
                cfg.camera_translation_weight,
                cfg.camera_loss,
            )
            terms.update(cam)
            add(cfg.camera_weight * self.camera_scale(step), cam["loss_camera"])
        for name, key, gt_key, gradient, weight in (
            ("depth", "depth", "depths", cfg.depth_gradient, cfg.depth_weight),
            ("point", "world_points", "world_points", cfg.point_gradient, cfg.point_weight),
        ):
            if weight <= 0 or key not in predictions:
                continue
            parts = confidence_regression_loss(
                predictions[key],
                predictions[f"{key}_conf"],
                batch[gt_key],
                masks,
                cfg.conf_gamma,
                cfg.conf_alpha,
                gradient,
                cfg.valid_range,
                cfg.min_valid_pixels,
            )
            terms.update({f"loss_{part}_{name}": value for part, value in parts.items()})
            terms[f"loss_{name}"] = parts["conf"] + parts["reg"] + parts["grad"]
            add(weight, terms[f"loss_{name}"])
        if cfg.track_weight > 0 and "track_list" in predictions and "tracks" in batch:
            tracks = track_loss(
                predictions["track_list"],
                predictions["vis_logits"],
                predictions["conf_logits"],
                batch["tracks"],
                batch["track_visibility"],
                cfg.track_stage_gamma,
                cfg.track_conf_threshold,
            )
            terms.update(tracks)
            add(cfg.track_weight, tracks["loss_track"])
        if total is None:
            raise ValueError(
                "VGGTLoss: no loss term applies: every weight is 0 or the predictions lack the heads' outputs "
                f"(got keys {sorted(predictions)})"
            )
        terms["loss"] = total
        return terms
