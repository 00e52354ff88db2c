"""Long sequences: peak memory, time and trajectory error vs sequence length, with and without windows.

For each length (default 32, 64, 128 frames) a synthetic orbit (vggt_py.data.synthetic) is rendered and
reconstructed by the bundled model at a small size, once in one forward pass and once in windows
(``--window``/``--overlap``); each run happens in a fresh child process so its peak memory is its own
(``ru_maxrss`` on CPU, ``torch.cuda.max_memory_allocated`` on CUDA). ATE (after Sim(3) alignment, scene
units) of both, and of COLMAP (vggt_py.data.colmap_baseline, over the frames it registers) on the same
frames with ``--colmap``. Run from the repository root::

    python benchmarks/long_sequence.py                          # 32 64 128 frames, 70 px, window 16/4
    python benchmarks/long_sequence.py --lengths 32 64 --size 112 --colmap --json out.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import time
from pathlib import Path

import numpy as np


def _scene(length: int, size: int, seed: int):
    from vggt_py.data.synthetic import SceneConfig, generate_scene

    config = SceneConfig(num_frames=length, height=size, width=size, num_tracks=0, baseline=0.08 * length)
    return generate_scene(config, seed)


def _run(args: tuple[int, int, int, int | None, int, str], queue: mp.Queue) -> None:
    length, size, seed, window, overlap, device = args
    import torch

    from vggt_py import VGGT
    from vggt_py.evaluation import absolute_trajectory_error
    from vggt_py.inference.api import reconstruct
    from vggt_py.inference.images import ImageBatch

    scene = _scene(length, size, seed)
    images = torch.from_numpy(scene.images).permute(0, 3, 1, 2).float() / 255.0
    eye = torch.eye(3, dtype=torch.float64).repeat(length, 1, 1)
    batch = ImageBatch(
        images, tuple(Path(f"f{i:04d}.png") for i in range(length)), (None,) * length, ((size, size),) * length,
        eye, torch.tensor([[0, 0, size, size]] * length), "crop",
    )
    model = VGGT.from_pretrained("bundled", device=device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    rec = reconstruct(batch, model, device=device, window=window, overlap=overlap if window else None)
    seconds = time.perf_counter() - start
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    frames = rec.metadata.get("windowed", {}).get("frames", list(range(length)))
    ate = absolute_trajectory_error(rec.extrinsics, scene.extrinsics[frames])["ate_rmse"]
    queue.put({"seconds": seconds, "peak_bytes": int(peak), "ate": ate, "frames": len(frames)})


def measure(length: int, size: int, seed: int, window: int | None, overlap: int, device: str) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_run, args=((length, size, seed, window, overlap, device), queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def colmap_ate(length: int, size: int, seed: int) -> dict:
    from vggt_py.data.colmap_baseline import run_colmap
    from vggt_py.evaluation import absolute_trajectory_error

    scene = _scene(length, size, seed)
    start = time.perf_counter()
    result = run_colmap(scene.images, seed=seed)
    seconds = time.perf_counter() - start
    ok = result.registered
    ate = (
        absolute_trajectory_error(result.extrinsics[ok], scene.extrinsics[ok])["ate_rmse"]
        if ok.sum() >= 3
        else float("nan")
    )
    return {"seconds": seconds, "ate": ate, "frames": int(ok.sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--size", type=int, default=70, help="square frame size (a multiple of 14)")
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--overlap", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--colmap", action="store_true", help="also run the COLMAP baseline")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import torch

    machine = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, device {args.device}"
    rows = []
    print(f"# {machine}; bundled model, {args.size}x{args.size}, window {args.window}/{args.overlap}")
    print("| frames | mode | time s | peak MiB | ATE | frames kept |")
    print("|---|---|---|---|---|---|")
    for length in args.lengths:
        for window in (None, args.window):
            r = measure(length, args.size, args.seed, window, args.overlap, args.device)
            mode = "one pass" if window is None else f"windows {args.window}/{args.overlap}"
            rows.append({"frames": length, "mode": mode, **r})
            print(f"| {length} | {mode} | {r['seconds']:.1f} | {r['peak_bytes'] / 2**20:.0f} | {r['ate']:.4f} | {r['frames']} |")
        if args.colmap:
            r = colmap_ate(length, args.size, args.seed)
            rows.append({"frames": length, "mode": "colmap", **r})
            print(f"| {length} | COLMAP | {r['seconds']:.1f} | - | {r['ate']:.4f} | {r['frames']} |")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
