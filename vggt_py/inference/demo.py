"""``vggt-py demo``: reconstruct a held-out synthetic scene and score it against its exact ground truth.

:func:`run_demo` renders a procedural scene (:func:`vggt_py.data.generate_scene`) that no training run
has seen, writes it as a scene folder ``OUT/scene`` (images, depth, cameras), reconstructs the images
through the same public path as for photos (:func:`~vggt_py.inference.images.load_images` and
:func:`~vggt_py.inference.api.reconstruct`; the bundled model by default), evaluates the result with
:mod:`vggt_py.evaluation`, runs the consistency checks (:mod:`vggt_py.inference.consistency`) and
writes ``OUT/scene.glb``, ``OUT/reconstruction.npz`` and ``OUT/report.json``.

Held-out scenes: the bundled model's recipe (``recipe:bundled_small_stage1`` and ``2``) trains on seeds
0..1799 and validates on 1000000..1000007, so the demo only accepts seeds from
:data:`HELD_OUT_SEED_START` on and defaults to :data:`DEFAULT_SEED`, past the validation seeds.

The scene is rendered at the model's input size (width ``img_size``, height the multiple of the
patch size nearest ``3/4`` of it: 224 x 168 for the bundled model), so the images reach the model
without resampling and predictions and ground truth share one pixel grid.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import torch

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rich.console import Console

    from vggt_py.data.synthetic import SyntheticScene
    from vggt_py.inference.api import DtypeName
    from vggt_py.inference.consistency import ConsistencyReport
    from vggt_py.inference.images import ImageBatch
    from vggt_py.inference.reconstruction import Reconstruction
    from vggt_py.model import VGGT

__all__ = [
    "DEFAULT_FRAMES",
    "DEFAULT_OUT",
    "DEFAULT_SEED",
    "HELD_OUT_SEED_START",
    "REPORT_NAME",
    "SCENE_DIR",
    "TARGETS",
    "DemoReport",
    "Target",
    "check_demo_arguments",
    "demo_image_size",
    "print_report",
    "run_demo",
]

HELD_OUT_SEED_START = 1_000_000  # training used seeds 0..1799
DEFAULT_SEED = HELD_OUT_SEED_START + 1_000  # clear of the validation seeds 1000000..1000007
DEFAULT_FRAMES = 8
DEFAULT_OUT = Path("vggt_demo")
REPORT_NAME = "report.json"
SCENE_DIR = "scene"
REPORT_FORMAT = "vggt-py-demo"
REPORT_VERSION = 1
POINT_SAMPLES = 20_000  # points per cloud for the Chamfer distances (fast without scipy too)
_CONF_PERCENTILE = 50.0  # GLB points: the same default filter as `vggt-py reconstruct`
_EXPORT_FORMATS = ("glb", "npz")


class Target(NamedTuple):
    """A metric bound from the bundled model's issue, shown next to the measured value."""

    metric: str  # key of DemoReport.metrics
    op: Literal[">=", "<="]
    value: float

    def met(self, measured: float | None) -> bool | None:
        """Whether ``measured`` meets the bound (``None`` if it is missing or not finite)."""
        if measured is None or not math.isfinite(measured):
            return None
        return measured >= self.value if self.op == ">=" else measured <= self.value


TARGETS: tuple[Target, ...] = (Target("camera/auc@30", ">=", 0.6), Target("depth/abs_rel", "<=", 0.15))


