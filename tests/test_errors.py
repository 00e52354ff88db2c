"""The library's exception hierarchy (vggt_py.errors) and how the command line reports it."""

from __future__ import annotations

import argparse

import pytest

from vggt_py.bundled import BundledModelNotFoundError
from vggt_py.cli import CLIError, main
from vggt_py.data.scene import SceneError
from vggt_py.data.scene_folder import SceneFolderError
from vggt_py.errors import InputError, ModelUnavailableError, VGGTError
from vggt_py.hub import WeightsNotAvailableError
from vggt_py.inference.images import ImageLoadError
from vggt_py.inference.video import VideoReadError


@pytest.mark.parametrize(
    ("error", "base", "builtin"),
    [
        (ImageLoadError, InputError, ValueError),
        (VideoReadError, InputError, ValueError),
        (SceneError, InputError, ValueError),
        (SceneFolderError, InputError, ValueError),
        (WeightsNotAvailableError, ModelUnavailableError, FileNotFoundError),
        (BundledModelNotFoundError, ModelUnavailableError, FileNotFoundError),
        (CLIError, VGGTError, Exception),
    ],
)
def test_library_errors_keep_their_builtin_base(error: type, base: type, builtin: type) -> None:
    assert issubclass(error, base) and issubclass(error, VGGTError) and issubclass(error, builtin)


def test_errors_are_not_interchangeable() -> None:
    assert not issubclass(InputError, FileNotFoundError) and not issubclass(ModelUnavailableError, ValueError)
    assert not issubclass(ValueError, VGGTError)


def test_main_reports_a_library_error_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import vggt_py.cli.eval as eval_command

    def fails(args: argparse.Namespace) -> int:
        raise InputError("frames must be >= 1, got 0")

    monkeypatch.setattr(eval_command, "run_eval", fails)
    assert main(["eval", "pred.npz", "gt.npz"]) == 2
    assert capsys.readouterr().err == "vggt-py eval: error: frames must be >= 1, got 0\n"


def test_main_keeps_the_traceback_of_a_programming_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import vggt_py.cli.eval as eval_command

    def fails(args: argparse.Namespace) -> int:
        raise ValueError("a bug, not a bad input")

    monkeypatch.setattr(eval_command, "run_eval", fails)
    with pytest.raises(ValueError, match="a bug"):
        main(["eval", "pred.npz", "gt.npz"])
