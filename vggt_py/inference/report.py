"""The visual report of a reconstruction: ``report.html`` and small PNGs in one folder, readable offline.

:func:`write_report` writes, into one folder:

* ``report.html`` -- one self-contained page (inline CSS, no script, no network): the run's summary,
  settings and timings, a top and a side view of cameras and points, the per-frame consistency
  figures and table, and per frame its photo, depth map, confidence map and the pixels the
  multi-view depth check keeps;
* ``top_view.png``, ``side_view.png``, ``consistency.png``, ``depth_colorbar.png``,
  ``confidence_colorbar.png`` -- matplotlib (Agg) figures;
* ``frame_0000_photo.png``, ``frame_0000_depth.png``, ``frame_0000_confidence.png``,
  ``frame_0000_consistent.png``... -- per frame, at most ``thumbnail_size`` pixels on the longer side,
  coloured with matplotlib's colour maps over ranges common to all frames (:mod:`~vggt_py.inference.visuals`);
* ``consistency.json`` -- the consistency report shown (``ConsistencyReport.to_dict``), which
  ``vggt-py view`` reuses for its frame verdicts.

:func:`~vggt_py.inference.export.export` writes it as the ``report`` format (folder ``report/``),
staged and swapped in with the other files. Views use the reconstruction's world frame (frame 0's
camera, OpenCV axes): the top view looks down the camera's ``+y`` (down) axis, showing ``x`` across and
``z`` (forward) up the page; the side view shows ``z`` across and ``-y`` (up) up the page.
"""

from __future__ import annotations

import datetime
import html
import json
import math
import os
import time
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vggt_py.inference.reconstruction import Reconstruction
from vggt_py.inference.selection import PointSelection, check_exportable, select_points
from vggt_py.inference.visuals import (
    CONFIDENCE_CMAP,
    DEPTH_CMAP,
    VERDICT_RGB,
    colorize,
    confidence_range,
    depth_range,
    frame_verdicts,
    frustum_corners,
    import_matplotlib,
    png_bytes,
    scale_units,
    scene_size,
    thumbnail,
    valid_depth_mask,
)
from vggt_py.utils.io import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from vggt_py.inference.consistency_report import ConsistencyReport

__all__ = ["REPORT_CONSISTENCY", "REPORT_HTML", "referenced_files", "write_report"]

REPORT_HTML = "report.html"
REPORT_CONSISTENCY = "consistency.json"
_DEFAULT_PERCENTILE = 50.0
_CAMERA_FRACTION = 0.05  # frustum depth in the views, as a fraction of the scene size
_FIGURE_DPI = 100
# (FrameConsistency field, axis label, threshold field, scale for display, check name) of the consistency figure
_METRICS: tuple[tuple[str, str, str, float, str], ...] = (
    ("point_error", "point error (% of depth)", "point_error", 100.0, "points"),
    ("rotation_error_deg", "rotation error (°)", "rotation_deg", 1.0, "camera"),
    ("translation_error_deg", "translation error (°)", "translation_deg", 1.0, "camera"),
    ("sampson_error_px", "Sampson error (px)", "sampson_px", 1.0, "epipolar"),
    ("depth_agreement", "depth agreement (%)", "min_depth_agreement", 100.0, "depth"),
)


