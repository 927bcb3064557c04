"""``python -m stepwell.cli``: the same command as ``stepwell``."""

import sys

from stepwell.cli import main

sys.exit(main())
