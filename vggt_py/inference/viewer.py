"""An interactive 3-D viewer of a reconstruction in the browser, built on viser (``pip install 'vggt-py[view]'``).

:func:`start_viewer` serves, on ``http://HOST:PORT`` (viser's page and its websocket):

* the point cloud, with a live **confidence percentile** slider (the filter of ``vggt-py reconstruct
  --conf-percentile``: confidence at or above that percentile of all frames' content pixels) and a
  **consistent points only** toggle (the mask of ``--filter consistent``); at most ``max_points`` points
  are sent, a fixed random subset of those that pass;
* one camera frustum per frame, textured with its photo and coloured by the frame's consistency verdict
  (green ok, red suspect, grey not checked);
* clicking a frustum (or picking a frame in the panel) shows that frame's photo, depth map, confidence
  map and verdict with its reasons;
* a scale bar with its length when the scale is known (``Reconstruction.scale_source`` other than
  ``"normalised"``: metres for distance and depth anchors, the poses' units for known poses).

The scene uses the reconstruction's world frame (frame 0's camera, OpenCV axes) with ``-y`` as the up
direction. :meth:`Reconstruction.view` is the one-call form. viser is imported only when a viewer
starts; without it an ImportError says how to install it.

This module reads reconstructions through their attributes and methods only, so it never imports
:mod:`~vggt_py.inference.reconstruction`.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vggt_py.geometry import mat_to_quat
from vggt_py.inference.visuals import (
    CONFIDENCE_CMAP,
    DEPTH_CMAP,
    VERDICT_RGB,
    colorize,
    confidence_range,
    depth_range,
    frame_verdicts,
    scale_units,
    scene_size,
    thumbnail,
    valid_depth_mask,
)

__all__ = ["CONSISTENCY_FILES", "ReconstructionViewer", "find_consistency", "import_viser", "nice_length", "start_viewer"]

# Where a reconstruct output folder keeps a consistency report: `vggt-py check`'s, then the visual report's.
CONSISTENCY_FILES: tuple[str, ...] = ("consistency.json", "report/consistency.json")
_CAMERA_FRACTION = 0.05  # frustum depth as a fraction of the scene size
_POINT_FRACTION = 0.004  # point size as a fraction of the scene size
_TEXTURE_SIZE = 160  # longer side of the photos on the frusta, pixels


def import_viser() -> Any:
    """The viser module, or an ImportError saying how to install it."""
    try:
        import viser
    except ImportError as err:
        raise ImportError(
            "the viewer needs viser, which is not installed: pip install 'vggt-py[view]' (or pip install viser)"
        ) from err
    return viser


def find_consistency(folder: str | Path, num_frames: int) -> dict[str, Any] | None:
    """The first consistency report of :data:`CONSISTENCY_FILES` in ``folder`` that covers ``num_frames`` frames."""
    for name in CONSISTENCY_FILES:
        path = Path(folder) / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and isinstance(data.get("frames"), list) and len(data["frames"]) == num_frames:
            return data
    return None


def nice_length(size: float) -> float:
    """A round length (1, 2 or 5 times a power of ten) close to a fifth of ``size``."""
    if not (math.isfinite(size) and size > 0):
        raise ValueError(f"size must be a positive finite number, got {size!r}")
    target = size / 5
    power = 10.0 ** math.floor(math.log10(target))
    return min((m * power for m in (1, 2, 5, 10)), key=lambda length: abs(math.log(length / target)))


@dataclass
class _Candidates:
    """Every valid pixel as a point, in a fixed random order: what the filters choose from."""

    points: np.ndarray  # [N, 3] float32
    colors: np.ndarray  # [N, 3] uint8
    confidence: np.ndarray  # [N]
    consistent: np.ndarray | None  # [N] bool
    content_confidence: np.ndarray  # confidences of all content pixels (the percentile's population)


def _rotation_wxyz(rotation: np.ndarray) -> np.ndarray:
    quat = mat_to_quat(torch.as_tensor(np.asarray(rotation, dtype=np.float64))).numpy()  # x, y, z, w
    quat = quat / np.linalg.norm(quat)
    return np.array([quat[3], quat[0], quat[1], quat[2]])


class ReconstructionViewer:
    """A running viewer (see the module docstring); start one with :func:`start_viewer`.

    Attributes:
        server: the ``viser.ViserServer``.
        url: ``http://host:port`` it serves on.
        point_cloud: the point cloud's scene handle (``.points``, ``.colors``).
        frusta: one camera-frustum handle per frame with a finite pose (``None`` for the others).
        percentile_slider, consistent_checkbox, frame_dropdown: the panel's controls.
        verdicts: per-frame ``"ok"``, ``"suspect"`` or None (not checked).
        scale_bar, scale_length, scale_label: the scale bar's line handle, length and text (None without a known scale).
    """

    def __init__(
        self,
        rec: Any,
        *,
        consistency: Any = None,
        check_consistency: bool = True,
        host: str = "127.0.0.1",
        port: int = 8080,
        conf_percentile: float = 50.0,
        max_points: int = 300_000,
        seed: int = 0,
    ) -> None:
        if not 0 <= conf_percentile <= 100:
            raise ValueError(f"conf_percentile must be in [0, 100], got {conf_percentile}")
        if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
            raise ValueError(f"max_points must be a positive integer, got {max_points!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer in [0, 65535] (0: any free port), got {port!r}")
        viser = import_viser()
        self.rec = rec
        self.max_points = max_points
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        mask = None
        if consistency is not None and not isinstance(consistency, Mapping):
            mask = getattr(consistency, "mask", None)
        self.verdicts, self.reasons = frame_verdicts(consistency, len(rec))
        self._candidates = self._prepare(mask, seed)
        self.checks_done = threading.Event()  # set once the background checks (if any) have finished
        self.checks_error: str | None = None
        background = check_consistency and len(rec) > 1 and mask is None

        with contextlib.redirect_stdout(io.StringIO()):  # viser prints a banner; the caller prints the URL
            self.server = viser.ViserServer(host=host, port=port, verbose=False)
        shown_host = "localhost" if host in ("0.0.0.0", "::", "") else host
        self.url = f"http://{shown_host}:{self.server.get_port()}"
        try:
            self._build(conf_percentile, pending=background)
        except BaseException:
            self.stop()
            raise
        if background:  # the page is served meanwhile; the toggle and the verdicts arrive when done
            thread = threading.Thread(target=self._run_checks, args=(consistency is None,), daemon=True)
            thread.start()
        else:
            self.checks_done.set()

    def _run_checks(self, full: bool) -> None:
        """The consistency checks in a background thread: verdicts (``full``) and the consistent mask."""
        try:
            if full:
                report = self.rec.check()
                mask = report.mask
                verdicts, reasons = frame_verdicts(report, len(self.rec))
            else:
                mask, verdicts, reasons = None, self.verdicts, self.reasons
            if mask is None:
                from vggt_py.inference.consistency import consistent_mask

                mask = consistent_mask(self.rec)
            valid = self.rec.mask()
            with self._lock:
                if self._stopped.is_set():
                    return
                self._candidates.consistent = np.asarray(mask, dtype=bool)[valid][self._order]
                self.verdicts, self.reasons = verdicts, reasons
                for frustum, verdict in zip(self.frusta, verdicts):
                    if frustum is not None:
                        frustum.color = VERDICT_RGB[verdict]
                self.consistent_checkbox.disabled = False
                self._pending = False
                self.summary_text.content = self._summary()
                index, self.selected_frame = self.selected_frame, -1
                self.select_frame(index)
        except Exception as err:  # shown in the panel; the viewer keeps serving without the checks
            self.checks_error = f"{type(err).__name__}: {err}"
            with self._lock:
                self._pending = False
                if not self._stopped.is_set():
                    self.summary_text.content = self._summary()
        finally:
            self.checks_done.set()

    # ------------------------------------------------------------------------------ data
    def _prepare(self, mask: np.ndarray | None, seed: int) -> _Candidates:
        rec = self.rec
        content = rec.content_mask()
        valid = rec.mask()  # content, positive finite depth, finite points
        order = self._order = np.random.default_rng(seed).permutation(int(valid.sum()))
        conf = rec.confidence()
        return _Candidates(
            points=np.asarray(rec.points()[valid], dtype=np.float32)[order],
            colors=np.asarray(rec.colors[valid], dtype=np.uint8)[order],
            confidence=np.asarray(conf[valid])[order],
            consistent=None if mask is None else np.asarray(mask, dtype=bool)[valid][order],
            content_confidence=np.asarray(conf[content]),
        )

    def selection(self, conf_percentile: float, consistent_only: bool = False) -> np.ndarray:
        """Indices (into the candidates) of the points shown for these filter settings, at most ``max_points``."""
        if not 0 <= conf_percentile <= 100:
            raise ValueError(f"conf_percentile must be in [0, 100], got {conf_percentile}")
        cand = self._candidates
        keep = np.ones(len(cand.points), dtype=bool)
        if cand.content_confidence.size:
            keep &= cand.confidence >= np.percentile(cand.content_confidence, conf_percentile)
        if consistent_only:
            if cand.consistent is None:
                raise ValueError("no consistent mask: the viewer was started without the consistency checks")
            keep &= cand.consistent
        return np.flatnonzero(keep)[: self.max_points]

    # ----------------------------------------------------------------------------- scene
    def _build(self, conf_percentile: float, pending: bool) -> None:
        rec, server = self.rec, self.server
        cand = self._candidates
        size = scene_size(cand.points[: self.max_points], rec.camera_centers)
        self.scene_size = size
        server.scene.set_up_direction("-y")
        server.scene.world_axes.visible = False
        self._place_camera(size)
        first = self.selection(conf_percentile)
        self.point_cloud = server.scene.add_point_cloud(
            "/points", cand.points[first], cand.colors[first], point_size=_POINT_FRACTION * size, point_shape="rounded",
            precision="float32",  # float16 (viser's default) loses millimetres a few metres out
        )
        height, width = rec.image_size
        self.frusta: list[Any] = []
        for i in range(len(rec)):
            extrinsic = np.asarray(rec.extrinsics[i], dtype=np.float64)
            if not np.isfinite(extrinsic).all():
                self.frusta.append(None)
                continue
            rot, trans = extrinsic[:, :3], extrinsic[:, 3]
            fy = float(rec.intrinsics[i][1, 1])
            frustum = server.scene.add_camera_frustum(
                f"/cameras/frame_{i:04d}",
                fov=2 * math.atan2(height / 2, fy),
                aspect=width / height,
                scale=_CAMERA_FRACTION * size,
                color=VERDICT_RGB[self.verdicts[i]],
                thickness=2.0,
                thickness_units="screen",
                image=thumbnail(np.asarray(rec.colors[i], dtype=np.uint8), _TEXTURE_SIZE),
                format="jpeg",
                wxyz=_rotation_wxyz(rot.T),
                position=-rot.T @ trans,
            )
            frustum.on_click(lambda _event, index=i: self.select_frame(index))
            self.frusta.append(frustum)
        self.scale_bar = self._add_scale_bar(size)
        self._pending = pending
        self._build_panel(conf_percentile, len(first))

    def _place_camera(self, size: float) -> None:
        """Start the browser's camera behind and a little above the first camera, looking where it looks."""
        rec = self.rec
        finite = [i for i in range(len(rec)) if np.isfinite(rec.extrinsics[i]).all()]
        if not finite:
            return
        extrinsic = np.asarray(rec.extrinsics[finite[0]], dtype=np.float64)
        rot = extrinsic[:, :3]
        center = -rot.T @ extrinsic[:, 3]
        down, forward = rot[1], rot[2]  # the camera's y and z axes in the world
        depth = np.asarray(rec.depth[finite[0]])
        valid = np.isfinite(depth) & (depth > 0)
        distance = float(np.median(depth[valid])) if valid.any() else 0.3 * size
        camera = self.server.initial_camera
        camera.look_at = tuple(float(v) for v in center + distance * forward)
        camera.position = tuple(float(v) for v in center - 0.1 * size * forward - 0.15 * size * down)
        camera.up = tuple(float(v) for v in -down)

    def _add_scale_bar(self, size: float) -> Any:
        units = scale_units(self.rec.scale_source)
        self.scale_length: float | None = None
        self.scale_label: str | None = None
        if units is None:
            return None
        length = nice_length(size)
        points = self._candidates.points[: self.max_points]
        if len(points):
            low, high = np.percentile(points, [5, 95], axis=0)
            start = np.array([low[0], high[1], low[2]])  # low x, bottom (y is down), near
        else:
            start = np.asarray(self.rec.camera_centers[0], dtype=np.float64)
        end = start + np.array([length, 0.0, 0.0])
        bar = self.server.scene.add_line_segments(
            "/scale_bar/line", np.array([[start, end]], dtype=np.float32), (255, 160, 0), thickness=4, thickness_units="screen"
        )
        self.scale_length, self.scale_label = length, f"{length:g} {units}"
        self.server.scene.add_label("/scale_bar/label", self.scale_label, position=(start + end) / 2, anchor="bottom-center")
        return bar

    def _summary(self) -> str:
        rec = self.rec
        suspect = sum(v == "suspect" for v in self.verdicts)
        units = scale_units(rec.scale_source)
        if self.checks_error is not None:
            checks = f"consistency checks failed: {self.checks_error}"
        elif any(v is not None for v in self.verdicts):
            checks = f"consistency: {suspect} suspect frame(s) of {len(rec)}"
        elif self._pending:
            checks = "consistency: checking..."
        else:
            checks = "consistency: not checked"
        if self._pending:
            checks += " (the consistent toggle is enabled when the checks are done)"
        lines = [
            f"**{len(rec)} frames**, {len(self._candidates.points):,} valid points",
            f"scale: {rec.scale_source}" + (f", bar: {self.scale_label}" if units else " (VGGT's own, no units)"),
            checks,
            "frusta: green ok, red suspect, grey not checked; click one to see its maps",
        ]
        return "  \n".join(lines)

    def _build_panel(self, conf_percentile: float, shown: int) -> None:
        rec, gui = self.rec, self.server.gui
        cand = self._candidates
        self.summary_text = gui.add_markdown(self._summary())
        self.percentile_slider = gui.add_slider(
            "conf percentile", min=0, max=100, step=1, initial_value=float(conf_percentile),
            hint="keep points at or above this percentile of the depth confidence",
        )
        self.consistent_checkbox = gui.add_checkbox(
            "consistent only", False, disabled=cand.consistent is None,
            hint="only points that neighbouring views confirm (--filter consistent)",
        )
        self.point_size_slider = gui.add_slider(
            "point size", min=0.1, max=5.0, step=0.1, initial_value=1.0, hint="relative to the default size"
        )
        self.count_text = gui.add_markdown(self._count_line(shown))
        self.percentile_slider.on_update(lambda _event: self.refresh())
        self.consistent_checkbox.on_update(lambda _event: self.refresh())
        self.point_size_slider.on_update(
            lambda _event: setattr(self.point_cloud, "point_size", _POINT_FRACTION * self.scene_size * self.point_size_slider.value)
        )
        with gui.add_folder("Frame"):
            options = [f"{i}: {name}" for i, name in enumerate(rec.names)]
            self.frame_dropdown = gui.add_dropdown("frame", options, initial_value=options[0])
            self.frame_text = gui.add_markdown("")
            blank = np.full((8, 8, 3), 200, dtype=np.uint8)
            self.photo_image = gui.add_image(blank, label="photo", format="jpeg")
            self.depth_image = gui.add_image(blank, label="depth", format="png")
            self.confidence_image = gui.add_image(blank, label="confidence", format="png")
        self.frame_dropdown.on_update(lambda _event: self.select_frame(options.index(self.frame_dropdown.value)))
        self._valid = valid_depth_mask(rec)
        self._depth_range = depth_range(rec)
        self._confidence_range = confidence_range(rec)
        self.selected_frame = -1
        self.select_frame(0)

    def _count_line(self, shown: int) -> str:
        return f"{shown:,} points shown (at most {self.max_points:,})"

    # ------------------------------------------------------------------------------ live
    def refresh(self) -> int:
        """Apply the panel's filter settings to the point cloud; returns the number of points shown."""
        with self._lock:
            chosen = self.selection(float(self.percentile_slider.value), bool(self.consistent_checkbox.value))
            cand = self._candidates
            with self.server.atomic():
                self.point_cloud.points = cand.points[chosen]
                self.point_cloud.colors = cand.colors[chosen]
                self.count_text.content = self._count_line(len(chosen))
            return len(chosen)

    def select_frame(self, index: int) -> None:
        """Show frame ``index``'s photo, depth, confidence and verdict in the panel."""
        rec = self.rec
        if not 0 <= index < len(rec):
            raise IndexError(f"frame {index} out of range for {len(rec)} frames")
        with self._lock:
            if index == self.selected_frame:
                return
            self.selected_frame = index
            low, high = self._depth_range
            conf_low, conf_high = self._confidence_range
            verdict = self.verdicts[index] or "not checked"
            width, height = (int(v) for v in rec.original_sizes[index])
            text = f"**{index}: {rec.names[index]}** ({width} × {height}) — {verdict}  \n"
            text += f"depth {low:.3g} – {high:.3g} (turbo, near = blue); confidence {conf_low:.3g} – {conf_high:.3g} (log)"
            if self.reasons[index]:
                text += "\n\n" + "\n".join(f"- {reason}" for reason in self.reasons[index])
            self.frame_text.content = text
            self.photo_image.image = thumbnail(np.asarray(rec.colors[index], dtype=np.uint8), 320)
            self.depth_image.image = thumbnail(colorize(rec.depth[index], self._valid[index], DEPTH_CMAP, low, high), 320)
            conf = colorize(rec.depth_conf[index], self._valid[index], CONFIDENCE_CMAP, conf_low, conf_high, log=True)
            self.confidence_image.image = thumbnail(conf, 320)
            options = self.frame_dropdown.options
            if self.frame_dropdown.value != options[index]:
                self.frame_dropdown.value = options[index]

    # ---------------------------------------------------------------------------- control
    def wait(self) -> None:
        """Block until :meth:`stop` (from another thread) or Ctrl-C (KeyboardInterrupt propagates)."""
        while not self._stopped.wait(0.5):
            pass

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        server = getattr(self, "server", None)
        if server is not None:
            with contextlib.redirect_stdout(io.StringIO()):
                server.stop()

    def __enter__(self) -> ReconstructionViewer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_viewer(
    rec: Any,
    *,
    consistency: Any = None,
    check_consistency: bool = True,
    host: str = "127.0.0.1",
    port: int = 8080,
    conf_percentile: float = 50.0,
    max_points: int = 300_000,
    seed: int = 0,
) -> ReconstructionViewer:
    """Serve ``rec`` in the browser and return the running viewer (it serves until :meth:`~ReconstructionViewer.stop`).

    Args:
        rec: a :class:`~vggt_py.inference.reconstruction.Reconstruction`.
        consistency: a ``ConsistencyReport`` or its JSON dict (e.g. :func:`find_consistency`) for the
            frame verdicts. When None and ``check_consistency``, :meth:`Reconstruction.check` is run
            first (seconds to a minute on many frames); a dict has no mask, so the consistent mask is
            then computed (:func:`~vggt_py.inference.consistency.consistent_mask`).
        check_consistency: False: no checks; the toggle is disabled and frusta without a given report are grey.
        host, port: where to listen (127.0.0.1: this machine only; 0.0.0.0: every interface). Port 0
            picks a free port; a port in use makes viser take the next free one (see ``url``).
        conf_percentile: the slider's initial value.
        max_points: most points sent to the browser.
    """
    return ReconstructionViewer(
        rec,
        consistency=consistency,
        check_consistency=check_consistency,
        host=host,
        port=port,
        conf_percentile=conf_percentile,
        max_points=max_points,
        seed=seed,
    )