def write_report(
    rec: Reconstruction,
    folder: str | os.PathLike[str],
    *,
    consistency: ConsistencyReport | Mapping[str, Any] | None = None,
    check_consistency: bool = True,
    selection: PointSelection | None = None,
    settings: Mapping[str, Any] | None = None,
    timings: Mapping[str, float] | None = None,
    title: str | None = None,
    max_points: int = 10_000,
    thumbnail_size: int = 256,
    seed: int = 0,
) -> Path:
    """Write the report of ``rec`` into ``folder`` (created; files written atomically); returns ``report.html``.

    Args:
        consistency: the consistency report to show (a :class:`ConsistencyReport` or its ``to_dict()``).
            When None and ``check_consistency``, :meth:`Reconstruction.check` is run (its time is listed
            in the timings); with ``check_consistency=False`` the report has no consistency section.
        selection: the points to draw in the views (e.g. the export's); default: confidence at or
            above the 50th percentile. At most ``max_points`` of them are drawn (random, ``seed``).
        settings: the run's settings, shown as a table (name -> value).
        timings: the run's stage durations in seconds (name -> seconds).
        thumbnail_size: longer side of the per-frame pictures, pixels.
    """
    check_exportable(rec)
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
        raise ValueError(f"max_points must be a positive integer, got {max_points!r}")
    if isinstance(thumbnail_size, bool) or not isinstance(thumbnail_size, int) or not 16 <= thumbnail_size <= 4096:
        raise ValueError(f"thumbnail_size must be an integer in [16, 4096], got {thumbnail_size!r}")
    timings = dict(timings or {})
    for name, seconds in timings.items():
        if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise ValueError(f"timings[{name!r}]: expected a number of seconds, got {seconds!r}")
    import_matplotlib()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    if consistency is None and check_consistency:
        start = time.perf_counter()
        consistency = rec.check()
        timings["consistency check (report)"] = time.perf_counter() - start
    start = time.perf_counter()
    data = _consistency_dict(consistency)
    verdicts, reasons = frame_verdicts(data, len(rec))
    if selection is None:
        selection = select_points(rec, conf_percentile=_DEFAULT_PERCENTILE)
    drawn = selection.subsample(max_points, seed)

    files: dict[str, bytes] = {}
    size = scene_size(drawn.xyz, rec.camera_centers)
    units = scale_units(rec.scale_source)
    files["top_view.png"] = _view_figure(rec, drawn, verdicts, "top", size, units)
    files["side_view.png"] = _view_figure(rec, drawn, verdicts, "side", size, units)
    low, high = depth_range(rec)
    conf_low, conf_high = confidence_range(rec)
    files["depth_colorbar.png"] = _colorbar(DEPTH_CMAP, low, high, False, f"depth ({units or 'normalised units'})")
    files["confidence_colorbar.png"] = _colorbar(CONFIDENCE_CMAP, conf_low, conf_high, True, "depth confidence")
    mask = getattr(consistency, "mask", None) if consistency is not None and not isinstance(consistency, Mapping) else None
    valid = valid_depth_mask(rec)
    frame_files: list[dict[str, str]] = []
    for i in range(len(rec)):
        stem = f"frame_{i:04d}"
        names = {"photo": f"{stem}_photo.png", "depth": f"{stem}_depth.png", "confidence": f"{stem}_confidence.png"}
        files[names["photo"]] = png_bytes(thumbnail(np.asarray(rec.colors[i], dtype=np.uint8), thumbnail_size))
        depth = colorize(rec.depth[i], valid[i], DEPTH_CMAP, low, high)
        files[names["depth"]] = png_bytes(thumbnail(depth, thumbnail_size))
        conf = colorize(rec.depth_conf[i], valid[i], CONFIDENCE_CMAP, conf_low, conf_high, log=True)
        files[names["confidence"]] = png_bytes(thumbnail(conf, thumbnail_size))
        if mask is not None:
            names["consistent"] = f"{stem}_consistent.png"
            files[names["consistent"]] = png_bytes(thumbnail(_kept_overlay(rec.colors[i], mask[i], valid[i]), thumbnail_size))
        frame_files.append(names)
    if data is not None and data.get("checks"):
        files["consistency.png"] = _consistency_figure(data)
    timings["report figures"] = time.perf_counter() - start

    for name, content in files.items():
        atomic_write_bytes(out / name, content)
    if data is not None:
        atomic_write_text(out / REPORT_CONSISTENCY, json.dumps(data, indent=2) + "\n")
    page = _page(rec, title, settings or {}, timings, data, verdicts, reasons, frame_files, files, len(selection), len(drawn), units)
    target = out / REPORT_HTML
    atomic_write_text(target, page)
    return target


def referenced_files(html_path: str | os.PathLike[str]) -> list[str]:
    """The relative paths a report page refers to (``src`` and ``href`` attributes), in order of appearance.

    Absolute URLs (``http:``, ``data:``...) and in-page anchors (``#frames``) are listed too, so a caller
    can check that a report needs nothing but its own folder.
    """
    parser = _LinkParser()
    parser.feed(Path(html_path).read_text(encoding="utf-8"))
    return parser.links


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("src", "href") and value is not None:
                self.links.append(value)


# ---------------------------------------------------------------------------------------------
# Figures


def _consistency_dict(consistency: Any) -> dict[str, Any] | None:
    if consistency is None:
        return None
    if isinstance(consistency, Mapping):
        return json.loads(json.dumps(dict(consistency)))  # a plain copy, checked to be JSON-able
    if not hasattr(consistency, "to_dict"):
        raise TypeError(f"consistency: expected a ConsistencyReport or its to_dict(), got {type(consistency).__name__}")
    return consistency.to_dict()


def _figure_png(fig: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_FIGURE_DPI)
    return buffer.getvalue()


