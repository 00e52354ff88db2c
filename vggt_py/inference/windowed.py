"""Long sequences: overlapping windows, each reconstructed on its own, joined by robust Sim(3) fits.

The frames (in their order: video frames, or photos sorted by name) are cut into windows of ``window``
frames; window ``k + 1`` starts with the last ``overlap`` frames placed by the windows before it (its
*anchors*) and adds the next ``window - overlap`` frames. Each window is predicted alone, so peak model
memory depends on ``window``, not on the sequence length; only the stitched per-frame arrays (the final
:class:`Reconstruction`) grow with it.

Joining: the anchors' depth points of the new window and their already placed points (same frame, same
pixel) give confidence-weighted correspondences (weight ``sqrt(conf_placed * conf_new)``), and
:func:`vggt_py.geometry.robust_similarity` (RANSAC over Umeyama, inlier refits) maps the window into the
world of the first window (frame 0's camera frame for VGGT). The anchors keep their placed values; the new
frames' cameras, depth (scaled by the similarity's scale) and points are moved into the world.

Rejection: a window whose fit is poor (confidence-weighted inlier share below ``min_inlier_ratio``, or
no fit) is not placed; its new frames are dropped from the result and listed in the report, and the next
window is anchored on the last placed frames again, so one bad window (a corrupted frame, a cut) never
moves the frames after it.

Loop closure (optional): for a pair of frames ``(a, b)`` placed by different, non-consecutive windows
(given by the caller or found by :func:`detect_loops`, a thumbnail descriptor), a *loop window* of frames
around ``a`` and around ``b`` is predicted; its two halves, fitted to the placed points, measure the
similarity between the two windows. A pose graph over the windows' similarities (consecutive joins and
loops as edges, window 0 fixed) is solved by ``scipy.optimize.least_squares`` with a sparse Jacobian, and
every frame is moved by its window's correction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix
from scipy.spatial.transform import Rotation

from vggt_py.geometry import (
    compose_similarity,
    invert_similarity,
    robust_similarity,
    similarity_matrix,
    similarity_parts,
    transform_extrinsics,
    transform_points,
)
from vggt_py.geometry.pixels import MIN_DEPTH
from vggt_py.inference.reconstruction import Reconstruction

__all__ = [
    "MAX_DEFAULT_WINDOW",
    "LoopReport",
    "WindowReport",
    "WindowedReport",
    "check_window",
    "default_window",
    "detect_loops",
    "select_keyframes",
    "stitch_windows",
    "window_starts",
]

WindowPredictor = Callable[[Sequence[int]], Reconstruction]

MAX_DEFAULT_WINDOW = 64  # VGGT's quality degrades past ~100 frames in one pass; keep "auto" windows below that
_DESCRIPTOR_SIZE = 16  # thumbnail side of the loop-detection descriptor


@dataclass
class WindowReport:
    """One window: its frames (sequence indices), whether it was placed, and its fit."""

    index: int
    frames: list[int]
    anchors: list[int]
    accepted: bool
    inlier_ratio: float = math.nan
    residual: float = math.nan  # weighted RMS distance of the inliers, in world units
    scale: float = math.nan
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "frames": self.frames,
            "anchors": self.anchors,
            "accepted": self.accepted,
            "inlier_ratio": _finite_or_none(self.inlier_ratio),
            "residual": _finite_or_none(self.residual),
            "scale": _finite_or_none(self.scale),
            "reason": self.reason,
        }


@dataclass
class LoopReport:
    """One loop candidate ``(a, b)`` and whether it entered the pose graph."""

    frames: tuple[int, int]
    windows: tuple[int, int]
    accepted: bool
    inlier_ratio: float = math.nan
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": list(self.frames),
            "windows": list(self.windows),
            "accepted": self.accepted,
            "inlier_ratio": _finite_or_none(self.inlier_ratio),
            "reason": self.reason,
        }


@dataclass
class WindowedReport:
    """What :func:`stitch_windows` did: windows, loops, and the frames kept / dropped."""

    window: int
    overlap: int
    windows: list[WindowReport] = field(default_factory=list)
    loops: list[LoopReport] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)  # sequence index of each frame of the result
    dropped_frames: list[int] = field(default_factory=list)
    pose_graph_cost: tuple[float, float] | None = None  # (before, after) when loop closure ran

    @property
    def rejected_windows(self) -> list[WindowReport]:
        return [w for w in self.windows if not w.accepted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "overlap": self.overlap,
            "windows": [w.to_dict() for w in self.windows],
            "loops": [loop.to_dict() for loop in self.loops],
            "frames": self.frames,
            "dropped_frames": self.dropped_frames,
            "pose_graph_cost": None if self.pose_graph_cost is None else list(self.pose_graph_cost),
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_window(window: object, overlap: object) -> tuple[int, int]:
    """``(window, overlap)`` as ints, or a ``ValueError`` naming the bad argument."""
    if not _is_int(window) or int(window) < 2:  # type: ignore[call-overload]
        raise ValueError(f"window: expected an int >= 2 (frames per window), got {window!r}")
    if not _is_int(overlap) or int(overlap) < 1:  # type: ignore[call-overload]
        raise ValueError(f"overlap: expected an int >= 1 (frames shared by consecutive windows), got {overlap!r}")
    if int(overlap) >= int(window):  # type: ignore[call-overload]
        raise ValueError(f"window must be larger than overlap, got window={window!r} and overlap={overlap!r}")
    return int(window), int(overlap)  # type: ignore[call-overload]


def window_starts(num_frames: int, window: int, overlap: int) -> list[list[int]]:
    """The planned windows (frame lists) when every window is accepted: steps of ``window - overlap``."""
    window, overlap = check_window(window, overlap)
    if num_frames <= window:
        return [list(range(num_frames))]
    out, start = [], 0
    while True:
        out.append(list(range(start, min(start + window, num_frames))))
        if start + window >= num_frames:
            return out
        start += window - overlap


def default_window(
    config: Any, device: torch.device, height: int, width: int, compute_dtype: torch.dtype = torch.float32
) -> int:
    """Frames of one window that fit the free memory of ``device`` (memory model), at most 64 and at least 2."""
    from vggt_py.inference import memory as memory_model
    available = memory_model.available_memory(device)
    fit = memory_model.frames_that_fit(config, available, height, width, compute_dtype=compute_dtype)
    return int(max(2, min(MAX_DEFAULT_WINDOW, fit)))


# ---------------------------------------------------------------------------------------------
# Keyframes and loop descriptors


def _thumbnails(images: np.ndarray | torch.Tensor, size: int) -> np.ndarray:
    """[S, size*size] zero-mean, unit-norm grey thumbnails of [S, 3, H, W] floats or [S, H, W, 3] uint8."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.dtype == torch.uint8:
        x = x.permute(0, 3, 1, 2).float() / 255.0
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images: expected [S, 3, H, W] floats or [S, H, W, 3] uint8, got {list(x.shape)}")
    grey = x.float().mean(1, keepdim=True)
    small = torch.nn.functional.adaptive_avg_pool2d(grey, size).reshape(x.shape[0], -1).double().numpy()
    return small


