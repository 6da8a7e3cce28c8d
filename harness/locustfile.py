"""Forwarder for the documented command ``python -m harness.locustfile``.

The module is :mod:`harness.load.locustfile`; this file keeps the command working
(written by scripts/dev/regroup_harness.py).
"""

import sys

if __name__ == "__main__":  # imported only when run: importing this file does nothing
    from harness.load.locustfile import main

    sys.exit(main())
