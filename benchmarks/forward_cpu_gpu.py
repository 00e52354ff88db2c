"""Forward latency and peak memory of the VGGT-1B architecture.

Weights come from the shared deterministic recipe (``../shared/parity/weight_recipe.py``), which
gives realistic activation magnitudes without the real checkpoint. Run from the repository root::

    python benchmarks/forward_cpu_gpu.py --frames 1 2 4            # CPU, fp32, 518x392
    python benchmarks/forward_cpu_gpu.py --device cuda --dtype bf16 --frames 1 8 32 64 128 200 256

CPU peak memory is the rise of the process's peak RSS (``VmHWM``, reset before each run through
``/proc/self/clear_refs``) over its RSS before the forward pass; on CUDA it is
``torch.cuda.max_memory_allocated`` minus the memory held before the call. Latency is the median of
``--repeats`` runs after one warm-up (the warm-up is skipped on CPU with ``--repeats 1``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from vggt_py import VGGT, VGGTConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def recipe_module(path: Path):
    spec = importlib.util.spec_from_file_location("weight_recipe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_model(recipe_path: Path, device: str, dtype: torch.dtype) -> VGGT:
    recipe = recipe_module(recipe_path)
    with torch.device("meta"):
        model = VGGT(VGGTConfig())
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = {k: recipe.recipe_tensor(k, s).to(device=device) for k, s in shapes.items()}
    model.load_checkpoint_state_dict(state, assign=True)
    from vggt_py.hub import _materialise_buffers

    _materialise_buffers(model, device)
    return model.eval()


def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def run(model: VGGT, frames: int, height: int, width: int, device: str, dtype: str, repeats: int) -> dict:
    images = torch.rand(frames, 3, height, width, generator=torch.Generator().manual_seed(frames)).to(device)
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16 if dtype == "bf16" else torch.float16, enabled=dtype != "fp32")
    times = []
    peak = None
    for i in range(repeats + (1 if repeats > 1 else 0)):
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            _reset_peak_rss()
            base = _rss_mib("VmRSS")
        start = time.perf_counter()
        with torch.inference_mode(), autocast:
            out = model(images)
        if device == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        del out
        used = (torch.cuda.max_memory_allocated() - base) / 2**20 if device == "cuda" else _rss_mib("VmHWM") - base
        if repeats == 1 or i > 0:
            times.append(elapsed)
            peak = used if peak is None else max(peak, used)
    return {"frames": frames, "latency_s": statistics.median(times), "peak_mib": peak}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--height", type=int, default=392)
    parser.add_argument("--width", type=int, default=518)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--recipe", type=Path, default=SHARED / "parity" / "weight_recipe.py")
    parser.add_argument("--chunk", type=int, default=None, help="frames per dense-head pass (default: the config's)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    t0 = time.perf_counter()
    model = build_model(args.recipe, args.device, torch.float32)
    if args.chunk is not None:
        model.set_frames_chunk_size(args.chunk)
    print(f"# built VGGT-1B with recipe weights in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    machine = torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    rows = []
    chunk = model.config.depth_head.frames_chunk_size
    print(f"| frames | {args.height}x{args.width} {args.dtype} latency (s) | peak memory added (MiB) | head chunk {chunk} |")
    print("|---:|---:|---:|")
    for frames in args.frames:
        try:
            row = run(model, frames, args.height, args.width, args.device, args.dtype, args.repeats)
        except torch.OutOfMemoryError:
            print(f"| {frames} | out of memory | |")
            torch.cuda.empty_cache()
            break
        rows.append(row)
        print(f"| {frames} | {row['latency_s']:.2f} | {row['peak_mib']:.0f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "torch": torch.__version__, "dtype": args.dtype, "rows": rows}, indent=2))
    print(f"# machine: {machine}; torch {torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
