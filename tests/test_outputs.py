"""VGGTOutput: typed attributes over the dict that VGGT.forward returns."""

import torch

from helpers import random_images, sane_tiny_model
from vggt_py.outputs import OUTPUT_KEYS, VGGTOutput


def test_output_is_a_dict_with_typed_attributes() -> None:
    depth = torch.ones(1, 2, 4, 4, 1)
    out = VGGTOutput(depth=depth, images=torch.zeros(1, 2, 3, 4, 4))
    assert isinstance(out, dict)
    assert out.depth is depth and out["depth"] is depth
    assert out.track is None and "track" not in out
    assert list(out.keys()) == ["depth", "images"] and list(out) == ["depth", "images"]
    assert dict(out) == {"depth": depth, "images": out["images"]} and type(dict(out)) is dict
    assert "depth=Tensor[1, 2, 4, 4, 1]" in repr(out)


def test_every_output_key_has_a_documented_attribute() -> None:
    for key in OUTPUT_KEYS:
        attribute = getattr(VGGTOutput, key)
        assert isinstance(attribute, property) and attribute.__doc__


def test_forward_returns_vggt_output_with_the_same_keys() -> None:
    model = sane_tiny_model()
    with torch.no_grad():
        out = model(random_images(None, 2, 28, 28))
    assert isinstance(out, VGGTOutput)
    assert set(out) <= set(OUTPUT_KEYS) and "depth" in out
    assert out.depth is out["depth"] and out.pose_enc is out["pose_enc"]
