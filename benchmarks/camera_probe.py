"""Cross-view probe of a camera head trained by a research recipe (issue 15; model card, training log).

For every validation scene of the recipe and every ordered pair (i, j), i != j, of its frames, the model
sees (image i, image j) and its relative camera of the second frame is compared with the truth
``E_j E_i^-1``. Reported:

* rotation error (geodesic) and translation-direction error, in degrees, median / mean over the pairs;
* the same for the mean-pose baseline: the component-wise median of the ground-truth encodings of the
  training scenes' pairs (the L1 optimum of one constant guess);
* sensitivities: for a fixed second image, the mean angle between the predicted relative rotations as
  the first image changes, divided by the same for the truth (``sensitivity_first_image``), and
  likewise with the first image fixed (``sensitivity_second_image``). About 1 when the head follows
  that image, 0 when it ignores it: the mean-pose collapse gives 0 for both, and a head that reads
  only the second image (monocular) gives 0 for the first.

    python benchmarks/camera_probe.py configs/research/cam_L4_rotation_camonly.yaml runs/research/L4/checkpoints/last.pt
"""

from __future__ import annotations

import argparse
import itertools
import json

import numpy as np
import torch

from vggt_py.config import VGGTConfig
from vggt_py.geometry import extri_intri_to_pose_encoding, pose_encoding_to_extri_intri
from vggt_py.model import VGGT
from vggt_py.training.config import TrainConfig
from vggt_py.training.trainer import build_scenes


def _relative(extrinsics: np.ndarray, i: int, j: int) -> np.ndarray:
    """Camera j relative to camera i: ``E_j E_i^-1`` [3,4]."""
    R, t = extrinsics[:, :, :3], extrinsics[:, :, 3]
    rel_R = R[j] @ R[i].T
    return np.concatenate([rel_R, (t[j] - rel_R @ t[i])[:, None]], 1)


def _rotation_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Geodesic angle (degrees) from the chord ``||A - B||_F = 2 sqrt(2) sin(angle / 2)`` (exact near 0)."""
    chord = np.linalg.norm(a - b) / (2 * np.sqrt(2))
    return float(np.degrees(2 * np.arcsin(np.clip(chord, 0, 1))))


def _direction_angle(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-9 or nb < 1e-9:
        return 90.0
    return float(np.degrees(np.arccos(np.clip(a @ b / (na * nb), -1, 1))))


def _mean_pose(config: TrainConfig, max_scenes: int, hw: tuple[int, int]) -> np.ndarray:
    train = build_scenes(config.data, "train")
    encodings = []
    for k in range(min(len(train), max_scenes)):
        scene = train.open(k)
        E, K = scene.extrinsics, scene.intrinsics
        for i, j in itertools.permutations(range(len(E)), 2):
            rel = torch.tensor(_relative(E, i, j))[None, None]
            encodings.append(extri_intri_to_pose_encoding(rel, torch.tensor(K[j])[None, None], hw)[0, 0])
    median = torch.stack(encodings).median(0).values
    extrinsics, _ = pose_encoding_to_extri_intri(median[None, None].float(), hw)
    return extrinsics[0, 0].double().numpy()


@torch.no_grad()
def probe(model: VGGT, config: TrainConfig, max_scenes: int = 8, baseline_scenes: int = 48) -> dict[str, float]:
    """The figures of the module docstring for ``model`` on the validation scenes of ``config``."""
    if model.camera_head is None:
        raise ValueError("camera probe: the model has no camera head")
    if max_scenes < 1:
        raise ValueError(f"camera probe: max_scenes must be >= 1, got {max_scenes}")
    val = build_scenes(config.data, "val")
    if val is None:
        raise ValueError("camera probe: the config has no validation scenes (data.synthetic.val_scenes = 0)")
    model.eval()
    hw = (config.data.max_side, config.data.max_side)
    mean_E = _mean_pose(config, baseline_scenes, hw)
    last = model.config.aggregator.depth - 1
    rot, tra, base_rot, base_tra, sens_first, sens_second = [], [], [], [], [], []
    for k in range(min(len(val), max_scenes)):
        scene = val.open(k)
        E = scene.extrinsics
        frames = torch.stack(
            [torch.from_numpy(scene.load_frame(f).image).permute(2, 0, 1).float() / 255 for f in range(len(E))]
        )
        if tuple(frames.shape[-2:]) != hw:
            raise ValueError(f"camera probe: scenes are {tuple(frames.shape[-2:])} px, the recipe trains at {hw}")
        pairs = list(itertools.permutations(range(len(E)), 2))
        layers, _ = model.aggregator(torch.stack([frames[[i, j]] for i, j in pairs]), keep_layers=(last,))
        encodings = model.camera_head({i: t.float() for i, t in layers.items()})[-1]
        predicted = pose_encoding_to_extri_intri(encodings, hw)[0][:, 1].double().numpy()
        pred_R, true_R = {}, {}
        for n, (i, j) in enumerate(pairs):
            truth = _relative(E, i, j)
            rot.append(_rotation_angle(predicted[n][:, :3], truth[:, :3]))
            tra.append(_direction_angle(predicted[n][:, 3], truth[:, 3]))
            base_rot.append(_rotation_angle(mean_E[:, :3], truth[:, :3]))
            base_tra.append(_direction_angle(mean_E[:, 3], truth[:, 3]))
            pred_R[(i, j)], true_R[(i, j)] = predicted[n][:, :3], truth[:, :3]
        for fixed_second, out in ((True, sens_first), (False, sens_second)):
            for f in range(len(E)):
                keys = [p for p in pairs if p[1 if fixed_second else 0] == f]
                moved = [_rotation_angle(pred_R[a], pred_R[b]) for a, b in itertools.combinations(keys, 2)]
                truth_moved = [_rotation_angle(true_R[a], true_R[b]) for a, b in itertools.combinations(keys, 2)]
                if moved:
                    out.append(float(np.mean(moved) / max(np.mean(truth_moved), 1e-9)))
    rot_a, tra_a = np.array(rot), np.array(tra)
    return {
        "pairs": float(len(rot)),
        "rot_median": float(np.median(rot_a)),
        "rot_mean": float(np.mean(rot_a)),
        "trans_dir_median": float(np.median(tra_a)),
        "meanpose_rot_median": float(np.median(base_rot)),
        "meanpose_trans_dir_median": float(np.median(base_tra)),
        "sensitivity_first_image": float(np.mean(sens_first)) if sens_first else float("nan"),
        "sensitivity_second_image": float(np.mean(sens_second)) if sens_second else float("nan"),
        "rra@15": float(np.mean(rot_a < 15)),
        "auc@30": float(np.mean([np.mean(np.maximum(rot_a, tra_a) < t) for t in range(1, 31)])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="the research recipe (YAML) the checkpoint was trained with")
    parser.add_argument("checkpoint", help="a training checkpoint (checkpoints/last.pt) of that recipe")
    parser.add_argument("--scenes", type=int, default=8, help="validation scenes (all ordered pairs of each)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = TrainConfig.from_yaml(args.config)
    payload = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    model_config = (
        VGGTConfig.from_json(config.model.config)
        if config.model.config
        else VGGTConfig.from_preset(config.model.preset)
    )
    model = VGGT(model_config)
    model.load_state_dict(payload["model"])
    result = {"step": payload.get("progress", {}).get("global_step"), **probe(model, config, args.scenes)}
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