@dataclass
class DemoReport:
    """Everything :func:`run_demo` measured and wrote (``files`` maps a role to its path)."""

    model: str  # the spec the model was loaded from, e.g. "bundled:small-synthetic"
    seed: int
    difficulty: str
    num_frames: int
    image_size: tuple[int, int]  # (width, height) of the scene = the model input
    device: str
    dtype: str
    metrics: dict[str, float]  # "group/metric" -> value (vggt_py.evaluation names; points_head/ = point head)
    consistency: ConsistencyReport
    files: dict[str, Path] = field(default_factory=dict)  # scene, glb, npz, report
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, and "total"

    def target_results(self) -> list[dict[str, Any]]:
        """One dict per :data:`TARGETS` entry: metric, op, target, value, met."""
        results = []
        for target in TARGETS:
            value = self.metrics.get(target.metric)
            results.append(
                {
                    "metric": target.metric,
                    "op": target.op,
                    "target": target.value,
                    "value": _finite_or_none(value),
                    "met": target.met(value),
                }
            )
        return results

    @property
    def targets_met(self) -> bool:
        """True when every target is met."""
        return all(result["met"] is True for result in self.target_results())

    def to_dict(self, relative_to: Path | None = None) -> dict[str, Any]:
        """A JSON-able dict (NaN and infinities become ``None``; paths relative to ``relative_to``)."""

        def path_text(path: Path) -> str:
            if relative_to is not None:
                try:
                    return str(path.relative_to(relative_to))
                except ValueError:
                    pass
            return str(path)

        width, height = self.image_size
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "model": self.model,
            "scene": {
                "seed": self.seed,
                "held_out": self.seed >= HELD_OUT_SEED_START,
                "difficulty": self.difficulty,
                "num_frames": self.num_frames,
                "width": width,
                "height": height,
            },
            "device": self.device,
            "dtype": self.dtype,
            "metrics": {key: _finite_or_none(value) for key, value in self.metrics.items()},
            "targets": self.target_results(),
            "consistency": self.consistency.to_dict(),
            "files": {role: path_text(path) for role, path in self.files.items()},
            "timings": {key: round(value, 4) for key, value in self.timings.items()},
        }


