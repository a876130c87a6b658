"""``python -m kubeline``: the ``kubeline`` command."""

import sys

from kubeline.commands import main

sys.exit(main())
