"""Child process of the export crash tests: export until the armed crash point, then die.

Usage: python export_child.py DIR ENDPOINT BUCKET MODE POINT

MODE ``sigkill``: the real file system; at POINT the process SIGKILLs itself
(the page cache keeps what was written: a process crash). MODE ``powercut``:
a FaultyFileSystem that, at POINT, drops every unsynced byte and undoes every
unsynced rename/remove, then exits (what a power cut may leave).
"""

from __future__ import annotations

import os
import signal
import sys

from historian.fs import Faults, FaultyFileSystem, FileSystem
from historian.lsm.engine import Historian
from historian.tier import ColdTier

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
from tests.historian.tier.conftest import NOW, tier_options
from tests.historian.tier.crash_config import child_config


class KillAt(FileSystem):
    def __init__(self, point: str) -> None:
        self.point = point

    def crash_point(self, name: str) -> None:
        if name == self.point:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    root, endpoint, bucket, mode, point = sys.argv[1:6]
    fs: FileSystem
    if mode == "sigkill":
        fs = KillAt(point)
    else:
        fs = FaultyFileSystem(Faults(crash_at=point, crash_exits=True))
    db = Historian.open(root, tier_options(), fs)
    tier = ColdTier.attach(db, child_config(endpoint, bucket))
    tier.export_due(NOW)
    print("finished without reaching", point, flush=True)


if __name__ == "__main__":
    main()
