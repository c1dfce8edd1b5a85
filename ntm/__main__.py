"""``python -m ntm``: the `ntm` command."""

import sys

from ntm.cli import main

sys.exit(main())