def select_keyframes(images: np.ndarray | torch.Tensor, min_change: float = 0.02) -> list[int]:
    """Indices of frames that differ from the last kept frame by a mean absolute grey change > ``min_change``.

    The first and the last frame are always kept. The change is measured on 32x32 grey thumbnails in [0, 1],
    so near-duplicate video frames (a still camera) are skipped.
    """
    if not (math.isfinite(min_change) and min_change >= 0):
        raise ValueError(f"min_change: expected a non-negative number, got {min_change!r}")
    thumbs = _thumbnails(images, 32)
    if thumbs.shape[0] == 0:
        return []
    kept = [0]
    for i in range(1, thumbs.shape[0]):
        if np.abs(thumbs[i] - thumbs[kept[-1]]).mean() > min_change:
            kept.append(i)
    if kept[-1] != thumbs.shape[0] - 1:
        kept.append(thumbs.shape[0] - 1)
    return kept


def detect_loops(
    images: np.ndarray | torch.Tensor, min_gap: int, threshold: float = 0.9, max_loops: int = 4
) -> list[tuple[int, int]]:
    """Frame pairs ``(a, b)``, ``b - a >= min_gap``, whose thumbnails correlate above ``threshold``.

    The descriptor is a 16x16 grey thumbnail, zero-mean and unit-norm (normalised cross-correlation); the
    best pairs are returned (best first), at most ``max_loops``, no two within ``min_gap`` frames of each
    other. The descriptor is cheap and can match look-alike places: :func:`stitch_windows` verifies every
    candidate geometrically (the loop window's fit to both sides) before it enters the pose graph.
    """
    thumbs = _thumbnails(images, _DESCRIPTOR_SIZE)
    thumbs = thumbs - thumbs.mean(1, keepdims=True)
    thumbs /= np.maximum(np.linalg.norm(thumbs, axis=1, keepdims=True), 1e-12)
    similarity = thumbs @ thumbs.T
    count = thumbs.shape[0]
    a, b = np.triu_indices(count, k=max(1, min_gap))
    score = similarity[a, b]
    order = np.argsort(-score)
    loops: list[tuple[int, int]] = []
    for k in order:
        if score[k] < threshold or len(loops) >= max_loops:
            break
        pair = (int(a[k]), int(b[k]))
        if all(abs(pair[0] - p[0]) >= min_gap or abs(pair[1] - p[1]) >= min_gap for p in loops):
            loops.append(pair)
    return loops


