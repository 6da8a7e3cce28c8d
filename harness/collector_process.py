"""Forwarder for the documented command ``python -m harness.collector_process``.

The module is :mod:`harness.plant.collector_process`; this file keeps the command working
(written by scripts/dev/regroup_harness.py).
"""

import sys

if __name__ == "__main__":  # imported only when run: importing this file does nothing
    from harness.plant.collector_process import main

    sys.exit(main())
