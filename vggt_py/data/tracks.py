"""Ground-truth point tracks of a training sample, derived from depth and cameras.

See docs/architecture.md, "Ground-truth tracks".
"""

from __future__ import annotations

import numpy as np

from vggt_py.data.scene import VALID_DEPTH, pixels_to_world, world_to_pixels

__all__ = ["tracks_from_depth"]


def tracks_from_depth(
    depths: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    num_tracks: int,
    rng: np.random.Generator,
    border: int = 4,
    rel_tolerance: float = 0.05,
    max_candidates: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth tracks of frame-0 pixels from depth (docs/architecture.md, "Ground-truth tracks").

    Candidate queries are valid integer pixels of frame 0. A track is visible in frame ``i`` where
    its projection lies at least ``border`` px inside the image, in front of the camera, and one of
    the 4 depth samples around it agrees with the projected depth within ``rel_tolerance``. Tracks
    visible in frame 0 and at least one other frame (any, when S = 1) are kept; the better-seen half
    (by visible-frame count) is preferred, and ``num_tracks`` are drawn at random.

    Args:
        depths: [S,H,W] (0 = unknown); intrinsics [S,3,3]; extrinsics [S,3,4] camera-from-world.

    Returns:
        ``tracks`` [S,num_tracks,2] float32 (u, v) and ``visibility`` [S,num_tracks] bool; slots
        without a track are zero and invisible everywhere.
    """
    frames, height, width = depths.shape
    tracks = np.zeros((frames, num_tracks, 2), dtype=np.float32)
    visibility = np.zeros((frames, num_tracks), dtype=bool)
    rows, cols = np.nonzero(depths[0] > VALID_DEPTH)
    inside = (rows >= border) & (rows <= height - 1 - border) & (cols >= border) & (cols <= width - 1 - border)
    rows, cols = rows[inside], cols[inside]
    if num_tracks == 0 or rows.size == 0:
        return tracks, visibility
    if rows.size > max_candidates:
        pick = rng.choice(rows.size, size=max_candidates, replace=False)
        rows, cols = rows[pick], cols[pick]
    queries = np.stack([cols, rows], axis=1).astype(np.float64)
    world = pixels_to_world(queries, depths[0, rows, cols].astype(np.float64), intrinsics[0], extrinsics[0])

    positions = np.zeros((frames, rows.size, 2))
    visible = np.zeros((frames, rows.size), dtype=bool)
    for i in range(frames):
        pixels, z = world_to_pixels(world, intrinsics[i], extrinsics[i])
        u, v = pixels[:, 0], pixels[:, 1]
        ok = (z > 1e-9) & (u >= border) & (u <= width - 1 - border) & (v >= border) & (v <= height - 1 - border)
        match = np.zeros_like(ok)
        for rr in (np.floor(v), np.ceil(v)):
            for cc in (np.floor(u), np.ceil(u)):
                r = np.clip(rr, 0, height - 1).astype(np.int64)
                c = np.clip(cc, 0, width - 1).astype(np.int64)
                d = depths[i, r, c]
                match |= (d > VALID_DEPTH) & (np.abs(d - z) <= rel_tolerance * np.abs(z))
        positions[i] = pixels
        visible[i] = ok & match
    positions[0] = queries
    visible[0] = True
    counts = visible.sum(axis=0)
    keep = np.flatnonzero(counts >= min(2, frames))
    if keep.size == 0:
        return tracks, visibility
    order = keep[np.argsort(-counts[keep], kind="stable")]
    pool = order[: max(order.size // 2, min(num_tracks, order.size))]
    chosen = rng.choice(pool, size=min(num_tracks, pool.size), replace=False)
    tracks[:, : chosen.size] = positions[:, chosen]
    visibility[:, : chosen.size] = visible[:, chosen]
    return tracks, visibility
