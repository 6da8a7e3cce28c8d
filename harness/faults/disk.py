"""Disk-full on a directory: a size-limited tmpfs mounted over it, shrunk to "full" and grown back.

Only root can mount; :func:`can_mount_tmpfs` says whether this process may, and
callers skip the fault (and say so) when it cannot. The tmpfs starts large
(``size_bytes``); :meth:`SizedTmpfs.fill` remounts it with a size just above
what is in use, so the next writes fail with ``ENOSPC`` exactly as a full disk
would; :meth:`SizedTmpfs.grow` remounts it large again. ``remount`` keeps the
files: the process writing there sees the same directory throughout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["DiskFaultError", "SizedTmpfs", "can_mount_tmpfs"]

PAGE = 4096
HEADROOM_BYTES = 64 * 1024  # "full" still lets a few pages through: the fault is mid-write


class DiskFaultError(RuntimeError):
    """mount/umount failed; the message carries the command's own error line."""


def can_mount_tmpfs() -> tuple[bool, str]:
    """(True, "") when a tmpfs can be mounted here, else (False, why not)."""
    if os.geteuid() != 0:
        return False, "not running as root (mounting a tmpfs needs root)"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return False, "no mount/umount binary on PATH"
    return True, ""


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DiskFaultError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")


class SizedTmpfs:
    """A tmpfs over ``directory`` whose size the fault schedule changes."""

    def __init__(self, directory: Path, size_bytes: int = 4 * 1024**3) -> None:
        self.directory = directory
        self.size_bytes = size_bytes
        self.mounted = False

    def mount(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        _run("mount", "-t", "tmpfs", "-o", f"size={self.size_bytes}", "tmpfs", str(self.directory))
        self.mounted = True

    def used_bytes(self) -> int:
        st = os.statvfs(self.directory)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def fill(self) -> int:
        """Shrink to just above current use: writes soon fail with ENOSPC. Returns the size."""
        size = (self.used_bytes() + HEADROOM_BYTES + PAGE - 1) // PAGE * PAGE
        _run("mount", "-o", f"remount,size={size}", str(self.directory))
        return size

    def grow(self) -> None:
        _run("mount", "-o", f"remount,size={self.size_bytes}", str(self.directory))

    def unmount(self) -> None:
        if self.mounted:
            _run("umount", "-l", str(self.directory))  # lazy: a straggling handle cannot block it
            self.mounted = False