def _finite_or_none(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


# ---------------------------------------------------------------------------------------------
# The demo


def demo_image_size(img_size: int, patch_size: int) -> tuple[int, int]:
    """(width, height) of the demo scene: ``img_size`` wide, the patch multiple nearest ``3/4`` of it high."""
    if patch_size < 1 or img_size < patch_size or img_size % patch_size:
        raise ValueError(
            f"img_size must be a positive multiple of patch_size, got img_size={img_size}, patch_size={patch_size}"
        )
    return img_size, max(1, round(0.75 * img_size / patch_size)) * patch_size


def check_demo_arguments(seed: int, frames: int, difficulty: str) -> None:
    """Refuse a training seed, fewer than 2 frames or an unknown difficulty (``ValueError`` naming the argument)."""
    from vggt_py.data.synthetic import DIFFICULTIES

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < HELD_OUT_SEED_START:
        raise ValueError(
            f"seed must be an integer >= {HELD_OUT_SEED_START:_} (seeds below are training scenes), got {seed!r}"
        )
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 2:
        raise ValueError(f"frames must be an integer >= 2 (camera metrics need frame pairs), got {frames!r}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse a file, or a non-empty folder unless ``overwrite``; only the demo's own files get replaced."""
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{out_dir} is not empty; choose another folder, or overwrite=True (--overwrite) to replace the demo's "
            f"files in it ({SCENE_DIR}/, scene.glb, reconstruction.npz, {REPORT_NAME}; other files are left alone)"
        )


def _load(model: VGGT | str | os.PathLike[str] | None, device: torch.device, offline: bool) -> tuple[VGGT, str]:
    from vggt_py.bundled import bundled_spec
    from vggt_py.inference.api import load_model, model_name

    net = load_model(bundled_spec() if model is None else model, device, offline=offline)
    name = model_name(net)
    return net, name if name is not None else f"{type(net).__name__} object"  # unnamed: passed in


def _check_same_grid(batch: ImageBatch, scene: SyntheticScene) -> None:
    """The loaded images must be the rendered pixels, unresampled (identity original -> model transforms)."""
    assert tuple(batch.images.shape[-2:]) == (scene.height, scene.width), (
        f"model input {tuple(batch.images.shape[-2:])} differs from the rendered {(scene.height, scene.width)}"
    )
    identity = torch.eye(3, dtype=batch.transforms.dtype).expand_as(batch.transforms)
    assert torch.equal(batch.transforms, identity), "the images were resampled on loading"
    pixels = (batch.images.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(pixels, scene.images), "the loaded images differ from the rendered ones"


def _evaluate(rec: Reconstruction, scene: SyntheticScene) -> dict[str, float]:
    """Camera, depth and point metrics (depth-derived points; ``points_head/`` for the point head's map)."""
    from vggt_py.evaluation import evaluate_reconstruction, point_cloud_metrics

    gt = {
        "extrinsics": scene.extrinsics,
        "depth": scene.depths,
        "world_points": scene.world_points,
        "valid_mask": scene.valid_masks,
    }
    pred = {"extrinsics": rec.extrinsics, "depth": rec.depth, "world_points": rec.points("depth")}
    metrics = evaluate_reconstruction(pred, gt, max_points=POINT_SAMPLES)
    if rec.points_from_head is not None:
        head = point_cloud_metrics(
            rec.points_from_head, scene.world_points, scene.valid_masks, max_points=POINT_SAMPLES
        )
        metrics.update({f"points_head/{name}": value for name, value in head.items()})
    return metrics


@contextmanager
def _timed(timings: dict[str, float], key: str, progress: Callable[[str], None] | None, text: str) -> Iterator[None]:
    if progress is not None:
        progress(text)
    start = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - start


def run_demo(
    out_dir: str | os.PathLike[str] = DEFAULT_OUT,
    *,
    model: VGGT | str | os.PathLike[str] | None = None,
    seed: int = DEFAULT_SEED,
    frames: int = DEFAULT_FRAMES,
    difficulty: str = "default",
    device: str | torch.device | None = None,
    dtype: DtypeName | torch.dtype = "auto",
    overwrite: bool = False,
    offline: bool = False,
    progress: Callable[[str], None] | None = None,
) -> DemoReport:
    """Reconstruct a held-out synthetic scene, score it against its ground truth and write the results.

    Args:
        out_dir: output folder; it must be empty or absent unless ``overwrite``.
        model: a :class:`~vggt_py.model.VGGT`, or anything :func:`~vggt_py.inference.api.load_model`
            takes (hub id, folder, ``"bundled:NAME"``); ``None`` is the bundled model.
        seed: scene seed, ``>= HELD_OUT_SEED_START``.
        frames: views of the scene (``>= 2``).
        difficulty: ``"easy"``, ``"default"`` or ``"hard"`` (:meth:`SceneConfig.preset`).
        device: ``"cpu"``, ``"cuda"``... (default: CUDA when available).
        dtype: compute dtype, as for :func:`~vggt_py.inference.api.reconstruct`.
        overwrite: write into a non-empty ``out_dir``, replacing the demo's own files there.
        offline: never contact the Hugging Face hub (for a hub id given as ``model``).
        progress: called with a short description as each stage starts.

    Returns:
        A :class:`DemoReport`; the same content is in ``OUT/report.json``.

    Raises:
        ValueError: bad arguments, or a model without camera and depth heads.
        FileExistsError: ``out_dir`` is a file, or a non-empty folder without ``overwrite``.
        FileNotFoundError: the model cannot be found (``WeightsNotAvailableError`` for a hub id).
    """
    from vggt_py.data.scene_folder import write_scene_folder
    from vggt_py.data.synthetic import SceneConfig, generate_scene
    from vggt_py.inference.api import reconstruct, resolve_device
    from vggt_py.inference.export import export
    from vggt_py.inference.images import load_images
    from vggt_py.utils.io import atomic_write_text

    check_demo_arguments(seed, frames, difficulty)
    out = Path(out_dir)
    _check_out_dir(out, overwrite)
    dev = resolve_device(device)
    timings: dict[str, float] = {}
    start = time.perf_counter()

    with _timed(timings, "model", progress, "Loading the model"):
        net, name = _load(model, dev, offline)
    if net.camera_head is None or net.depth_head is None:
        raise ValueError(f"the demo needs a model with camera and depth heads; {name} lacks one")
    width, height = demo_image_size(net.config.img_size, net.config.patch_size)
    out.mkdir(parents=True, exist_ok=True)
    with _timed(timings, "scene", progress, f"Rendering a {width}x{height} scene ({frames} views)"):
        config = SceneConfig.preset(difficulty, num_frames=frames, height=height, width=width, num_tracks=0)
        scene = generate_scene(config, int(seed))
        scene_dir = write_scene_folder(scene, out / SCENE_DIR, overwrite=True)
    with _timed(timings, "inference", progress, "Reconstructing"):
        batch = load_images(
            scene_dir / "images", mode="crop", target_size=net.config.img_size, patch_size=net.config.patch_size
        )
        _check_same_grid(batch, scene)
        rec = reconstruct(batch, net, device=dev, dtype=dtype)
    with _timed(timings, "evaluation", progress, "Evaluating against the ground truth"):
        metrics = _evaluate(rec, scene)
    with _timed(timings, "consistency", progress, "Consistency checks"):
        consistency = rec.check()
    with _timed(timings, "export", progress, "Writing GLB and NPZ"):
        written = export(rec, out, _EXPORT_FORMATS, conf_percentile=_CONF_PERCENTILE, overwrite=overwrite)
    timings["total"] = time.perf_counter() - start

    report = DemoReport(
        model=name,
        seed=int(seed),
        difficulty=difficulty,
        num_frames=frames,
        image_size=(width, height),
        device=str(rec.metadata.get("device", dev)),
        dtype=str(rec.metadata.get("dtype", "")),
        metrics=metrics,
        consistency=consistency,
        files={"scene": scene_dir, **written, "report": out / REPORT_NAME},
        timings=timings,
    )
    text = json.dumps(report.to_dict(relative_to=out), indent=2, allow_nan=False)
    atomic_write_text(out / REPORT_NAME, text + "\n")
    return report


# ---------------------------------------------------------------------------------------------
# Printing


# (metric key, label, format) rows of the printed table, in order; missing keys are skipped.
_TABLE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("camera/auc@30", "camera AUC@30", "{:.3f}"),
    ("camera/auc@15", "camera AUC@15", "{:.3f}"),
    ("camera/auc@5", "camera AUC@5", "{:.3f}"),
    ("camera/rra@15", "camera RRA@15", "{:.3f}"),
    ("camera/rta@15", "camera RTA@15", "{:.3f}"),
    ("camera/rot_err_deg_median", "rotation error, median (°)", "{:.2f}"),
    ("camera/trans_err_deg_median", "translation error, median (°)", "{:.2f}"),
    ("depth/abs_rel", "depth AbsRel", "{:.3f}"),
    ("depth/delta<1.25", "depth δ<1.25", "{:.3f}"),
    ("points/chamfer", "points Chamfer (depth + cameras)", "{:.3f}"),
    ("points_head/chamfer", "points Chamfer (point head)", "{:.3f}"),
)


def _format(value: float | None, spec: str) -> str:
    return "–" if value is None or not math.isfinite(value) else spec.format(value)


def _consistency_line(consistency: ConsistencyReport) -> str:
    frames = len(consistency.frames)
    ok = frames - len(consistency.suspect_frames)
    failures: dict[str, int] = {}
    for frame in consistency.frames:
        for check in frame.failed:
            failures[check] = failures.get(check, 0) + 1
    parts = [f"{ok} of {frames} frames consistent"]
    if failures:
        parts.append("suspect by check: " + ", ".join(f"{check} {count}" for check, count in failures.items()))
    if consistency.skipped:
        parts.append("skipped: " + ", ".join(consistency.skipped))
    if consistency.issues:
        parts.append(f"{len(consistency.issues)} issue(s): " + "; ".join(consistency.issues))
    return "; ".join(parts)


def print_report(report: DemoReport, console: Console | None = None) -> None:
    """Print the metrics (with the :data:`TARGETS`), the consistency summary, the files and the timings."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console(highlight=False)
    width, height = report.image_size
    title = (
        f"[bold]vggt-py demo:[/bold] {escape(report.model)} on held-out synthetic scene {report.seed} "
        f"({report.difficulty}, {report.num_frames} views, {width}x{height})"
    )
    targets = {target.metric: target for target in TARGETS}
    table = Table()
    for header, justify in (("metric", "left"), ("value", "right"), ("target", "right"), ("", "left")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for key, label, spec in _TABLE_ROWS:
        if key not in report.metrics:
            continue
        value = report.metrics[key]
        target = targets.get(key)
        verdict = (
            {True: "[green]met[/green]", False: "[red]missed[/red]", None: ""}[target.met(value)] if target else ""
        )
        table.add_row(label, _format(value, spec), f"{target.op} {target.value:g}" if target else "", verdict)
    console.print(title, soft_wrap=True)
    console.print(table)
    console.print(f"[bold]consistency:[/bold] {escape(_consistency_line(report.consistency))}")
    for role, path in report.files.items():
        console.print(f"[bold]wrote {role}:[/bold] {escape(str(path))}")
    steps = ", ".join(f"{key} {seconds:.1f} s" for key, seconds in report.timings.items() if key != "total")
    console.print(f"[bold]time:[/bold] {report.timings.get('total', 0.0):.1f} s ({steps}) on {report.device}")
