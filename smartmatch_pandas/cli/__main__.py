"""``python -m smartmatch_pandas.cli``: the command line."""

import sys

from . import main

sys.exit(main())
