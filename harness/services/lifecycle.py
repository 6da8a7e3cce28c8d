"""The lifecycle every service fixture shares: a context manager that owns a directory.

``with Service() as s:`` starts it (and cleans up if start-up fails, Ctrl-C
included), ``close()`` stops it and removes its base directory when the object
made that directory itself (a caller-given directory is left for inspection).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self


class OwnedDirService:
    base_dir: Path
    _own_dir: bool

    def _use_dir(self, base_dir: Path | None, prefix: str) -> None:
        """Work in ``base_dir``, or in a fresh temp dir this object owns (and removes)."""
        self._own_dir = base_dir is None
        self.base_dir = Path(tempfile.mkdtemp(prefix=prefix)) if base_dir is None else base_dir

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop, and remove the base dir if this object made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:  # incl. Ctrl-C while waiting for readiness
            with contextlib.suppress(Exception):
                self.close()
            raise

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
