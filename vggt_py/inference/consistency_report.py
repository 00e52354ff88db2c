"""The value types of the consistency checks: thresholds, per-frame results and the report.

:mod:`vggt_py.inference.consistency` computes them; the report prints (rich) and serialises (JSON) itself.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vggt_py.inference.multiview import Similarity, json_value

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rich.console import Console
    from rich.table import Table

__all__ = ["CHECKS", "CheckName", "ConsistencyReport", "ConsistencyThresholds", "FrameConsistency"]

CheckName = Literal["points", "camera", "epipolar", "depth"]
CHECKS: tuple[CheckName, ...] = ("points", "camera", "epipolar", "depth")


@dataclass(frozen=True)
class ConsistencyThresholds:
    """Limits beyond which a frame is reported as suspect (defaults suit 518-pixel VGGT outputs).

    Attributes:
        point_error: largest median ``|X_depth - X_head| / depth`` (a fraction of the depth).
        rotation_deg: largest median relative-rotation error between camera-head and point-map poses.
        translation_deg: largest median relative translation-direction error between them.
        min_pnp_inlier_ratio: smallest fraction of a frame's point-map points that fit one pinhole pose.
        pnp_max_error_px: RANSAC inlier threshold (pixels) of the point-map pose.
        sampson_px: largest median Sampson distance (pixels) of a frame's correspondences.
        depth_tolerance: relative depth difference within which a reprojected point is consistent.
        min_depth_agreement: smallest median fraction of consistent points over a frame's neighbours.
        min_consistent_views: neighbours that must confirm a pixel for :func:`consistent_mask` (it also
            needs at least as many confirmations as contradictions).
        match_px: largest distance across the ray (pixels) between two points of a point-map match.
        min_track_visibility: track-head visibility from which an observation is used.
    """

    point_error: float = 0.1
    rotation_deg: float = 5.0
    translation_deg: float = 15.0
    min_pnp_inlier_ratio: float = 0.3
    pnp_max_error_px: float = 8.0
    sampson_px: float = 4.0
    depth_tolerance: float = 0.05
    min_depth_agreement: float = 0.7
    min_consistent_views: int = 1
    match_px: float = 0.5
    min_track_visibility: float = 0.5

    def __post_init__(self) -> None:
        positive: tuple[str, ...] = ("point_error", "rotation_deg", "translation_deg", "pnp_max_error_px")
        positive += ("sampson_px", "depth_tolerance", "match_px")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"ConsistencyThresholds.{name}: expected a positive number, got {value!r}")
        for name in ("min_pnp_inlier_ratio", "min_depth_agreement", "min_track_visibility"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise ValueError(f"ConsistencyThresholds.{name}: expected a number in [0, 1], got {value!r}")
        if isinstance(self.min_consistent_views, bool) or not isinstance(self.min_consistent_views, int):
            raise TypeError(
                f"ConsistencyThresholds.min_consistent_views: expected an int, got {self.min_consistent_views!r}"
            )
        if self.min_consistent_views < 0:
            raise ValueError(
                f"ConsistencyThresholds.min_consistent_views: expected >= 0, got {self.min_consistent_views}"
            )






@dataclass
class FrameConsistency:
    """The measurements and verdict of one frame (``None``: not measured)."""

    index: int
    name: str
    point_error: float | None = None  # median |X_depth - X_head| / depth
    rotation_error_deg: float | None = None  # median over the frame's pairs
    translation_error_deg: float | None = None
    pnp_inlier_ratio: float | None = None
    sampson_error_px: float | None = None  # median over partner frames
    depth_agreement: float | None = None  # median over neighbours
    consistent_fraction: float | None = None  # fraction of valid pixels kept by the consistent mask
    failed: list[str] = field(default_factory=list)  # names of the failed checks (CHECKS)
    reasons: list[str] = field(default_factory=list)  # one readable line per failure

    @property
    def verdict(self) -> Literal["ok", "suspect"]:
        return "suspect" if self.failed else "ok"

    def fail(self, check: CheckName, reason: str) -> None:
        if check not in self.failed:
            self.failed.append(check)
        self.reasons.append(f"{check}: {reason}")

    def to_dict(self) -> dict[str, Any]:
        out = {key: json_value(value) for key, value in asdict(self).items()}
        out["verdict"] = self.verdict
        return out


@dataclass
class ConsistencyReport:
    """Per-frame and overall consistency of a reconstruction (see the module docstring)."""

    frames: list[FrameConsistency]
    thresholds: ConsistencyThresholds
    checks: list[str] = field(default_factory=list)  # the checks that ran
    skipped: dict[str, str] = field(default_factory=dict)  # check -> why it did not run
    issues: list[str] = field(default_factory=list)  # problems of the whole reconstruction
    summary: dict[str, float | None] = field(default_factory=dict)  # overall figures
    alignment: Similarity | None = None  # point-head frame -> camera frame
    mask: np.ndarray | None = field(default=None, repr=False)  # [S, H, W] bool, see consistent_mask

    @property
    def ok(self) -> bool:
        """True when no frame is suspect and the whole reconstruction raised no issue."""
        return not self.issues and not self.suspect_frames

    @property
    def suspect_frames(self) -> list[int]:
        return [f.index for f in self.frames if f.failed]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (NaN and infinities become ``None``; the mask is left out)."""
        return {
            "ok": self.ok,
            "num_frames": len(self.frames),
            "suspect_frames": self.suspect_frames,
            "checks": list(self.checks),
            "skipped": dict(self.skipped),
            "issues": list(self.issues),
            "summary": {key: json_value(value) for key, value in self.summary.items()},
            "thresholds": asdict(self.thresholds),
            "alignment": None if self.alignment is None else self.alignment.to_dict(),
            "frames": [frame.to_dict() for frame in self.frames],
        }

    def to_table(self, title: str | None = "Consistency") -> Table:
        """A rich table: one row per frame."""
        from rich.table import Table

        table = Table(title=title)
        for header in ("#", "frame", "points", "rot °", "trans °", "Sampson px", "depth agree", "kept", "verdict"):
            table.add_column(header, justify="left" if header in ("frame", "verdict") else "right")
        for frame in self.frames:
            verdict = "[red]suspect[/red]" if frame.failed else "[green]ok[/green]"
            table.add_row(
                str(frame.index),
                frame.name,
                _fmt(frame.point_error, "{:.1%}"),
                _fmt(frame.rotation_error_deg, "{:.2f}"),
                _fmt(frame.translation_error_deg, "{:.2f}"),
                _fmt(frame.sampson_error_px, "{:.2f}"),
                _fmt(frame.depth_agreement, "{:.1%}"),
                _fmt(frame.consistent_fraction, "{:.1%}"),
                verdict,
            )
        return table

    def status(self) -> str:
        """One line: the verdict, and which checks it rests on (it never claims more than the checks that ran).

        "consistent" only when every check of :data:`CHECKS` ran and passed on every frame; with checks
        that could not run, the line says the frames passed the ones that did and names the others.
        """
        frames = len(self.frames)
        ran = ", ".join(self.checks) or "none"
        if not self.ok:
            suspect = len(self.suspect_frames)
            text = f"{suspect} of {frames} frame(s) suspect" if suspect else f"no suspect frame of {frames}"
            if self.issues:
                text += f", {len(self.issues)} issue(s) with the whole reconstruction"
            return f"{text} (checks run: {ran})"
        if not self.checks:
            return f"nothing checked: no check could run on {frames} frame(s)"
        if set(self.checks) == set(CHECKS):
            return f"all {frames} frame(s) consistent (all {len(CHECKS)} checks ran: {ran})"
        missing = [name for name in CHECKS if name not in self.checks]
        return (
            f"no suspect frame of {frames} on the {len(self.checks)} check(s) that ran ({ran}); "
            f"not run: {', '.join(missing)}"
        )

    def check_lines(self) -> list[str]:
        """One line per check that ran: how many frames fail it and the median measurement vs its limit."""
        t = self.thresholds
        measured: dict[str, list[tuple[str, str, float, str]]] = {
            "points": [("point_error", "depth vs point head", t.point_error, "{:.1%}")],
            "camera": [
                ("rotation_error_deg", "rotation", t.rotation_deg, "{:.1f}°"),
                ("translation_error_deg", "translation direction", t.translation_deg, "{:.1f}°"),
            ],
            "epipolar": [("sampson_error_px", "Sampson error", t.sampson_px, "{:.2f} px")],
            "depth": [("depth_agreement", "multi-view depth agreement", t.min_depth_agreement, "{:.0%}")],
        }
        lines = []
        for name in self.checks:
            failing = sum(name in frame.failed for frame in self.frames)
            parts = []
            for attribute, label, limit, spec in measured.get(name, []):
                values = [v for v in (getattr(f, attribute) for f in self.frames) if v is not None and math.isfinite(v)]
                bound = "min" if name == "depth" else "max"
                if values:
                    parts.append(f"{label} median {spec.format(float(np.median(values)))} ({bound} {spec.format(limit)})")
            lines.append(f"{name:<9} {failing} of {len(self.frames)} fail" + (": " + ", ".join(parts) if parts else ""))
        return lines

    def print_summary(self, console: Console | None = None) -> None:
        """Print the verdict line, one line per check, the suspect frames' indices, skipped checks and issues."""
        from rich.console import Console

        console = console or Console()
        console.print(self.status(), markup=False, highlight=False)
        for line in self.check_lines():
            console.print(f"  {line}", markup=False, highlight=False)
        if self.suspect_frames:
            console.print(f"  suspect frames: {_ranges(self.suspect_frames)}", markup=False, highlight=False)
        for check_name, why in self.skipped.items():
            console.print(f"  {check_name} check not run: {why}", markup=False, highlight=False)
        for issue in self.issues:
            console.print(f"  [bold red]issue:[/bold red] {issue}")

    def print_table(self, console: Console | None = None) -> None:
        """Print the summary, then the per-frame table and the reasons of suspect frames."""
        from rich.console import Console

        console = console or Console()
        self.print_summary(console)
        console.print(self.to_table())
        for frame in self.frames:
            for reason in frame.reasons:
                console.print(f"  frame {frame.index} ({frame.name}): {reason}", markup=False, highlight=False)


def _ranges(indices: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2, 5, 7-8"``."""
    parts: list[str] = []
    start = previous = indices[0]
    for index in [*indices[1:], None]:
        if index is not None and index == previous + 1:
            previous = index
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if index is not None:
            start = previous = index
    return ", ".join(parts)




def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None or not math.isfinite(value) else spec.format(value)


