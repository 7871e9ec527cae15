"""``python -m ipyjobs``: see ``ipyjobs.cli``."""

import sys

from .cli import main

sys.exit(main())
