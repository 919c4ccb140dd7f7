"""``python -m arbiter`` is the ``arbiter`` command."""

import sys

from arbiter.ops.cli import main

sys.exit(main())
