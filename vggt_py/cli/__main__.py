"""``python -m vggt_py.cli`` (what ``torchrun -m vggt_py.cli`` runs): the same as the ``vggt-py`` command."""

import sys

from vggt_py.cli import main

sys.exit(main())