def _view_figure(
    rec: Reconstruction,
    drawn: PointSelection,
    verdicts: list[str | None],
    which: str,
    size: float,
    units: str | None,
) -> bytes:
    """Top (``x`` across, ``z`` up the page) or side (``z`` across, ``-y`` up) view of points and cameras."""
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    axes_index, signs, labels = ((0, 2), (1.0, 1.0), ("x", "z (forward)")) if which == "top" else ((2, 1), (1.0, -1.0), ("z (forward)", "-y (up)"))
    unit = units or "normalised units"
    fig = Figure(figsize=(5.2, 4.6))
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.11, top=0.93)  # fixed margins: no layout pass
    ax = fig.add_subplot()
    xy = drawn.xyz[:, axes_index] * np.asarray(signs)
    if len(xy):
        ax.scatter(xy[:, 0], xy[:, 1], s=3.0, c=drawn.rgb / 255.0, marker=".", linewidths=0)
    height, width = rec.image_size
    depth = _CAMERA_FRACTION * size
    centers, segments, colours = [], [], []
    label_every = max(1, len(rec) // 30)  # at most ~30 frame labels
    for i in range(len(rec)):
        if not np.isfinite(rec.extrinsics[i]).all():
            continue
        corners = frustum_corners(rec.extrinsics[i], rec.intrinsics[i], height, width, depth)[:, axes_index] * np.asarray(signs)
        colour = np.asarray(VERDICT_RGB[verdicts[i]]) / 255.0
        segments += [corners[[0, k]] for k in range(1, 5)] + [corners[[k, k % 4 + 1]] for k in range(1, 5)]
        colours += [colour] * 8
        if i % label_every == 0:
            ax.annotate(str(i), corners[0], fontsize=7, color=colour, xytext=(2, 2), textcoords="offset points")
        centers.append(corners[0])
    if segments:
        ax.add_collection(LineCollection(segments, colors=colours, linewidths=0.8))
    if centers or len(xy):
        everything = np.concatenate([xy.reshape(-1, 2), np.asarray(centers).reshape(-1, 2)])
        low, high = np.percentile(xy, [1, 99], axis=0) if len(xy) else (everything.min(0), everything.max(0))
        if centers:
            low, high = np.minimum(low, np.min(centers, axis=0)), np.maximum(high, np.max(centers, axis=0))
        margin = 0.05 * max(float(np.max(high - low)), 1e-6)
        ax.set_xlim(low[0] - margin, high[0] + margin)
        ax.set_ylim(low[1] - margin, high[1] + margin)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"{labels[0]} ({unit})")
    ax.set_ylabel(f"{labels[1]} ({unit})")
    ax.set_title(f"{'Top' if which == 'top' else 'Side'} view: {len(xy):,} points, {len(centers)} cameras", fontsize=10)
    ax.grid(True, linewidth=0.3, alpha=0.5)
    return _figure_png(fig)


def _colorbar(cmap: str, low: float, high: float, log: bool, label: str) -> bytes:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.figure import Figure

    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(4.0, 0.8))
    fig.subplots_adjust(left=0.05, right=0.93, bottom=0.55, top=0.9)
    ax = fig.add_subplot()
    norm = LogNorm(low, high) if log else Normalize(low, high)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=ax, orientation="horizontal", label=label)
    if log:  # plain numbers (1.5, 2, 3), not powers of ten
        plain = FuncFormatter(lambda value, _: f"{value:.3g}")
        bar.ax.xaxis.set_major_formatter(plain)
        bar.ax.xaxis.set_minor_formatter(plain)
        bar.ax.tick_params(which="minor", labelsize=7)
    return _figure_png(fig)