# ---------------------------------------------------------------------------------------------
# Stitching


class _Stitched:
    """The growing per-frame arrays of the result (one slot per sequence frame)."""

    def __init__(self, first: Reconstruction, num_frames: int) -> None:
        _, height, width = first.depth.shape
        self.num_frames = num_frames
        self.extrinsics = np.zeros((num_frames, 3, 4), dtype=np.float64)
        self.intrinsics = np.zeros((num_frames, 3, 3), dtype=np.float32)
        self.depth = np.zeros((num_frames, height, width), dtype=np.float32)
        self.depth_conf = np.zeros((num_frames, height, width), dtype=np.float32)
        self.points = np.zeros((num_frames, height, width, 3), dtype=np.float32)
        self.colors = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
        self.names = [""] * num_frames
        self.original_sizes = np.zeros((num_frames, 2), dtype=np.int64)
        self.transforms = np.zeros((num_frames, 3, 3), dtype=np.float64)
        self.valid_regions = np.zeros((num_frames, 4), dtype=np.int64)
        self.pose_encoding = np.zeros((num_frames, first.pose_encoding.shape[-1]), dtype=np.float32)
        with_head = first.points_from_head is not None and first.points_conf is not None
        self.head = np.zeros_like(self.points) if with_head else None
        self.head_conf = np.zeros_like(self.depth_conf) if with_head else None
        self.placed = np.zeros(num_frames, dtype=bool)
        self.owner = np.full(num_frames, -1, dtype=np.int64)  # window that placed each frame
        self.metadata = dict(first.metadata)

    def valid(self, frame: int) -> np.ndarray:
        x0, y0, x1, y1 = self.valid_regions[frame]
        mask = np.zeros(self.depth.shape[1:], dtype=bool)
        mask[y0:y1, x0:x1] = True
        return mask & (self.depth[frame] > MIN_DEPTH) & np.isfinite(self.points[frame]).all(-1)

    def place(self, rec: Reconstruction, local: int, frame: int, sim: np.ndarray, owner: int) -> None:
        scale = similarity_parts(sim)[0]
        self.extrinsics[frame] = transform_extrinsics(sim, rec.extrinsics[local].astype(np.float64))
        self.intrinsics[frame] = rec.intrinsics[local]
        self.depth[frame] = rec.depth[local] * scale
        self.depth_conf[frame] = rec.depth_conf[local]
        self.points[frame] = transform_points(sim, rec.points_from_depth[local])
        self.colors[frame] = rec.colors[local]
        self.names[frame] = rec.names[local]
        self.original_sizes[frame] = rec.original_sizes[local]
        self.transforms[frame] = rec.transforms[local]
        self.valid_regions[frame] = rec.valid_regions[local]
        self.pose_encoding[frame] = rec.pose_encoding[local]
        if self.head is not None and self.head_conf is not None:
            assert rec.points_from_head is not None and rec.points_conf is not None
            self.head[frame] = transform_points(sim, rec.points_from_head[local])
            self.head_conf[frame] = rec.points_conf[local]
        self.placed[frame] = True
        self.owner[frame] = owner

    def move(self, frames: np.ndarray, correction: np.ndarray) -> None:
        scale = similarity_parts(correction)[0]
        for f in frames:
            self.extrinsics[f] = transform_extrinsics(correction, self.extrinsics[f])
            self.depth[f] *= scale
            self.points[f] = transform_points(correction, self.points[f])
            if self.head is not None:
                self.head[f] = transform_points(correction, self.head[f])

    def result(self, point_source: str) -> Reconstruction:
        keep = np.nonzero(self.placed)[0]
        return Reconstruction(
            extrinsics=self.extrinsics[keep].astype(np.float32),
            intrinsics=self.intrinsics[keep],
            depth=self.depth[keep],
            depth_conf=self.depth_conf[keep],
            points_from_depth=self.points[keep],
            colors=self.colors[keep],
            names=[self.names[i] for i in keep],
            original_sizes=self.original_sizes[keep],
            transforms=self.transforms[keep],
            valid_regions=self.valid_regions[keep],
            pose_encoding=self.pose_encoding[keep],
            points_from_head=None if self.head is None else self.head[keep],
            points_conf=None if self.head_conf is None else self.head_conf[keep],
            point_source=point_source,  # type: ignore[arg-type]
            metadata=self.metadata,
        )


