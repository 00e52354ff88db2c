"""Where the peak memory of one VGGT-1B forward pass goes, before and after the lean changes.

Each configuration runs in a fresh subprocess: the model is loaded (``from_pretrained`` of a folder
holding the VGGT-1B architecture with the shared deterministic recipe weights, written once by
``--make-weights``), the weights are paged in by a one-frame warm-up pass, the heap is trimmed
(``malloc_trim``) and the peak RSS is reset (``/proc/self/clear_refs``); the figure is the rise of
the peak RSS (``VmHWM``) over the RSS before the pass. Phases are measured the same way, with the
peak reset at each boundary (forward hooks on the patch embedding, aggregator and heads), so the
largest phase is the peak. ``--impl before=DIR`` runs an older checkout of the package (e.g. one
unpacked with ``git archive <commit> vggt_py | tar -x -C DIR``) in the same run.

Run from the repository root (CPU; about 2-4 minutes per configuration on 2 cores)::

    python benchmarks/memory_breakdown.py --make-weights /tmp/vggt1b_recipe
    python benchmarks/memory_breakdown.py --weights /tmp/vggt1b_recipe --frames 4 8 16 \\
        --dtype fp32 bf16 --impl before=/tmp/vggt_before_src after=.

    # GPU (not run in this session): peak is torch.cuda.max_memory_allocated above the weights
    python benchmarks/memory_breakdown.py --weights /tmp/vggt1b_recipe --device cuda \\
        --frames 100 1000 2000 --dtype bf16 --impl after=.

``fp32`` is the default mode; ``bf16`` with the "before" code is bf16 autocast over fp32 weights
(the only low-precision mode it has), with the "after" code weights stored in bf16
(``from_pretrained(..., dtype="bf16")``). Weight memory is reported separately.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PHASE_MODULES = (
    "aggregator.patch_embed",
    "aggregator",
    "camera_head",
    "depth_head",
    "point_head",
    "track_head",
)


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _trim_and_reset() -> float:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mib("VmRSS")


def make_weights(folder: Path, recipe_path: Path) -> None:
    """Write config.json and model.safetensors of VGGT-1B with the recipe weights."""
    import torch
    from safetensors.torch import save_file

    from vggt_py import VGGT, VGGTConfig

    spec = importlib.util.spec_from_file_location("weight_recipe", recipe_path)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in VGGT(VGGTConfig()).state_dict().items()}
    state = {k: recipe.recipe_tensor(k, s).contiguous() for k, s in shapes.items()}
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / "model.safetensors.tmp"))
    os.replace(folder / "model.safetensors.tmp", folder / "model.safetensors")
    VGGTConfig().to_json(folder / "config.json")


class PhaseMeter:
    """Peak RSS rise per phase; the peak is reset at every hook boundary."""

    def __init__(self, model, base_mib: float):
        self.base = base_mib
        self.current = "start"
        self.peaks: dict[str, float] = {}
        self.handles = []
        for name in PHASE_MODULES:
            try:
                module = model.get_submodule(name)
            except AttributeError:
                continue
            if module is None:
                continue
            short = name.split(".")[-1]
            self.handles.append(module.register_forward_pre_hook(lambda m, a, n=short: self.boundary(n)))
            self.handles.append(module.register_forward_hook(lambda m, a, o, n=short: self.boundary(f"after {n}")))

    def boundary(self, next_phase: str) -> None:
        peak = _status_mib("VmHWM") - self.base
        self.peaks[self.current] = max(self.peaks.get(self.current, 0.0), peak)
        self.current = next_phase
        Path("/proc/self/clear_refs").write_text("5")

    def close(self) -> dict[str, float]:
        self.boundary("end")
        for h in self.handles:
            h.remove()
        return self.peaks


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(args.src).resolve()))
    import torch

    import vggt_py
    from vggt_py import VGGT

    assert Path(vggt_py.__file__).resolve().is_relative_to(Path(args.src).resolve()), vggt_py.__file__
    device = args.device
    frames = args.frames[0]
    rss0 = _trim_and_reset()
    lean_bf16 = args.dtype == "bf16" and args.lean_dtype
    t0 = time.perf_counter()
    if lean_bf16:
        model = VGGT.from_pretrained(args.weights, device=device, dtype="bf16")
    else:
        model = VGGT.from_pretrained(args.weights, device=device)
    load_s = time.perf_counter() - t0
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=args.dtype == "bf16" and not lean_bf16)

    def images(frames: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(frames)
        return torch.rand(frames, 3, args.height, args.width, generator=g).to(device)

    with torch.inference_mode(), autocast:  # page the weights in (and any lazily built state)
        model(images(1))
    if device == "cuda":
        torch.cuda.synchronize()
        weights_mib = torch.cuda.memory_allocated() / 2**20
    else:
        weights_mib = _trim_and_reset() - rss0
    x = images(frames)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
        meter = None
    else:
        base = _trim_and_reset()
        meter = PhaseMeter(model, base) if args.phases else None
    t0 = time.perf_counter()
    with torch.inference_mode(), autocast:
        out = model(x)
    if device == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20 - base
        phases = {}
    else:
        phases = meter.close() if meter is not None else {}
        peak = max(phases.values()) if phases else _status_mib("VmHWM") - base
    depth = out["depth"].float()
    result = {
        "frames": frames,
        "dtype": args.dtype,
        "weights_mib": weights_mib,
        "peak_mib": peak,
        "seconds": elapsed,
        "load_s": load_s,
        "phases": phases,
        "depth_checksum": float(depth.double().mean()),
    }
    if args.save_outputs:
        from safetensors.torch import save_file

        keep = {k: v.float().contiguous() for k, v in out.items() if isinstance(v, torch.Tensor) and k != "images"}
        save_file(keep, args.save_outputs)
    print("RESULT " + json.dumps(result), flush=True)


def run_child(src: str, frames: int, dtype: str, args: argparse.Namespace, lean_dtype: bool) -> dict:
    cmd = [
        sys.executable, __file__, "--child", "--src", src, "--weights", str(args.weights),
        "--frames", str(frames), "--dtype", dtype, "--height", str(args.height), "--width", str(args.width),
        "--device", args.device,
    ]
    if args.phases:
        cmd.append("--phases")
    if lean_dtype:
        cmd.append("--lean-dtype")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--make-weights", type=Path, help="write the recipe-weight VGGT-1B folder here and exit")
    parser.add_argument("--recipe", type=Path, default=SHARED / "parity" / "weight_recipe.py")
    parser.add_argument("--weights", type=Path, help="folder written by --make-weights")
    parser.add_argument("--frames", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--dtype", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--impl", nargs="+", default=["after=."], help="NAME=DIR of a checkout holding vggt_py/")
    parser.add_argument("--height", type=int, default=392)
    parser.add_argument("--width", type=int, default=518)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--phases", action="store_true", help="also report the peak of each phase (CPU)")
    parser.add_argument("--json", type=Path, help="also write all results here")
    # internal: one configuration in this process
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    parser.add_argument("--lean-dtype", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--save-outputs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_weights:
        sys.path.insert(0, str(REPO))
        make_weights(args.make_weights, args.recipe)
        return 0
    if args.weights is None:
        parser.error("--weights is required (write the folder once with --make-weights)")
    if args.child:
        child(args)
        return 0

    import torch

    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    rows = []
    print(f"| impl | dtype | frames | weights (MiB) | peak above weights (MiB) | s/frame | largest phases (MiB) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for spec in args.impl:
        name, _, src = spec.partition("=")
        for dtype in args.dtype:
            for frames in args.frames:
                row = run_child(src or ".", frames, dtype, args, lean_dtype=name != "before")
                row["impl"] = name
                rows.append(row)
                top = sorted(row["phases"].items(), key=lambda kv: -kv[1])[:3]
                phases = ", ".join(f"{k} {v:.0f}" for k, v in top)
                print(
                    f"| {name} | {dtype} | {frames} | {row['weights_mib']:.0f} | {row['peak_mib']:.0f} "
                    f"| {row['seconds'] / frames:.1f} | {phases} |",
                    flush=True,
                )
    print(f"# {machine}; {args.height}x{args.width}; peak RSS rise over the trimmed heap, fresh process each")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
