"""Accuracy cost of the low-precision modes on the parity fixtures (CPU).

For every fixture under ``$VGGT_PARITY_DIR`` (default ``../shared/parity``) and every mode, prints
the largest absolute difference of each output from the fixture's float32 reference, relative to
the reference's largest magnitude. Modes: ``fp32`` (default), ``autocast`` (bf16 autocast over
float32 weights) and ``bf16-weights`` (weights stored in bf16). ``--impl NAME=DIR`` runs another
checkout of the package in a subprocess (e.g. the code before a change)::

    python benchmarks/bf16_accuracy.py --impl before=/tmp/vggt_before_src after=.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
KEYS = ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf", "track", "vis", "conf")


def child(src: str, modes: list[str]) -> dict:
    sys.path.insert(0, str(Path(src).resolve()))
    import torch
    from safetensors.torch import load_file

    from vggt_py import VGGT

    root = Path(os.environ.get("VGGT_PARITY_DIR", SHARED / "parity"))
    rows = {}
    for case in sorted(p for p in root.iterdir() if (p / "outputs.safetensors").is_file()):
        inputs = load_file(str(case / "inputs.safetensors"))
        reference = load_file(str(case / "outputs.safetensors"))
        for mode in modes:
            model = VGGT.from_pretrained(case)
            if mode == "bf16-weights":
                if not hasattr(VGGT, "set_weight_dtype"):
                    continue  # this checkout cannot run bf16 weights
                model = VGGT.from_pretrained(case, dtype="bf16")
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "autocast"):
                out = model(inputs["images"], query_points=inputs.get("query_points"))
            rows[f"{case.name} {mode}"] = {
                k: float((out[k].float() - reference[k]).abs().max() / reference[k].abs().max())
                for k in KEYS
                if k in reference
            }
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", nargs="+", default=["after=."])
    parser.add_argument("--modes", nargs="+", default=["fp32", "autocast", "bf16-weights"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.modes)))
        return 0
    print("| impl | fixture, mode | " + " | ".join(KEYS) + " |")
    print("|---|---|" + "---:|" * len(KEYS))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for spec in args.impl:
        name, _, src = spec.partition("=")
        proc = subprocess.run(
            [sys.executable, __file__, "--child", src or ".", "--modes", *args.modes],
            capture_output=True, text=True, env=env, check=False,
        )
        line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            raise RuntimeError(proc.stderr[-3000:])
        for label, errors in json.loads(line[len("RESULT "):]).items():
            print(f"| {name} | {label} | " + " | ".join(f"{errors[k]:.1e}" if k in errors else "" for k in KEYS) + " |")
    print("# max |out - fp32 reference| / max |reference| per output; CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
