"""Context-parallel inference over gloo on loopback equals the single-process forward.

Each test starts its ranks as subprocesses (``cp_worker.py``) that run a plan of scenarios in one
process group; the outputs are compared here with the single-process model on the same inputs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from parallel_cases import build_inputs, build_model, run_reconstruct
from helpers import REPO_ROOT
from vggt_py.parallel import FrameShard, split_frames

HERE = Path(__file__).resolve().parent
TOLERANCE = float(os.environ.get("VGGT_CP_TOLERANCE", "1e-5"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_group(world: int, plan: list[dict], tmp_path: Path, timeout: float = 240.0) -> Path:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")])
    env["OMP_NUM_THREADS"] = "1"
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "cp_worker.py"), str(r), str(world), str(port), str(plan_path), str(out_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(world)
    ]
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=timeout)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    failed = [(r, p.returncode, log[-3000:]) for r, (p, log) in enumerate(zip(procs, logs)) if p.returncode != 0]
    assert not failed, f"worker(s) failed: {failed}"
    return out_dir


def reference(case: dict) -> dict[str, torch.Tensor]:
    model = build_model({}, rank=0)
    images, queries = build_inputs(case)
    with torch.inference_mode():
        out = model(images, queries)
    out["pose_enc_list"] = torch.stack(out["pose_enc_list"])
    return {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}


def check_equal(case: dict, out_dir: Path, world: int) -> None:
    ref = reference(case)
    ranks = range(world) if case["gather"] == "all" else [0]
    for rank in ranks:
        got = load_file(str(out_dir / f"{case['name']}_rank{rank}.safetensors"))
        assert sorted(got) == sorted(ref), f"{case['name']} rank {rank}: keys {sorted(got)} vs {sorted(ref)}"
        for key, value in ref.items():
            assert got[key].shape == value.shape, f"{case['name']}/{key}: {got[key].shape} vs {value.shape}"
            diff = (got[key] - value).abs().max().item()
            assert diff <= TOLERANCE, f"{case['name']} rank {rank} {key}: max abs diff {diff:.3g}"


def test_split_frames() -> None:
    assert split_frames(7, 3) == (3, 2, 2)
    assert split_frames(2, 2) == (1, 1)
    with pytest.raises(ValueError, match="cannot split 2 frame"):
        split_frames(2, 3)
    shard = FrameShard(counts=(1, 4, 2), rank=1)
    assert (shard.offset, shard.local, shard.total, shard.frames) == (1, 4, 7, slice(1, 5))
    with pytest.raises(ValueError, match="at least one frame"):
        FrameShard(counts=(3, 0), rank=0)


def _photos(folder: Path, count: int) -> list[str]:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        pixels = np.random.default_rng(i).integers(0, 256, (60 + 4 * i, 80, 3), dtype=np.uint8)
        paths.append(str(folder / f"photo_{i}.png"))
        Image.fromarray(pixels).save(paths[-1])
    return paths


def test_two_ranks_match_one_process(tmp_path: Path) -> None:
    recon = {"name": "reconstruct", "reconstruct": True, "img_size": 56, "photos": _photos(tmp_path / "photos", 3),
             "query_points": [[10.0, 12.0], [50.0, 30.0]]}
    plan = [
        recon,
        {"name": "even", "frames": 4, "gather": "all", "queries": True},
        {"name": "uneven", "frames": 5, "gather": "all", "queries": True, "seed": 3},
        {"name": "frame0_only", "frames": 4, "counts": [1, 3], "gather": "first", "queries": True, "seed": 4},
        {"name": "batched", "frames": 3, "batch": 2, "gather": "all", "seed": 5},
        {"name": "other_config", "frames": 3, "gather": "all", "mismatch_rank": 1, "mismatch": "config"},
    ]
    out_dir = run_group(2, plan, tmp_path)
    for case in plan[1:5]:
        check_equal(case, out_dir, 2)
    want = run_reconstruct(recon, build_model(recon, rank=0), distributed=False)
    got = load_file(str(out_dir / "reconstruct_rank0.safetensors"))  # rank 0: the whole Reconstruction
    assert (out_dir / "reconstruct_rank1.none").is_file()  # rank 1 returned None
    assert sorted(got) == sorted(want) and "tracks" in got
    for key, value in want.items():
        assert got[key].shape == value.shape, key
        diff = (got[key].double() - value.double()).abs().max().item()
        assert diff <= TOLERANCE * max(1.0, value.double().abs().max().item()), f"reconstruct {key}: {diff:.3g}"
    for rank in range(2):  # every rank raises the same clear error
        message = (out_dir / f"other_config_rank{rank}.err").read_text()
        assert "disagree" in message and "rank 1 has config" in message, message


def test_three_ranks_match_one_process(tmp_path: Path) -> None:
    plan = [
        {"name": "uneven", "frames": 7, "counts": [1, 4, 2], "gather": "all", "queries": True, "seed": 6},
        {"name": "too_few_frames", "frames": 2, "gather": "all"},
        {"name": "other_weights", "frames": 3, "gather": "all", "mismatch_rank": 2, "mismatch": "weights"},
    ]
    out_dir = run_group(3, plan, tmp_path)
    check_equal(plan[0], out_dir, 3)
    for rank in range(3):
        message = (out_dir / f"too_few_frames_rank{rank}.err").read_text()
        assert "cannot split 2 frame(s) across 3 processes" in message, message
        message = (out_dir / f"other_weights_rank{rank}.err").read_text()
        assert "rank 2 has weights" in message, message
