"""``python -m matching``: see :mod:`matching.cli`.

A process of its own, so it may tune the allocator for one big batch (:func:`tune_for_batch`).
"""

import sys

from .cli import main, tune_for_batch

tune_for_batch()
sys.exit(main())
