"""One rank of the context-parallel tests: ``python cp_worker.py RANK WORLD PORT PLAN.json OUT_DIR``.

Runs every scenario of the plan in one gloo group on loopback and writes, per scenario, the gathered
outputs (``NAME_rankR.safetensors``) or the error it raised (``NAME_rankR.err``).
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from parallel_cases import build_inputs, build_model, run_reconstruct
from vggt_py.outputs import VGGTOutput
from vggt_py.parallel import forward_distributed


def main() -> int:
    rank, world, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    plan = json.loads(Path(sys.argv[4]).read_text())
    out_dir = Path(sys.argv[5])
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world, timeout=timedelta(seconds=90)
    )
    try:
        for case in plan:
            model = build_model(case, rank)
            name = case["name"]
            if case.get("reconstruct"):  # through the inference API: rank 0 returns the whole result
                arrays = run_reconstruct(case, model, distributed=True)
                if arrays is None:
                    (out_dir / f"{name}_rank{rank}.none").write_text("")
                else:
                    save_file(arrays, str(out_dir / f"{name}_rank{rank}.safetensors"))
                continue
            images, queries = build_inputs(case)
            try:
                with torch.inference_mode():
                    out = forward_distributed(model, images, queries, counts=case.get("counts"), gather=case["gather"])
            except ValueError as err:
                (out_dir / f"{name}_rank{rank}.err").write_text(str(err))
                continue
            assert isinstance(out, VGGTOutput), type(out)
            flat = {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}
            flat["pose_enc_list"] = torch.stack(out["pose_enc_list"])
            save_file({k: v.contiguous() for k, v in flat.items()}, str(out_dir / f"{name}_rank{rank}.safetensors"))
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
