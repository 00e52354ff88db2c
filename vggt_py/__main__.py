"""``python -m vggt_py``: the same as the ``vggt-py`` command."""

import sys

from vggt_py.cli import main

sys.exit(main())
