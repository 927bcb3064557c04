"""``python -m stepwell.lint [PATHS...]``, the same as ``stepwell lint``."""

import sys

from stepwell.lint.command import main

sys.exit(main())
