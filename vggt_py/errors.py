"""The exceptions of vggt_py that a person can act on.

Every error that means "fix the input, the model choice or the environment and run again" derives
from :class:`VGGTError`, so a caller can catch them all at once; the command line
(``vggt_py.cli``) prints any of them as ``vggt-py CMD: error: MESSAGE`` with exit code 2, without
a traceback. Each class also derives from the builtin exception it has always been (``ValueError``,
``FileNotFoundError``), so code that catches those keeps working.

::

    VGGTError
    +-- InputError (ValueError)               bad arguments, images, videos, scenes
    |   +-- vggt_py.inference.images.ImageLoadError
    |   +-- vggt_py.inference.video.VideoReadError
    |   +-- vggt_py.data.scene.SceneError
    |   +-- vggt_py.data.scene_folder.SceneFolderError
    +-- ModelUnavailableError (FileNotFoundError)   weights or a bundled model that cannot be found
    |   +-- vggt_py.hub.WeightsNotAvailableError
    |   +-- vggt_py.bundled.BundledModelNotFoundError
    +-- OutputError (OSError)                 an output that cannot be written (full disk, permissions)
        +-- OutputExistsError (FileExistsError)   a folder holding another run's output, no overwrite
        +-- vggt_py.inference.export_transaction.ExportError

Programming errors (a wrong type, a broken invariant) stay plain ``TypeError`` / ``ValueError`` /
``AssertionError`` and keep their traceback.
"""

from __future__ import annotations

__all__ = ["InputError", "ModelUnavailableError", "OutputError", "OutputExistsError", "VGGTError"]


class VGGTError(Exception):
    """Base of the errors a person can act on; the message says what was expected and quotes the bad value."""


class InputError(VGGTError, ValueError):
    """Input that cannot be used: a bad argument value, unreadable images, a broken scene."""


class ModelUnavailableError(VGGTError, FileNotFoundError):
    """A model (weights, config or bundled model) that cannot be found locally or downloaded."""


class OutputError(VGGTError, OSError):
    """An output that cannot be written: a full disk, a read-only or non-writable target, a path under a file."""


class OutputExistsError(OutputError, FileExistsError):
    """The target holds the output of another run and overwriting was not asked for."""