def _consistency_figure(data: Mapping[str, Any]) -> bytes:
    """One bar chart per measured quantity: a bar per frame, red where the frame failed that check."""
    from matplotlib.figure import Figure

    frames = data["frames"]
    thresholds = data.get("thresholds", {})
    shown = [m for m in _METRICS if any(f.get(m[0]) is not None for f in frames)]
    height = 1.5 * max(len(shown), 1) + 0.8
    fig = Figure(figsize=(7.5, height))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.45 / height, top=1 - 0.35 / height, hspace=0.3)
    axes = fig.subplots(max(len(shown), 1), 1, sharex=True, squeeze=False)[:, 0]
    index = np.arange(len(frames))
    for ax, (key, label, limit_key, factor, check_name) in zip(axes, shown):
        values = np.array([np.nan if f.get(key) is None else float(f[key]) * factor for f in frames])
        colours = [
            np.asarray(VERDICT_RGB["suspect" if check_name in f.get("failed", []) else "ok"]) / 255.0 for f in frames
        ]
        ax.bar(index, np.nan_to_num(values), color=colours, width=0.8)
        limit = thresholds.get(limit_key)
        if isinstance(limit, (int, float)):
            ax.axhline(limit * factor, color="black", linestyle="--", linewidth=0.8, label="threshold")
        for i in np.flatnonzero(~np.isfinite(values)):
            ax.annotate("–", (i, 0), ha="center", va="bottom", fontsize=8, color="grey")
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    if not shown:
        axes[0].text(0.5, 0.5, "no per-frame measurement", ha="center", va="center", transform=axes[0].transAxes)
    axes[-1].set_xticks(index if len(frames) <= 40 else index[:: max(1, len(frames) // 20)])
    axes[-1].set_xlabel("frame")
    fig.suptitle("Consistency per frame (red: the frame fails that check; dashed: threshold)", fontsize=9)
    return _figure_png(fig)


def _kept_overlay(colors: np.ndarray, kept: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The photo where the consistent mask keeps a pixel, a dark red tint where it drops a valid one, grey elsewhere."""
    image = np.asarray(colors, dtype=np.float32)
    dropped = valid & ~kept
    image[dropped] = 0.35 * image[dropped] + 0.65 * np.array([150.0, 0.0, 0.0])
    image[~valid] = 200.0
    return image.clip(0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# The page

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
th { background: #eee; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #287a3c; font-weight: bold; } .suspect { color: #c62828; font-weight: bold; } .none { color: #777; }
.views img { max-width: 48%; margin-right: 1%; }
.frame { display: inline-block; vertical-align: top; margin: 0 1em 1.2em 0; padding: 0.5em;
         background: white; border: 1px solid #ddd; border-top: 4px solid #888; }
.frame.ok { border-top-color: #287a3c; font-weight: normal; color: inherit; }
.frame.suspect { border-top-color: #c62828; font-weight: normal; color: inherit; }
.frame img { display: inline-block; margin-right: 0.3em; }
.frame figure { display: inline-block; margin: 0 0.3em 0 0; }
.frame figcaption { font-size: 0.75em; color: #555; }
.caption { font-size: 0.85em; color: #555; max-width: 60em; }
.reasons { font-size: 0.8em; color: #c62828; margin: 0.3em 0 0 0; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value)
    elif value is None:
        text = "–"
    else:
        text = str(value)
    return html.escape(text)


def _rows(items: Mapping[str, Any]) -> str:
    return "\n".join(f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in items.items())


def _fmt(value: Any, spec: str) -> str:
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return spec.format(value)


def _verdict_span(verdict: str | None) -> str:
    return f'<span class="{verdict or "none"}">{html.escape(verdict or "not checked")}</span>'


def _consistency_section(data: Mapping[str, Any] | None, files: Mapping[str, bytes]) -> str:
    if data is None:
        return "<h2 id='consistency'>Consistency</h2><p class='caption'>Not checked for this report.</p>"
    suspect = data.get("suspect_frames", [])
    status = "all frames consistent" if data.get("ok") else f"{len(suspect)} suspect frame(s): {suspect}"
    parts = [
        "<h2 id='consistency'>Consistency</h2>",
        f"<p>{html.escape(status)}; checks run: {html.escape(', '.join(data.get('checks', [])) or 'none')}.</p>",
    ]
    for name, why in data.get("skipped", {}).items():
        parts.append(f"<p class='caption'>{html.escape(name)} check skipped: {html.escape(str(why))}</p>")
    for issue in data.get("issues", []):
        parts.append(f"<p class='reasons'>issue: {html.escape(str(issue))}</p>")
    if "consistency.png" in files:
        parts.append('<p><img src="consistency.png" alt="consistency per frame"></p>')
    header = "".join(
        f"<th>{h}</th>" for h in ("#", "frame", "points", "rot °", "trans °", "Sampson px", "depth agree", "kept", "verdict")
    )
    rows = []
    for f in data.get("frames", []):
        cells = [
            str(f.get("index")),
            html.escape(str(f.get("name"))),
            _fmt(f.get("point_error"), "{:.1%}"),
            _fmt(f.get("rotation_error_deg"), "{:.2f}"),
            _fmt(f.get("translation_error_deg"), "{:.2f}"),
            _fmt(f.get("sampson_error_px"), "{:.2f}"),
            _fmt(f.get("depth_agreement"), "{:.1%}"),
            _fmt(f.get("consistent_fraction"), "{:.1%}"),
        ]
        verdict = f.get("verdict") if data.get("checks") else None
        row = "".join(f"<td class='num'>{c}</td>" if k not in (1,) else f"<td>{c}</td>" for k, c in enumerate(cells))
        rows.append(f"<tr>{row}<td>{_verdict_span(verdict)}</td></tr>")
    parts.append(f"<table><tr>{header}</tr>{''.join(rows)}</table>")
    parts.append(
        "<p class='caption'>points: median |X<sub>depth</sub> − X<sub>head</sub>| / depth; rot/trans: camera head vs "
        "the pose the point map implies (relative poses); Sampson: epipolar error of correspondences; depth agree: "
        "share of reprojected depth that neighbouring views confirm; kept: share of valid pixels the consistent "
        "mask keeps (<code>--filter consistent</code>).</p>"
    )
    return "\n".join(parts)


def _frames_section(
    rec: Reconstruction, verdicts: list[str | None], reasons: list[list[str]], frame_files: list[dict[str, str]]
) -> str:
    parts = [
        "<h2 id='frames'>Frames</h2>",
        "<p class='caption'>Per frame: the model input, its depth map and depth confidence (colour scales below, "
        "common to all frames; grey: padding or no valid depth) and, when the multi-view check ran, the pixels "
        "the consistent mask keeps (dropped ones tinted red). The coloured bar on top is the frame's verdict.</p>",
        '<p><img src="depth_colorbar.png" alt="depth colour scale"> '
        '<img src="confidence_colorbar.png" alt="confidence colour scale"></p>',
    ]
    captions = {"photo": "photo", "depth": "depth", "confidence": "confidence", "consistent": "consistent pixels"}
    for i, names in enumerate(frame_files):
        width, height = (int(v) for v in rec.original_sizes[i])
        figures = "".join(
            f'<figure><img src="{html.escape(name)}" alt="frame {i} {kind}"><figcaption>{captions[kind]}</figcaption></figure>'
            for kind, name in names.items()
        )
        why = "".join(f"<div>{html.escape(r)}</div>" for r in reasons[i])
        parts.append(
            f"<div class='frame {verdicts[i] or 'none'}' id='frame-{i}'><div><b>{i}</b> {html.escape(rec.names[i])} "
            f"<span class='caption'>({width} × {height})</span> {_verdict_span(verdicts[i])}</div>"
            f"{figures}{f'<div class=reasons>{why}</div>' if why else ''}</div>"
        )
    return "\n".join(parts)


def _page(
    rec: Reconstruction,
    title: str | None,
    settings: Mapping[str, Any],
    timings: Mapping[str, float],
    data: Mapping[str, Any] | None,
    verdicts: list[str | None],
    reasons: list[list[str]],
    frame_files: list[dict[str, str]],
    files: Mapping[str, bytes],
    selected: int,
    drawn: int,
    units: str | None,
) -> str:
    height, width = rec.image_size
    meta = rec.metadata
    summary = {
        "frames": len(rec),
        "model": rec.model_name or "–",
        "model input": f"{width} × {height} ({meta.get('mode', '?')})",
        "device / dtype": f"{meta.get('device', '?')} / {meta.get('dtype', '?')}",
        "point source": rec.point_source,
        "scale": f"{rec.scale_source} ({units})" if units else f"{rec.scale_source} (VGGT's own, no units)",
        "points in the views": f"{drawn:,} of {selected:,} selected",
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    timing_rows = "\n".join(
        f"<tr><th>{html.escape(name)}</th><td class='num'>{seconds:.2f} s</td></tr>" for name, seconds in timings.items()
    )
    total = sum(timings.values())
    body = [
        f"<h1>{html.escape(title or 'vggt-py reconstruction report')}</h1>",
        "<p><a href='#views'>views</a> · <a href='#consistency'>consistency</a> · <a href='#frames'>frames</a></p>",
        f"<table>{_rows(summary)}</table>",
        "<h2 id='settings'>Settings</h2>",
        f"<table>{_rows(settings)}</table>" if settings else "<p class='caption'>No settings were recorded.</p>",
        "<h2 id='timings'>Timings</h2>",
        f"<table>{timing_rows}<tr><th>total</th><td class='num'>{total:.2f} s</td></tr></table>",
        "<h2 id='views'>Cameras and points</h2>",
        "<div class='views'><img src='top_view.png' alt='top view'><img src='side_view.png' alt='side view'></div>",
        "<p class='caption'>World frame: frame 0's camera (OpenCV axes: x right, y down, z forward). Top view: "
        "looking down (along +y), forward = up the page; side view: seen from the right (+x), forward = right, "
        "up = −y. Cameras are coloured by "
        "verdict (green ok, red suspect, grey not checked) and labelled with their frame index.</p>",
        _consistency_section(data, files),
        _frames_section(rec, verdicts, reasons, frame_files),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title or 'vggt-py report')}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
