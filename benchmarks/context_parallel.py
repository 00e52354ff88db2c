"""Context-parallel inference: time and per-rank peak memory with 1, 2, ... processes.

Every configuration starts its ranks as fresh processes (gloo on loopback for CPU, NCCL for CUDA)
that build the same model (a named preset with seeded random weights, or ``--weights`` folder),
run one warm-up pass on 2 frames and then the timed pass on the whole scene, split evenly. CPU
memory is each rank's peak RSS rise over its trimmed heap before the pass (``VmHWM`` after
``/proc/self/clear_refs``); CUDA memory is ``max_memory_allocated`` above the weights. The result
of every rank count is compared with the single-process one (max abs difference of depth, points
and cameras). Run from the repository root::

    python benchmarks/context_parallel.py --preset small --frames 16 --ranks 1 2
    python benchmarks/context_parallel.py --weights /tmp/vggt1b_recipe --frames 8 --ranks 1 2 --threads 1

    # N GPUs (not run in this session): one process per GPU, NCCL
    python benchmarks/context_parallel.py --weights /path/VGGT-1B --device cuda --dtype bf16 \\
        --frames 1000 --ranks 1 2 4 8

The same split is what ``torchrun --nproc-per-node=N -m vggt_py.cli reconstruct ...`` runs.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = ("pose_enc", "depth", "world_points")


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def _trim_and_reset() -> float:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mib("VmRSS")


def worker(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist
    from safetensors.torch import save_file

    from vggt_py import VGGT, VGGTConfig
    from vggt_py.parallel import forward_distributed

    rank, world = args.rank, args.world
    torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"
    if cuda:
        torch.cuda.set_device(rank)
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    dist.init_process_group(
        "nccl" if cuda else "gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank, world_size=world,
        timeout=timedelta(minutes=30),
    )
    if args.weights:
        model = VGGT.from_pretrained(args.weights, device=device, dtype=None if args.dtype == "fp32" else args.dtype)
    else:
        torch.manual_seed(0)
        model = VGGT(VGGTConfig.from_preset(args.preset)).eval().to(device)
        if args.dtype != "fp32":
            model.set_weight_dtype(args.dtype)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(args.frames, 3, args.height, args.width, generator=g).to(device)
    with torch.inference_mode():
        forward_distributed(model, images[: max(world, 2)], gather="first")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _trim_and_reset()
    dist.barrier()
    start = time.perf_counter()
    with torch.inference_mode():
        out = forward_distributed(model, images, gather="first")
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if cuda else _status_mib("VmHWM") - base
    peaks: list = [None] * world
    dist.all_gather_object(peaks, peak)
    if rank == 0:
        save_file({k: out[k].float().cpu().contiguous() for k in KEYS}, args.out)
        print("RESULT " + json.dumps({"seconds": seconds, "peaks": peaks}), flush=True)
    dist.destroy_process_group()


def run(ranks: int, args: argparse.Namespace, out: Path) -> dict:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = [sys.executable, __file__, "--worker", "--world", str(ranks), "--port", str(port), "--out", str(out)]
    for key in ("preset", "weights", "frames", "height", "width", "device", "dtype", "threads"):
        value = getattr(args, key)
        if value is not None:
            base += [f"--{key}", str(value)]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(args.threads))
    procs = [subprocess.Popen(base + ["--rank", str(r)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for r in range(ranks)]
    outputs = [p.communicate() for p in procs]
    for p, (stdout, stderr) in zip(procs, outputs):
        if p.returncode:
            raise RuntimeError(f"rank failed:\n{stderr[-3000:]}")
    line = next(l for l in outputs[0][0].splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--weights", help="a from_pretrained folder instead of the preset")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rank", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--world", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.height is None or args.width is None:
        sys.path.insert(0, str(REPO))
        from vggt_py import VGGTConfig

        size = VGGTConfig.from_preset(args.preset).img_size if not args.weights else 518
        args.height = args.height or (size * 3 // 4 // 14 * 14 if size >= 392 else size)
        args.width = args.width or size
    if args.worker:
        worker(args)
        return 0
    import torch
    from safetensors.torch import load_file

    model = args.weights or f"preset {args.preset} (random weights)"
    print(f"| ranks | frames per rank | seconds | s/frame | peak memory per rank (MiB) | max diff vs 1 rank |")
    print("|---:|---|---:|---:|---|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        reference = None
        for ranks in args.ranks:
            out = Path(tmp) / f"out{ranks}.safetensors"
            row = run(ranks, args, out)
            got = load_file(str(out))
            reference = reference or got
            diff = max(float((got[k] - reference[k]).abs().max()) for k in KEYS)
            base, extra = divmod(args.frames, ranks)
            split = "/".join(str(base + (r < extra)) for r in range(ranks))
            peaks = ", ".join(f"{p:.0f}" for p in row["peaks"])
            print(f"| {ranks} | {split} | {row['seconds']:.1f} | {row['seconds'] / args.frames:.2f} | {peaks} "
                  f"| {diff:.1e} |", flush=True)
    print(f"# {model}, {args.height}x{args.width}, {args.dtype}, {args.device}, {args.threads} thread(s) per rank; "
          f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
