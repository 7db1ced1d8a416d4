"""`python -m promessa ...`: the `promessa` command."""

import sys

from promessa.cli import main

sys.exit(main())
