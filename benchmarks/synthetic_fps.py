"""Throughput of the synthetic scene generator (CPU ray casting), in frames per second.

Each measurement generates ``--scenes`` scenes of ``--frames`` frames with ``--objects`` objects
(default preset otherwise, 256 ground-truth tracks) and divides the frames by the wall time.
With ``--workers 2`` the scenes are spread over 2 processes (as a 2-worker data loader would),
each pinned to one BLAS thread. Run from the repository root::

    python benchmarks/synthetic_fps.py                       # 224x224 and 518x392, 1 and 2 workers
    python benchmarks/synthetic_fps.py --sizes 518x392 --workers 2 --scenes 8 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the renderer does not use BLAS; avoid idle spinners

from vggt_py.data.synthetic import SceneConfig, generate_scene


def _render(args: tuple[SceneConfig, int]) -> int:
    config, seed = args
    return generate_scene(config, seed).num_frames


def measure(config: SceneConfig, scenes: int, workers: int) -> float:
    """Frames per second generating ``scenes`` scenes (seeds 1000..) with ``workers`` processes."""
    jobs = [(config, 1000 + i) for i in range(scenes)]
    if workers == 1:
        _render((config, 999))  # warm-up (imports, allocator)
        start = time.perf_counter()
        frames = sum(map(_render, jobs))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_render, [(config, 999)] * workers))  # warm-up every worker
            start = time.perf_counter()
            frames = sum(pool.map(_render, jobs))
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["224x224", "518x392"], help="WxH sizes")
    parser.add_argument("--frames", type=int, default=8, help="frames per scene")
    parser.add_argument("--objects", type=int, default=8, help="objects per scene")
    parser.add_argument("--scenes", type=int, default=4, help="scenes per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="process counts to try")
    parser.add_argument("--supersample", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()

    results = []
    print(
        f"{'size':>9} {'workers':>7} {'frames/s':>9}   ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, load {os.getloadavg()[0]:.2f})"
    )
    for size in args.sizes:
        width, height = (int(x) for x in size.lower().split("x"))
        config = SceneConfig(
            num_frames=args.frames,
            height=height,
            width=width,
            num_objects=args.objects,
            supersample=args.supersample,
        )
        for workers in args.workers:
            fps = measure(config, args.scenes, workers)
            results.append({"width": width, "height": height, "workers": workers, "fps": fps})
            print(f"{size:>9} {workers:>7} {fps:9.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"frames": args.frames, "objects": args.objects, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
