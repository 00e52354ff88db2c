"""Track query points (vggt_py.inference.queries)."""

from __future__ import annotations

import numpy as np
import pytest

from vggt_py.inference.queries import parse_points


def test_parse_points() -> None:
    np.testing.assert_array_equal(parse_points("1,2; 3 4;"), [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(parse_points("# header\n5.5, 6\n\n7 8 # note\n"), [[5.5, 6.0], [7.0, 8.0]])
    for bad in ("", "1", "1,2,3", "a,b", "nan,1"):
        with pytest.raises(ValueError):
            parse_points(bad)
