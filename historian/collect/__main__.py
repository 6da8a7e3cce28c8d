"""``python -m historian.collect``: one collector process (see :mod:`historian.collect.process`)."""

import sys

from historian.collect.process import main

sys.exit(main())
