"""The result of a reconstruction, with every output mapped back to the original photos.

Axis letters: ``S`` frames, ``H x W`` model resolution, ``N`` tracked points, ``M`` kept points.

Pixel convention: integer coordinates are pixel centres, in model pixels and in original pixels
alike (OpenCV's convention; COLMAP's pixel centres sit at ``+0.5``, which the COLMAP export adds).
``transforms[i]`` maps original pixel coordinates of frame ``i`` to model pixel coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vggt_py.geometry.pixels import (
    MIN_DEPTH,
    intrinsics_to_original,
    model_to_original,
    original_to_model,
    resample_to_original,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from vggt_py.inference.consistency import ConsistencyReport, ConsistencyThresholds

__all__ = ["PointSource", "Reconstruction"]

PointSource = Literal["depth", "head"]


@dataclass
class Reconstruction:
    """Cameras, depth, points and colours of S frames (numpy arrays, float32 unless noted)."""

    extrinsics: np.ndarray  # [S, 3, 4] camera-from-world, OpenCV axes
    intrinsics: np.ndarray  # [S, 3, 3] at model resolution
    depth: np.ndarray  # [S, H, W] camera-frame z
    depth_conf: np.ndarray  # [S, H, W] >= 1
    points_from_depth: np.ndarray  # [S, H, W, 3] depth unprojected with the predicted cameras
    colors: np.ndarray  # [S, H, W, 3] uint8, the model input
    names: list[str]
    original_sizes: np.ndarray  # [S, 2] int (width, height) of the original images
    transforms: np.ndarray  # [S, 3, 3] float64, original pixel -> model pixel
    valid_regions: np.ndarray  # [S, 4] int (x0, y0, x1, y1) model pixels holding real image content
    pose_encoding: np.ndarray  # [S, 9] the camera head's raw output
    points_from_head: np.ndarray | None = None  # [S, H, W, 3] the point head's map
    points_conf: np.ndarray | None = None  # [S, H, W]
    query_points: np.ndarray | None = None  # [N, 2] model pixels of frame 0
    tracks: np.ndarray | None = None  # [S, N, 2] model pixels
    track_visibility: np.ndarray | None = None  # [S, N] in [0, 1]
    track_confidence: np.ndarray | None = None  # [S, N] in [0, 1]
    point_source: PointSource = "depth"
    # what fixed the scale: "normalised" (VGGT's own), "poses", "distance" or "depth" (inference/anchors.py)
    scale_source: str = "normalised"
    # [S, 3, 3] float64: camera matrices given by the user in ORIGINAL pixels (inference/known_intrinsics.py);
    # None when the intrinsics are the camera head's. Exports write these exactly.
    known_intrinsics: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)  # device, dtype, mode, model (kept by the NPZ export)

    # --------------------------------------------------------------------------- basics
    def __len__(self) -> int:
        return self.extrinsics.shape[0]

    @property
    def model_name(self) -> str | None:
        """The model that made this reconstruction (``"facebook/VGGT-1B"``, ``"bundled:small-synthetic"``,
        a path), as recorded in ``metadata["model"]``; ``None`` when unknown (a model object passed in)."""
        name = self.metadata.get("model")
        return name if isinstance(name, str) else None

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the model input."""
        return int(self.depth.shape[1]), int(self.depth.shape[2])

    @property
    def intrinsics_original(self) -> np.ndarray:
        """[S, 3, 3] intrinsics in original-image pixels: ``K_orig = T^-1 K_model`` (float32), or the
        user's camera matrices exactly (float64 :attr:`known_intrinsics`) when they were given."""
        if self.known_intrinsics is not None:
            return np.array(self.known_intrinsics, dtype=np.float64)
        return intrinsics_to_original(self.transforms, self.intrinsics).astype(np.float32)

    @property
    def camera_centers(self) -> np.ndarray:
        """[S, 3] camera centres in the world frame (``-R^T t``)."""
        rot, trans = self.extrinsics[:, :, :3], self.extrinsics[:, :, 3]
        return -np.einsum("sji,sj->si", rot, trans)

    def points(self, source: PointSource | None = None) -> np.ndarray:
        """World points [S, H, W, 3] from ``"depth"`` (depth + cameras) or ``"head"`` (point head)."""
        source = source or self.point_source
        if source == "depth":
            return self.points_from_depth
        if source == "head":
            if self.points_from_head is None:
                raise ValueError("this reconstruction has no point-head map (the model's point head is disabled)")
            return self.points_from_head
        raise ValueError(f"point source must be 'depth' or 'head', got {source!r}")

    def confidence(self, source: PointSource | None = None) -> np.ndarray:
        """Confidence [S, H, W] matching :meth:`points` for the same ``source``."""
        source = source or self.point_source
        if source == "head":
            self.points("head")
            assert self.points_conf is not None
            return self.points_conf
        return self.depth_conf

    def check(self, thresholds: ConsistencyThresholds | None = None, **kwargs: Any) -> ConsistencyReport:
        """Consistency of the redundant outputs; see :func:`vggt_py.inference.consistency.check`."""
        from vggt_py.inference.consistency import check

        return check(self, thresholds, **kwargs)

    def view(self, *, host: str = "127.0.0.1", port: int = 8080, block: bool = True, **kwargs: Any) -> Any:
        """Serve this reconstruction in the browser (viser); see :func:`vggt_py.inference.viewer.start_viewer`.

        Prints the URL. With ``block`` (the default) it serves until Ctrl-C, then stops and returns
        the stopped viewer; ``block=False`` returns the running ``ReconstructionViewer`` at once (call
        its ``stop()``). Keyword arguments go to ``start_viewer`` (``consistency``, ``max_points``...).
        """
        from vggt_py.inference.viewer import start_viewer

        viewer = start_viewer(self, host=host, port=port, **kwargs)
        print(f"viewer: open {viewer.url} in a browser" + ("; Ctrl-C stops" if block else ""), flush=True)
        if block:
            try:
                viewer.wait()
            except KeyboardInterrupt:
                pass
            finally:
                viewer.stop()
        return viewer

    # ----------------------------------------------------------------------- filtering
    def content_mask(self) -> np.ndarray:
        """[S, H, W] bool: pixels that show the photo (not the padding)."""
        mask = np.zeros(self.depth.shape, dtype=bool)
        for i, (x0, y0, x1, y1) in enumerate(self.valid_regions):
            mask[i, y0:y1, x0:x1] = True
        return mask

    def mask(
        self,
        conf_threshold: float | None = None,
        conf_percentile: float | None = None,
        source: PointSource | None = None,
    ) -> np.ndarray:
        """[S, H, W] bool: real content, positive finite depth, and confidence above the bound.

        ``conf_threshold`` keeps confidences >= the value; ``conf_percentile`` (0-100) keeps those at
        or above that percentile of the content pixels' confidences. Both may be given.
        """
        conf = self.confidence(source)
        points = self.points(source)
        mask = self.content_mask() & (self.depth > MIN_DEPTH) & np.isfinite(points).all(axis=-1)
        if conf_threshold is not None:
            mask &= conf >= conf_threshold
        if conf_percentile is not None:
            if not 0 <= conf_percentile <= 100:
                raise ValueError(f"conf_percentile must be in [0, 100], got {conf_percentile}")
            content = conf[self.content_mask()]
            if content.size:
                mask &= conf >= np.percentile(content, conf_percentile)
        return mask

    def point_cloud(
        self,
        conf_threshold: float | None = None,
        conf_percentile: float | None = None,
        source: PointSource | None = None,
        mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Kept points [M, 3] float32 and their colours [M, 3] uint8."""
        if mask is None:
            mask = self.mask(conf_threshold, conf_percentile, source)
        return self.points(source)[mask].astype(np.float32), self.colors[mask]

    # --------------------------------------------------------------- original resolution
    def _check_index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"frame {index} out of range for {len(self)} frames")
        return index % len(self)

    def depth_original(self, index: int) -> np.ndarray:
        """Depth [h, w] at frame ``index``'s original resolution (bilinear; NaN outside the model's view)."""
        i = self._check_index(index)
        return resample_to_original(self.depth[i], self.transforms[i], tuple(self.original_sizes[i]))

    def points_original(self, index: int, source: PointSource | None = None) -> np.ndarray:
        """World points [h, w, 3] at frame ``index``'s original resolution."""
        i = self._check_index(index)
        return resample_to_original(self.points(source)[i], self.transforms[i], tuple(self.original_sizes[i]))

    def confidence_original(self, index: int, source: PointSource | None = None) -> np.ndarray:
        i = self._check_index(index)
        return resample_to_original(self.confidence(source)[i], self.transforms[i], tuple(self.original_sizes[i]))

    def to_original(self, xy: np.ndarray, index: int) -> np.ndarray:
        """Model pixel coordinates [..., 2] of frame ``index`` -> original pixel coordinates."""
        return model_to_original(self.transforms[self._check_index(index)], np.asarray(xy, dtype=np.float64))

    def to_model(self, xy: np.ndarray, index: int) -> np.ndarray:
        """Original pixel coordinates [..., 2] of frame ``index`` -> model pixel coordinates."""
        return original_to_model(self.transforms[self._check_index(index)], np.asarray(xy, dtype=np.float64))

    def tracks_original(self) -> np.ndarray:
        """Tracks [S, N, 2] in each frame's original pixel coordinates."""
        if self.tracks is None:
            raise ValueError("this reconstruction has no tracks (pass query_points to reconstruct)")
        return np.stack([self.to_original(self.tracks[i], i) for i in range(len(self))]).astype(np.float32)
