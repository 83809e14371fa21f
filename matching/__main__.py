"""``python -m matching``: see :mod:`matching.cli`."""

import sys

from .cli import main

sys.exit(main())
