"""Held-out evaluation of the bundled model, its untrained twin and the classical pycolmap pipeline.

Every scene goes through the user-facing demo path (:func:`vggt_py.inference.demo.run_demo`: render,
write, ``load_images``, ``reconstruct``, score, consistency checks). The untrained twin is the same
architecture with the library's initialisation (``torch.manual_seed(0)``); pycolmap runs SIFT,
exhaustive matching and incremental mapping with the true intrinsics (cameras only).

    python benchmarks/bundled_model_eval.py --scenes 20 --json eval.json

The model card's numbers and ``vggt_py/assets/models/small-synthetic/eval.json`` come from this script.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vggt_py.bundled import BUNDLED_MODEL, bundled_model_dir
from vggt_py.config import VGGTConfig
from vggt_py.data.synthetic import SceneConfig, generate_scene
from vggt_py.evaluation.baseline import evaluate_colmap_baseline
from vggt_py.inference.demo import DEFAULT_SEED, demo_image_size, run_demo
from vggt_py.model import VGGT
from vggt_py.utils.io import atomic_write_text

# Held-out seeds of the model card: clear of training (0..1799), validation (1_000_000..) and the demo's.
EVAL_SEED_START = 1_002_000
# Metrics shown in the model card (all are in the JSON).
CARD_METRICS = (
    "camera/auc@30",
    "camera/auc@15",
    "camera/auc@5",
    "camera/rra@15",
    "camera/rta@15",
    "depth/abs_rel",
    "depth/delta<1.25",
    "points/chamfer",
    "consistency/ok_fraction",
)


def _model_metrics(net: VGGT, seed: int, frames: int, difficulty: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        report = run_demo(tmp, model=net, seed=seed, frames=frames, difficulty=difficulty, device="cpu")
    metrics = dict(report.metrics)
    verdicts = [not frame.failed for frame in report.consistency.frames]
    metrics["consistency/ok_fraction"] = float(np.mean(verdicts)) if verdicts else math.nan
    return metrics


def _colmap_metrics(net: VGGT, seed: int, frames: int, difficulty: str) -> dict[str, float]:
    width, height = demo_image_size(net.config.img_size, net.config.patch_size)
    config = SceneConfig.preset(difficulty, num_frames=frames, height=height, width=width, num_tracks=0)
    metrics, _ = evaluate_colmap_baseline(generate_scene(config, seed), known_intrinsics=True)
    return metrics


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for row in rows for k in row})
    out = {}
    for key in keys:
        values = [row[key] for row in rows if key in row and math.isfinite(row[key])]
        out[key] = float(np.mean(values)) if values else math.nan
    return out


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(bundled_model_dir(BUNDLED_MODEL)), help="trained model folder")
    parser.add_argument("--scenes", type=int, default=20)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--difficulty", default="default", choices=("easy", "default", "hard"))
    parser.add_argument("--seed-start", type=int, default=EVAL_SEED_START)
    parser.add_argument("--skip", nargs="*", default=(), choices=("untrained", "colmap"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the results here (atomically)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    trained = VGGT.from_pretrained(args.model).eval()
    torch.manual_seed(0)
    untrained = VGGT(VGGTConfig.from_dict(trained.config.to_dict())).eval()
    seeds = list(range(args.seed_start, args.seed_start + args.scenes))
    runs = {"trained": lambda s: _model_metrics(trained, s, args.frames, args.difficulty)}
    if "untrained" not in args.skip:
        runs["untrained"] = lambda s: _model_metrics(untrained, s, args.frames, args.difficulty)
    if "colmap" not in args.skip:
        runs["pycolmap"] = lambda s: _colmap_metrics(trained, s, args.frames, args.difficulty)

    per_scene: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    seconds: dict[str, float] = {name: 0.0 for name in runs}
    for seed in seeds:
        for name, run in runs.items():
            start = time.perf_counter()
            per_scene[name].append(run(seed))
            seconds[name] += time.perf_counter() - start
        print(f"seed {seed}: " + ", ".join(f"{n} AUC@30 {per_scene[n][-1].get('camera/auc@30', math.nan):.3f}" for n in runs),
              flush=True)
    fixed = _model_metrics(trained, DEFAULT_SEED, args.frames, "default")
    summary = {name: _mean(rows) for name, rows in per_scene.items()}

    width, height = demo_image_size(trained.config.img_size, trained.config.patch_size)
    result = {
        "model": args.model,
        "heldout": {"difficulty": args.difficulty, "frames": args.frames, "width": width, "height": height,
                    "seeds": [seeds[0], seeds[-1]] if seeds else []},
        "mean": summary,
        "seconds_per_scene": {n: seconds[n] / max(len(seeds), 1) for n in runs},
        "fixed_scene": {"seed": DEFAULT_SEED, "difficulty": "default", "frames": args.frames, "metrics": fixed},
        "per_scene": per_scene,
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
                   f"torch {torch.__version__}",
    }
    header = "| metric | " + " | ".join(runs) + " |"
    print(header)
    print("|---|" + "---:|" * len(runs))
    for key in CARD_METRICS:
        cells = [summary[n].get(key, math.nan) for n in runs]
        print(f"| {key} | " + " | ".join("—" if not math.isfinite(c) else f"{c:.3f}" for c in cells) + " |")
    print("fixed scene:", {k: round(v, 4) for k, v in fixed.items() if k in CARD_METRICS})
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(_clean(result), indent=1, allow_nan=False) + "\n")


if __name__ == "__main__":
    main()
