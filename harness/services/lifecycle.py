"""The lifecycle every service fixture shares: a context manager that owns a directory.

``with Service() as s:`` starts it (and cleans up if start-up fails, Ctrl-C
included), ``close()`` stops it and removes its base directory when the object
made that directory itself (a caller-given directory is left for inspection).

A service that is one :class:`~harness.services.process.ManagedProcess` (NATS,
PostgreSQL, S3, the historian server of a scenario) shares its ``pid``,
``running``, ``stop``, ``kill`` and ``restart`` through :class:`ProcessLifecycle`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from harness.services.process import ManagedProcess, ServiceError


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


class ProcessLifecycle:
    """``pid``/``running``/``stop``/``kill`` of a service run as one managed process.

    ``_process`` is None until the service first started; ``display_name`` starts
    the error a caller gets for the pid of a service that never started.
    """

    _process: ManagedProcess | None
    display_name: str = "service"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ServiceError(f"{self.display_name}: not started")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def stop(self) -> None:
        """Clean shutdown (the process's stop signal, SIGKILL after its grace period)."""
        if self._process is not None:
            self._process.stop()

    def kill(self) -> None:
        """Crash it: SIGKILL, no flush."""
        if self._process is not None:
            self._process.kill()


class ProcessService(ProcessLifecycle, OwnedDirService):
    """A directory-owning service that is one managed process; ``restart`` = stop + start
    on the same directory (and port, where the service keeps it)."""

    def restart(self) -> Self:
        self.stop()
        return self.start()
