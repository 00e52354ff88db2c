"""The value types of the refinement: per-frame results, the report and the result."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vggt_py.inference.multiview import json_value
from vggt_py.inference.reconstruction import Reconstruction

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pycolmap

__all__ = ["FrameRefinement", "RefineReport", "RefineResult"]


@dataclass
class FrameRefinement:
    """What refinement did to one frame (``None``: not measured)."""

    index: int
    name: str
    observations: int  # observations of this frame used by (or offered to) the adjustment
    refined: bool
    reason: str | None = None  # why the frame kept its feed-forward camera
    reposed: bool = False  # its feed-forward camera was too far off: re-posed by PnP before the adjustment
    reprojection_error_before: float | None = None  # mean pixels over its observations, before BA (after any re-posing)
    reprojection_error_after: float | None = None
    rotation_change_deg: float | None = None
    center_change: float | None = None  # camera-centre shift / median scene depth
    focal_before: tuple[float, float] | None = None  # (f_x, f_y) model pixels
    focal_after: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {key: json_value(value) for key, value in dataclasses.asdict(self).items()}
        for key in ("focal_before", "focal_after"):
            if out[key] is not None:
                out[key] = [float(v) for v in out[key]]
        return out


@dataclass
class RefineReport:
    """Summary of a refinement; ``refined`` is False when the feed-forward result was kept."""

    refined: bool
    message: str
    track_source: str
    frames: list[FrameRefinement]
    num_tracks: int = 0
    num_observations: int = 0
    reprojection_error_before: float | None = None  # mean pixels over all used observations, before BA
    reprojection_error_after: float | None = None
    scale: float | None = None  # rescaling applied so the refined points match the depth maps
    solver: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_frames(self) -> list[int]:
        """Frames that kept their feed-forward camera."""
        return [f.index for f in self.frames if not f.refined]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        out = {
            key: json_value(value)
            for key, value in dataclasses.asdict(self).items()
            if key not in ("frames", "solver")
        }
        out["failed_frames"] = self.failed_frames
        out["solver"] = {key: json_value(value) for key, value in self.solver.items()}
        out["frames"] = [frame.to_dict() for frame in self.frames]
        return out


@dataclass(frozen=True)
class RefineResult:
    """The refined reconstruction, the adjusted pycolmap model (None when nothing ran) and the report."""

    reconstruction: Reconstruction
    colmap_model: pycolmap.Reconstruction | None
    report: RefineReport
