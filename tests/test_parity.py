"""Parity with the upstream implementation on the shared fixtures (fp32, CPU, eval mode).

Every case folder under ``$VGGT_PARITY_DIR`` (default ``../shared/parity``) is loaded with
``VGGT.from_pretrained(case_dir)``; each output must satisfy the fixtures' pass rule
``max|ours - ref| <= 50 * noise.max_abs + 1e-6 * noise.ref_max_abs``.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from helpers import parity_cases, parity_root
from vggt_py import VGGT

CASES = parity_cases()


def test_fixtures_present() -> None:
    if "VGGT_PARITY_DIR" not in __import__("os").environ and not CASES:
        pytest.skip(f"no parity fixtures under {parity_root()}")
    assert CASES, f"VGGT_PARITY_DIR={parity_root()} holds no case folder"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_parity(case) -> None:
    model = VGGT.from_pretrained(case)
    assert not model.training
    inputs = load_file(str(case / "inputs.safetensors"))
    reference = load_file(str(case / "outputs.safetensors"))
    noise = json.loads((case / "noise.json").read_text())
    with torch.inference_mode():
        out = model(inputs["images"], query_points=inputs.get("query_points"))
    out["pose_enc_list"] = torch.stack(out["pose_enc_list"])
    failures = []
    for key, ref in reference.items():
        assert key in out, f"{case.name}: output {key!r} missing"
        ours = out[key]
        assert ours.shape == ref.shape, f"{case.name}/{key}: shape {tuple(ours.shape)} vs {tuple(ref.shape)}"
        assert ours.dtype == torch.float32
        diff = (ours - ref).abs().max().item()
        tol = 50 * noise[key]["max_abs"] + 1e-6 * noise[key]["ref_max_abs"]
        if not diff <= tol:
            failures.append(f"{key}: max abs diff {diff:.3e} > tolerance {tol:.3e}")
    assert not failures, f"{case.name}: " + "; ".join(failures)
