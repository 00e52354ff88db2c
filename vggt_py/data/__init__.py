"""Data: procedural multi-view scenes with exact ground truth, the scene-folder format, and a COLMAP baseline.

``generate_scene(SceneConfig(...), seed)`` renders a :class:`SyntheticScene` (images, depth,
cameras, world points, masks, tracks) by exact CPU ray casting; ``write_scene_folder`` /
``read_scene_folder`` store scenes on disk; ``run_colmap`` (needs pycolmap) reconstructs
cameras from the images alone; ``vggt-py synth`` writes scene folders from the command line.
"""

from .colmap_baseline import ColmapResult, run_colmap
from .scene_folder import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SceneFolderError,
    read_scene_folder,
    unproject_depths,
    write_scene_folder,
)
from .synthetic import DIFFICULTIES, SceneConfig, SyntheticScene, generate_scene

__all__ = [
    "DIFFICULTIES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ColmapResult",
    "SceneConfig",
    "SceneFolderError",
    "SyntheticScene",
    "generate_scene",
    "read_scene_folder",
    "run_colmap",
    "unproject_depths",
    "write_scene_folder",
]
