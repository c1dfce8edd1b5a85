"""``python -m ntm.cli``: the `ntm` command."""

import sys

from ntm.cli import main

sys.exit(main())
