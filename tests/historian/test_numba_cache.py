"""numba's cache goes to a directory the project sets, never beside the sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import numpy as np
from historian.codec.gorilla import gorilla_encode  # the first historian import sets the dir
import numba
gorilla_encode(np.linspace(0.0, 1.0, 100))
print(numba.config.CACHE_DIR)
"""


def test_numba_cache_lands_in_the_user_cache_dir(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    cache_dir = tmp_path / "xdg" / "twinbench" / "numba"
    assert out.stdout.strip().splitlines()[-1] == str(cache_dir)
    written = list(cache_dir.rglob("*.nbi"))
    assert written, f"numba wrote no index files under {cache_dir}"