def _frame_mask(rec: Reconstruction, local: int) -> np.ndarray:
    x0, y0, x1, y1 = rec.valid_regions[local]
    mask = np.zeros(rec.depth.shape[1:], dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask & (rec.depth[local] > MIN_DEPTH) & np.isfinite(rec.points_from_depth[local]).all(-1)


def _correspondences(
    stitched: _Stitched,
    rec: Reconstruction,
    pairs: Sequence[tuple[int, int]],
    points_per_frame: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window points, placed points and weights of sampled shared pixels of ``(local index, frame)`` pairs."""
    src, dst, weights = [], [], []
    for local, frame in pairs:
        mask = _frame_mask(rec, local) & stitched.valid(frame)
        rows, cols = np.nonzero(mask)
        if rows.size > points_per_frame:
            pick = rng.choice(rows.size, size=points_per_frame, replace=False)
            rows, cols = rows[pick], cols[pick]
        src.append(rec.points_from_depth[local][rows, cols].astype(np.float64))
        dst.append(stitched.points[frame][rows, cols].astype(np.float64))
        conf = rec.depth_conf[local][rows, cols].astype(np.float64) * stitched.depth_conf[frame][rows, cols]
        weights.append(np.sqrt(np.maximum(conf, 0.0)))
    if not src:
        return np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0)
    return np.concatenate(src), np.concatenate(dst), np.concatenate(weights)


def _check_prediction(rec: object, frames: Sequence[int]) -> Reconstruction:
    if not isinstance(rec, Reconstruction) or len(rec) != len(frames):
        got = len(rec) if isinstance(rec, Reconstruction) else type(rec).__name__
        raise ValueError(f"the window predictor must return a Reconstruction of {len(frames)} frames, got {got}")
    return rec


def stitch_windows(
    predict: WindowPredictor,
    num_frames: int,
    window: int,
    overlap: int,
    *,
    loop_pairs: Sequence[tuple[int, int]] | None = None,
    loop_descriptor_images: np.ndarray | torch.Tensor | None = None,
    min_inlier_ratio: float = 0.5,
    relative_threshold: float = 0.05,
    points_per_frame: int = 2000,
    loop_frames: int | None = None,
    point_source: str = "depth",
    seed: int = 0,
) -> tuple[Reconstruction, WindowedReport]:
    """Predict ``num_frames`` frames window by window with ``predict(frames)`` and stitch them (module docstring).

    Args:
        predict: returns the :class:`Reconstruction` of the given sequence frames, in that order.
        loop_pairs: frame pairs ``(a, b)`` known to show the same place (loop closure); with
            ``loop_descriptor_images`` (``[S, H, W, 3]`` uint8 or ``[S, 3, H, W]`` floats) pairs are also
            found by :func:`detect_loops`.
        min_inlier_ratio: the confidence-weighted inlier share a join (or loop) needs to be accepted.
        relative_threshold: inlier distance as a share of the anchors' scene size.
        loop_frames: frames taken around each end of a loop (default ``min(overlap, window // 2)``).

    Returns:
        The stitched reconstruction (placed frames only, in sequence order) and the report;
        ``report.frames[i]`` is the sequence index of the result's frame ``i``.
    """
    window, overlap = check_window(window, overlap)
    if not _is_int(num_frames) or num_frames < 1:
        raise ValueError(f"num_frames: expected a positive int, got {num_frames!r}")
    if not 0 < min_inlier_ratio <= 1:
        raise ValueError(f"min_inlier_ratio: expected a number in (0, 1], got {min_inlier_ratio!r}")
    pairs = [] if loop_pairs is None else [_check_pair(p, num_frames) for p in loop_pairs]
    rng = np.random.default_rng(seed)
    report = WindowedReport(window, overlap)
    frames = list(range(min(window, num_frames)))
    first = _check_prediction(predict(frames), frames)
    stitched = _Stitched(first, num_frames)
    for local, frame in enumerate(frames):
        stitched.place(first, local, frame, np.eye(4), 0)
    del first
    report.windows.append(WindowReport(0, frames, [], True, 1.0, 0.0, 1.0))
    nodes = [np.eye(4)]  # world from window k, for the accepted windows in order
    node_of_window = {0: 0}
    edges: list[tuple[int, int, np.ndarray, float]] = []  # (node i, node j, window_i from window_j, weight)
    next_frame = len(frames)
    while next_frame < num_frames:
        anchors = [int(f) for f in np.nonzero(stitched.placed)[0][-overlap:]]
        new = list(range(next_frame, min(next_frame + window - len(anchors), num_frames)))
        frames = anchors + new
        index = len(report.windows)
        rec = _check_prediction(predict(frames), frames)
        src, dst, weights = _correspondences(stitched, rec, list(enumerate(anchors)), points_per_frame, rng)
        fit = robust_similarity(src, dst, weights, relative_threshold=relative_threshold, seed=seed + index)
        entry = WindowReport(index, frames, anchors, False)
        if fit is None:
            entry.reason = "no similarity could be fitted to the anchors (too few valid shared pixels)"
        else:
            entry.inlier_ratio, entry.residual, entry.scale = fit.inlier_ratio, fit.residual, fit.scale
            if fit.inlier_ratio < min_inlier_ratio:
                entry.reason = f"inlier share {fit.inlier_ratio:.2f} below {min_inlier_ratio:.2f}"
            else:
                entry.accepted = True
        report.windows.append(entry)
        if entry.accepted:
            assert fit is not None
            for local in range(len(anchors), len(frames)):
                stitched.place(rec, local, frames[local], fit.matrix, index)
            node_of_window[index] = len(nodes)
            owner_nodes = {node_of_window[int(stitched.owner[a])] for a in anchors}
            nodes.append(fit.matrix)
            for node in sorted(owner_nodes):  # window_i from window_j = S_i^-1 S_j, as measured now
                edges.append((node, len(nodes) - 1, compose_similarity(invert_similarity(nodes[node]), fit.matrix), 1.0))
        else:
            report.dropped_frames.extend(new)
        del rec
        next_frame = new[-1] + 1
    report.frames = [int(f) for f in np.nonzero(stitched.placed)[0]]
    if loop_descriptor_images is not None:
        found = detect_loops(loop_descriptor_images, min_gap=2 * window)
        pairs.extend(p for p in found if p not in pairs)
    if pairs and len(nodes) > 2:
        _close_loops(predict, stitched, report, pairs, nodes, node_of_window, edges, loop_frames, overlap, window,
                     min_inlier_ratio, relative_threshold, points_per_frame, rng, seed)
    result = stitched.result(point_source)
    result.metadata = {**result.metadata, "windowed": report.to_dict()}
    return result, report


def _check_pair(pair: object, num_frames: int) -> tuple[int, int]:
    try:
        a, b = pair  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValueError(f"loop_pairs: expected pairs of frame indices, got {pair!r}") from None
    if not (_is_int(a) and _is_int(b) and 0 <= a < num_frames and 0 <= b < num_frames and a != b):
        raise ValueError(f"loop_pairs: expected two different frame indices in [0, {num_frames}), got {pair!r}")
    return (int(min(a, b)), int(max(a, b)))


def _around(stitched: _Stitched, frame: int, count: int) -> list[int]:
    """Up to ``count`` placed frames of ``frame``'s window, nearest to ``frame``."""
    same = np.nonzero(stitched.placed & (stitched.owner == stitched.owner[frame]))[0]
    order = same[np.argsort(np.abs(same - frame), kind="stable")][:count]
    return sorted(int(f) for f in order)


def _close_loops(
    predict: WindowPredictor,
    stitched: _Stitched,
    report: WindowedReport,
    pairs: list[tuple[int, int]],
    nodes: list[np.ndarray],
    node_of_window: dict[int, int],
    edges: list[tuple[int, int, np.ndarray, float]],
    loop_frames: int | None,
    overlap: int,
    window: int,
    min_inlier_ratio: float,
    relative_threshold: float,
    points_per_frame: int,
    rng: np.random.Generator,
    seed: int,
) -> None:
    count = loop_frames if loop_frames is not None else max(1, min(overlap, window // 2))
    loop_edges = []
    for a, b in pairs:
        if not (stitched.placed[a] and stitched.placed[b]):
            report.loops.append(LoopReport((a, b), (-1, -1), False, reason="a frame of the pair was dropped"))
            continue
        wa, wb = int(stitched.owner[a]), int(stitched.owner[b])
        na, nb = node_of_window[wa], node_of_window[wb]
        entry = LoopReport((a, b), (wa, wb), False)
        if abs(na - nb) < 2:
            entry.reason = "the frames are in the same or consecutive windows (already joined)"
            report.loops.append(entry)
            continue
        side_a, side_b = _around(stitched, a, count), _around(stitched, b, count)
        frames = side_a + side_b
        rec = _check_prediction(predict(frames), frames)
        fits = []
        for offset, side in ((0, side_a), (len(side_a), side_b)):
            src, dst, w = _correspondences(
                stitched, rec, [(offset + k, f) for k, f in enumerate(side)], points_per_frame, rng
            )
            fits.append(robust_similarity(src, dst, w, relative_threshold=relative_threshold, seed=seed))
        del rec
        fit_a, fit_b = fits
        if fit_a is None or fit_b is None:
            entry.reason = "no similarity could be fitted to one side of the loop"
        else:
            entry.inlier_ratio = min(fit_a.inlier_ratio, fit_b.inlier_ratio)
            if entry.inlier_ratio < min_inlier_ratio:
                entry.reason = f"inlier share {entry.inlier_ratio:.2f} below {min_inlier_ratio:.2f}"
            else:
                entry.accepted = True
                # world-from-loop measured through each side: S_a M_a = G_a  =>  window_a from window_b
                measured = compose_similarity(
                    compose_similarity(invert_similarity(nodes[na]), fit_a.matrix),
                    compose_similarity(invert_similarity(fit_b.matrix), nodes[nb]),
                )
                loop_edges.append((na, nb, measured, 1.0))
        report.loops.append(entry)
    if not loop_edges:
        return
    new_nodes, costs = _optimise_pose_graph(nodes, edges + loop_edges, _reference_length(stitched))
    report.pose_graph_cost = costs
    window_of_node = {node: win for win, node in node_of_window.items()}
    for node, (old, new) in enumerate(zip(nodes, new_nodes, strict=True)):
        correction = compose_similarity(new, invert_similarity(old))
        stitched.move(np.nonzero(stitched.placed & (stitched.owner == window_of_node[node]))[0], correction)


def _reference_length(stitched: _Stitched) -> float:
    """Median distance between consecutive placed camera centres (the pose graph's translation unit)."""
    ext = stitched.extrinsics[stitched.placed]
    centres = -np.einsum("sji,sj->si", ext[:, :, :3], ext[:, :, 3])
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    value = float(np.median(steps)) if steps.size else 1.0
    return value if value > 0 and math.isfinite(value) else 1.0


def _to_params(matrix: np.ndarray) -> np.ndarray:
    scale, rot, trans = similarity_parts(matrix)
    return np.concatenate([Rotation.from_matrix(rot).as_rotvec(), trans, [math.log(scale)]])


def _from_params(params: np.ndarray) -> np.ndarray:
    return similarity_matrix(math.exp(params[6]), Rotation.from_rotvec(params[:3]).as_matrix(), params[3:6])


def _optimise_pose_graph(
    nodes: list[np.ndarray], edges: list[tuple[int, int, np.ndarray, float]], unit: float
) -> tuple[list[np.ndarray], tuple[float, float]]:
    """Nodes (node 0 fixed) minimising, per edge, the 7-vector (rotation vector, translation / ``unit``,
    log scale) of ``Z^-1 S_i^-1 S_j``; scipy's trust-region least squares with a sparse Jacobian."""
    free = len(nodes) - 1
    inverse_measured = [invert_similarity(z) for _, _, z, _ in edges]

    def node(x: np.ndarray, k: int) -> np.ndarray:
        return nodes[0] if k == 0 else _from_params(x[7 * (k - 1) : 7 * k])

    def residuals(x: np.ndarray) -> np.ndarray:
        out = np.empty(7 * len(edges))
        for e, ((i, j, _, weight), z_inv) in enumerate(zip(edges, inverse_measured, strict=True)):
            error = z_inv @ invert_similarity(node(x, i)) @ node(x, j)
            scale, rot, trans = similarity_parts(error)
            out[7 * e : 7 * e + 7] = weight * np.concatenate(
                [Rotation.from_matrix(rot).as_rotvec(), trans / unit, [math.log(scale)]]
            )
        return out

    sparsity = lil_matrix((7 * len(edges), 7 * free), dtype=np.int8)
    for e, (i, j, _, _) in enumerate(edges):
        for k in (i, j):
            if k > 0:
                sparsity[7 * e : 7 * e + 7, 7 * (k - 1) : 7 * k] = 1
    x0 = np.concatenate([_to_params(n) for n in nodes[1:]])
    before = 0.5 * float(np.sum(residuals(x0) ** 2))
    solution = least_squares(residuals, x0, jac_sparsity=sparsity, method="trf", x_scale="jac")
    return [nodes[0]] + [node(solution.x, k) for k in range(1, len(nodes))], (before, float(solution.cost))
