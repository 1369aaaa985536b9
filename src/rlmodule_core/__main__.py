"""``python -m rlmodule_core`` runs the ``rlmodule`` command."""

import sys

from rlmodule_core.cli import main

sys.exit(main())
