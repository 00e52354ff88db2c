"""Lists of training scenes opened on demand: :class:`SceneCollection` and the scene-format readers.

A collection holds (name, loader) pairs; loaders are picklable (``functools.partial`` of a module
function), so a collection can be handed to data-loader workers. Formats: synthetic scenes rendered
on the fly (:func:`~vggt_py.data.synthetic.generate_scene`), scene folders
(:mod:`vggt_py.data.scene_folder`) and COLMAP models (:mod:`vggt_py.data.colmap_scenes`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from vggt_py.data.colmap_scenes import read_colmap_scene
from vggt_py.data.scene import ArrayScene, Scene
from vggt_py.data.scene_folder import read_scene_folder
from vggt_py.data.synthetic import SceneConfig, generate_scene

__all__ = ["SceneCollection", "SceneKind"]

SceneKind = Literal["auto", "folder", "colmap"]


def _open_synthetic(config: SceneConfig, seed: int, name: str) -> Scene:
    return ArrayScene.from_synthetic(generate_scene(config, seed), name)


def _open_folder(path: str) -> Scene:
    return ArrayScene.from_synthetic(read_scene_folder(path), path)


def _open_colmap(path: str) -> Scene:
    return read_colmap_scene(path)


def _scene_kind(path: Path) -> str | None:
    """ "folder" (a ``cameras.json``), "colmap" (a ``sparse/`` model) or None."""
    if (path / "cameras.json").is_file():
        return "folder"
    if (path / "sparse").is_dir():
        return "colmap"
    return None


class SceneCollection:
    """An indexable list of scenes, each opened on demand by a (picklable) loader."""

    def __init__(self, entries: Sequence[tuple[str, Callable[[], Scene]]]):
        if len(entries) == 0:
            raise ValueError("a SceneCollection needs at least one scene")
        self._names = [name for name, _ in entries]
        self._loaders = [loader for _, loader in entries]

    def __len__(self) -> int:
        return len(self._names)

    def name(self, index: int) -> str:
        return self._names[index]

    def open(self, index: int) -> Scene:
        return self._loaders[index]()

    def validate(self) -> None:
        """Open every scene once, so a broken scene fails now (naming scene and file) rather than mid-training."""
        for index in range(len(self)):
            self.open(index)

    def __add__(self, other: SceneCollection) -> SceneCollection:
        return SceneCollection(list(zip(self._names, self._loaders)) + list(zip(other._names, other._loaders)))

    @classmethod
    def synthetic(cls, config: SceneConfig, num_scenes: int, seed: int = 0) -> SceneCollection:
        """Scenes ``generate_scene(config, seed + i)`` for ``i < num_scenes``, rendered when opened."""
        if num_scenes < 1:
            raise ValueError(f"num_scenes must be >= 1, got {num_scenes}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        entries = []
        for i in range(num_scenes):
            name = f"synthetic-{seed + i:06d}"
            entries.append((name, functools.partial(_open_synthetic, config, seed + i, name)))
        return cls(entries)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], kind: SceneKind = "auto") -> SceneCollection:
        """Scenes at ``path``: the folder itself if it is a scene, else its scene sub-folders (sorted).

        A scene folder holds ``cameras.json`` (:mod:`vggt_py.data.scene_folder`); a COLMAP scene holds
        ``sparse/`` and ``images/`` (:mod:`vggt_py.data.colmap_scenes`). ``kind`` forces one format.
        """
        if kind not in ("auto", "folder", "colmap"):
            raise ValueError(f"kind must be 'auto', 'folder' or 'colmap', got {kind!r}")
        root = Path(path)
        if not root.is_dir():
            raise ValueError(f"scene path {str(root)!r} is not a folder")
        candidates = [root] if _scene_kind(root) else sorted(p for p in root.iterdir() if p.is_dir())
        entries = []
        for folder in candidates:
            found = _scene_kind(folder)
            if found is None or (kind != "auto" and found != kind):
                continue
            opener = _open_folder if found == "folder" else _open_colmap
            entries.append((str(folder), functools.partial(opener, str(folder))))
        if not entries:
            wanted = {"auto": "cameras.json or sparse/", "folder": "cameras.json", "colmap": "sparse/"}[kind]
            raise ValueError(f"no scenes found at {str(root)!r}: expected it or its sub-folders to hold {wanted}")
        return cls(entries)
