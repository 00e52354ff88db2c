"""Known intrinsics: use calibrated camera matrices instead of the camera head's, and re-solve the poses.

:func:`apply_intrinsics` takes camera matrices ``K`` in the ORIGINAL photos' pixels (pixel-centre
convention: integer coordinates are pixel centres, as everywhere in :class:`Reconstruction`; COLMAP's
``+0.5`` is added by the COLMAP export), one ``3x3`` for all frames or one per frame, and:

1. maps each ``K`` to model pixels (``K_model = transforms[i] @ K``);
2. re-solves every frame's pose against it by PnP + RANSAC (pycolmap's absolute pose estimation) on the
   model's own 2-D/3-D correspondences: confident pixels of the frame and their 3-D points in the
   point-head map (the depth-derived points where the model has no point head), which do not depend on
   the camera head's focal length. A frame whose PnP fails, or explains fewer than half of the sampled
   pixels within the RANSAC threshold (1 % of the model image's larger side, at least 2 px), keeps its
   predicted pose (the point map disagrees with the given K there), moved into the PnP poses' world by
   :func:`~vggt_py.inference.anchors.align_to_poses`. The PnP translations are rescaled
   to the depth maps' scale (median ratio of depth map to the map points' depths; the point map may have
   its own scale), then the world is moved rigidly so that the first frame keeps its pose (it stays where
   it was, e.g. frame 0's camera);
3. unprojects the depth maps with the known ``K`` and the new poses;
4. bundle-adjusts the poses with ``K`` held fixed (:func:`vggt_py.inference.refine.refine` with
   ``refine_focal_length=False``, one PINHOLE camera per frame); a rejected adjustment keeps the PnP poses.

The given matrices are stored unchanged (float64) in :attr:`Reconstruction.known_intrinsics`;
:attr:`Reconstruction.intrinsics_original`, the COLMAP export and the NPZ export write them exactly.
``metadata["known_intrinsics"]`` says which frames PnP re-posed and whether the adjustment was accepted.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from vggt_py.geometry import unproject_depth
from vggt_py.inference.anchors import align_to_poses
from vggt_py.inference.multiview import import_pycolmap, pnp_pose
from vggt_py.inference.reconstruction import Reconstruction

__all__ = ["apply_intrinsics", "check_intrinsics"]

_PNP_POINTS = 2000  # pixels per frame handed to PnP (the most confident half, subsampled)
_PNP_MIN_INLIERS = 32
# A PnP pose is used only when the point map agrees with the known K at most sampled pixels; a model whose
# point map does not (a weak model, a K far from the photos' camera) keeps its predicted poses.
_PNP_MIN_INLIER_FRACTION = 0.5
# RANSAC trials: at an inlier fraction of 0.5, 3-point samples are all inliers with probability 1/8, so 500
# trials miss with probability < 1e-28; more would only be spent on point maps that are refused anyway.
_PNP_MAX_TRIALS = 500
_PNP_ERROR_FRACTION = 0.01  # RANSAC threshold as a fraction of the model image's larger side
_PNP_MIN_ERROR = 2.0  # model pixels


def check_intrinsics(intrinsics: object, count: int, name: str = "intrinsics") -> np.ndarray:
    """``[count, 3, 3]`` float64 camera matrices from one ``3x3`` (shared) or ``[count, 3, 3]``.

    Each must be a pinhole matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` with finite entries and positive
    focal lengths (skew is not supported: COLMAP's pinhole models have none); otherwise a ``ValueError``
    naming ``name`` (and the frame) and quoting the value.
    """
    try:
        k = np.array(intrinsics, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a 3x3 camera matrix or [S, 3, 3], got {intrinsics!r}") from None
    shared = k.shape == (3, 3)
    if shared:
        k = np.broadcast_to(k, (count, 3, 3)).copy()
    if k.ndim != 3 or k.shape[1:] != (3, 3):
        raise ValueError(f"{name}: expected a 3x3 camera matrix or [S, 3, 3], got shape {list(k.shape)}: {intrinsics!r}")
    if k.shape[0] != count:
        raise ValueError(f"{name}: expected one 3x3 matrix or {count} (one per frame), got {k.shape[0]}")
    for i, m in enumerate(k):
        where = name if shared else f"{name}[{i}]"
        if not np.isfinite(m).all():
            raise ValueError(f"{where}: expected finite entries, got {m.tolist()}")
        if shared and i > 0:
            continue
        if m[2].tolist() != [0.0, 0.0, 1.0]:
            raise ValueError(f"{where}: expected the bottom row [0, 0, 1] of a camera matrix, got {m[2].tolist()}")
        if not (m[0, 0] > 0 and m[1, 1] > 0):
            raise ValueError(f"{where}: expected positive focal lengths fx, fy, got {float(m[0, 0])!r}, {float(m[1, 1])!r}")
        if m[0, 1] != 0 or m[1, 0] != 0:
            raise ValueError(
                f"{where}: expected no skew (K[0, 1] = K[1, 0] = 0; COLMAP's pinhole models have none), "
                f"got K[0, 1] = {float(m[0, 1])!r}, K[1, 0] = {float(m[1, 0])!r}"
            )
    return k


def _pnp_samples(rec: Reconstruction, frame: int, points: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Model pixels ``[n, 2]`` and world points ``[n, 3]`` of the most confident half of ``frame``'s pixels."""
    valid = rec.content_mask()[frame] & np.isfinite(points[frame]).all(-1) & np.isfinite(rec.depth[frame])
    valid &= rec.depth[frame] > 0
    conf = rec.confidence("head" if rec.points_from_head is not None else "depth")[frame]
    if valid.any():
        valid &= conf >= np.median(conf[valid])
    rows, cols = np.nonzero(valid)
    if rows.size > _PNP_POINTS:
        pick = rng.choice(rows.size, _PNP_POINTS, replace=False)
        rows, cols = rows[pick], cols[pick]
    xy = np.stack([cols, rows], axis=-1).astype(np.float64)
    return xy, points[frame][rows, cols].astype(np.float64)


def _unproject_all(depth: np.ndarray, intrinsics: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    points = np.empty((*depth.shape, 3), dtype=np.float32)
    for i in range(depth.shape[0]):  # one frame at a time: bounded float64 temporaries
        d = torch.from_numpy(np.asarray(depth[i], dtype=np.float64))
        points[i] = unproject_depth(d, torch.from_numpy(intrinsics[i]), torch.from_numpy(extrinsics[i])).numpy()
    return points


def _to_4x4(extrinsic: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3] = extrinsic
    return out


def apply_intrinsics(
    rec: Reconstruction, intrinsics: object, *, refine: bool = True, seed: int = 0
) -> Reconstruction:
    """A copy of ``rec`` with the known camera matrices ``intrinsics`` (ORIGINAL pixels) and poses re-solved.

    ``intrinsics``: one ``3x3`` for all frames or ``[S, 3, 3]`` (see :func:`check_intrinsics`). ``refine``:
    bundle-adjust the PnP poses with ``K`` fixed (needs tracks from the point-head map; see
    :func:`vggt_py.inference.refine.refine`). Steps in the module docstring.
    """
    known = check_intrinsics(intrinsics, len(rec))
    pycolmap = import_pycolmap("Known intrinsics (PnP)")
    k_model = np.asarray(rec.transforms, dtype=np.float64) @ known
    source = rec.points_from_head if rec.points_from_head is not None else rec.points_from_depth
    height, width = rec.image_size
    max_error = max(_PNP_MIN_ERROR, _PNP_ERROR_FRACTION * max(height, width))
    rng = np.random.default_rng(seed)
    old = np.asarray(rec.extrinsics, dtype=np.float64)
    extrinsics = old.copy()
    reposed: list[int] = []
    fractions: list[float] = []
    ratios: list[np.ndarray] = []  # depth map / depth of the map's point in the PnP camera, per sample
    for i in range(len(rec)):
        xy, xyz = _pnp_samples(rec, i, source, rng)
        pose, count = pnp_pose(pycolmap, xy, xyz, k_model[i], (height, width), max_error, seed, _PNP_MAX_TRIALS)
        fraction = count / len(xy) if len(xy) else 0.0
        fractions.append(round(fraction, 4))
        usable = count >= _PNP_MIN_INLIERS and fraction >= _PNP_MIN_INLIER_FRACTION
        if pose is not None and usable and np.isfinite(pose).all():
            extrinsics[i] = pose
            reposed.append(i)
            z = xyz @ pose[2, :3] + pose[2, 3]
            measured = rec.depth[i][xy[:, 1].astype(np.int64), xy[:, 0].astype(np.int64)]
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = measured / z
            ratios.append(ratio[np.isfinite(ratio) & (ratio > 0)])
    # The point map may differ from the depth maps by a similarity (its own scale): PnP poses are in the map's
    # world, so rescale their translations to the depth maps' scale (median ratio), then move the world
    # rigidly so that frame 0 keeps its pose: E_i' = E_i W^-1 with W = E_0old^-1 E_0new.
    all_ratios = np.concatenate(ratios) if ratios else np.empty(0)
    scale = float(np.median(all_ratios)) if all_ratios.size else 1.0
    extrinsics[reposed, :, 3] *= scale
    others = [i for i in range(len(rec)) if i not in reposed]
    if reposed and others:  # frames PnP could not re-pose: their predicted poses moved into the PnP world
        moved = align_to_poses(rec, {i: extrinsics[i] for i in reposed})
        extrinsics[others] = moved.extrinsics[others]
    world = np.linalg.inv(_to_4x4(old[0])) @ _to_4x4(extrinsics[0])
    extrinsics = np.stack([(_to_4x4(e) @ np.linalg.inv(world))[:3] for e in extrinsics])
    info: dict[str, Any] = {"pnp_frames": reposed, "pnp_inlier_fractions": fractions, "pnp_max_error_px": max_error}
    info["pnp_scale"] = scale
    out = dataclasses.replace(
        rec,
        extrinsics=extrinsics.astype(np.float32),
        intrinsics=k_model.astype(np.float32),
        points_from_depth=_unproject_all(rec.depth, k_model, extrinsics),
        known_intrinsics=known,
        metadata=dict(rec.metadata),
    )
    info["refined"] = False
    if refine and len(rec) >= 2:
        from vggt_py.inference.refine import refine as bundle_adjust

        result = bundle_adjust(out, camera_model="PINHOLE", shared_camera=False, refine_focal_length=False, seed=seed)
        info["refinement"] = result.report.message
        if result.report.refined:
            refined = result.reconstruction
            # K was held fixed; keep the exact model-pixel matrices rather than the pycolmap round trip.
            out = dataclasses.replace(
                refined,
                intrinsics=k_model.astype(np.float32),
                points_from_depth=_unproject_all(rec.depth, k_model, refined.extrinsics.astype(np.float64)),
            )
            info["refined"] = True
    out.metadata["known_intrinsics"] = info
    return out
