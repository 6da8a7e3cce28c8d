"""The file-system seam: the only way the engine touches files.

Like LevelDB's ``Env``, every open, append, fsync, rename, mmap, listing,
removal and free-space query goes through a :class:`FileSystem`, so tests can
swap in :class:`FaultyFileSystem` and inject the faults real disks produce:
short writes, fsync errors, ENOSPC, bit flips on read, and a crash at a named
point that drops every byte not yet fsynced (what a power cut does).

>>> import tempfile, os
>>> fs = FileSystem()
>>> d = tempfile.mkdtemp()
>>> f = fs.open_append(os.path.join(d, "x"))
>>> f.append(b"hello"); f.sync(); f.close()
>>> bytes(fs.read_bytes(os.path.join(d, "x")))
b'hello'
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import shutil
import threading
from dataclasses import dataclass, field

from historian.errors import DiskFullError, HistorianError


class DatabaseLockedError(HistorianError):
    """The data directory is locked by another open database."""


class SimulatedCrash(BaseException):
    """Raised by :class:`FaultyFileSystem` at an armed crash point (in-process mode).

    A ``BaseException`` so that engine code catching ``Exception`` cannot swallow it.
    """


class WritableFile:
    """An append-only file handle; ``size`` counts bytes appended so far."""

    def __init__(self, fs: FileSystem, path: str, fd: int, size: int) -> None:
        self._fs = fs
        self.path = path
        self._fd = fd
        self.size = size

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data`` at the end; raises :class:`DiskFullError` on ENOSPC."""
        self._fs._append(self, data)

    def sync(self) -> None:
        """fsync: after it returns, every appended byte survives a power cut."""
        self._fs._sync(self)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @property
    def fd(self) -> int:
        return self._fd


class FileSystem:
    """The real file system (POSIX)."""

    def open_append(self, path: str) -> WritableFile:
        """Open (creating if needed) for appending."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise _translate(exc, path) from exc
        return WritableFile(self, path, fd, os.fstat(fd).st_size)

    def create(self, path: str) -> WritableFile:
        """Create a new empty file (truncating any old one) for appending."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        except OSError as exc:
            raise _translate(exc, path) from exc
        return WritableFile(self, path, fd, 0)

    def _append(self, f: WritableFile, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        try:
            while len(view):
                n = os.write(f.fd, view)
                f.size += n
                view = view[n:]
        except OSError as exc:
            raise _translate(exc, f.path) from exc

    def _sync(self, f: WritableFile) -> None:
        try:
            os.fsync(f.fd)
        except OSError as exc:
            raise _translate(exc, f.path) from exc

    def read_bytes(self, path: str) -> bytes:
        with open(path, "rb") as fh:
            return fh.read()

    def mmap(self, path: str) -> memoryview:
        """A read-only view of the whole file (empty files give an empty view)."""
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                return memoryview(b"")
            return memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))

    def truncate(self, path: str, size: int) -> None:
        os.truncate(path, size)

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def sync_dir(self, path: str) -> None:
        """fsync a directory so that creates, renames and removals in it are durable."""
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def free_space(self, path: str) -> int:
        return shutil.disk_usage(path).free

    def write_atomic(self, path: str, data: bytes | bytearray | memoryview) -> None:
        """Replace ``path`` with ``data`` so a crash leaves either the old or the new file.

        Writes ``path + ".tmp"`` in the same directory, fsyncs it, renames it over
        ``path`` and fsyncs the directory. Built only from this seam's primitives
        (``create``, ``append``, ``sync``, ``rename``, ``sync_dir``), so a
        fault-injecting subclass injects into every step without overriding it.
        The crash points ``<name>.before_rename`` and ``<name>.before_dir_sync``
        (``<name>`` is the file's base name) let tests stop between the steps.
        """
        directory = os.path.dirname(path) or "."
        tmp = path + ".tmp"
        name = os.path.basename(path)
        f = self.create(tmp)
        try:
            f.append(data)
            f.sync()
        except BaseException:
            f.close()
            self.remove(tmp)
            raise
        f.close()
        self.crash_point(f"{name}.before_rename")
        self.rename(tmp, path)
        self.crash_point(f"{name}.before_dir_sync")
        self.sync_dir(directory)

    def lock(self, path: str) -> int:
        """Take an exclusive advisory lock (released by the kernel if the process dies)."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise DatabaseLockedError(
                f"{path} is locked: another process has this database open; close it first"
            ) from exc
        return fd

    def unlock(self, fd: int) -> None:
        if fd >= 0:
            os.close(fd)

    def crash_point(self, name: str) -> None:
        """A named point where a test may simulate a crash; a no-op on the real file system."""


def _translate(exc: OSError, path: str) -> OSError:
    if exc.errno == errno.ENOSPC:
        return DiskFullError(
            errno.ENOSPC, f"no space left on device while writing {path}; free disk space and retry"
        )
    return exc


CRASH_EXIT_CODE = 86
"""Exit status of a child process that crashed at an armed crash point."""


@dataclass
class Faults:
    """Faults armed on a :class:`FaultyFileSystem` (write faults filtered by ``path_contains``)."""

    short_write_after: int | None = None
    """Next append writes only this many bytes, then fails with EIO (one-shot)."""
    fsync_error: bool = False
    """Every fsync fails with EIO while set."""
    disk_full: bool = False
    """Every append and create fails with ENOSPC while set."""
    crash_at: str | None = None
    """Crash point name; reaching it drops unsynced bytes, then exits or raises."""
    crash_after_hits: int = 1
    """Crash on the N-th time the point is reached."""
    crash_exits: bool = False
    """True: ``os._exit(CRASH_EXIT_CODE)`` (child processes); False: raise SimulatedCrash."""
    flip_bits: list[tuple[str, int]] = field(default_factory=list)
    """(path substring, byte offset): that byte's lowest bit reads flipped."""
    path_contains: str = ""
    """Write faults apply only to paths containing this substring ("" = every path)."""


class FaultyFileSystem(FileSystem):
    """A real file system that injects faults and models what an fsync protects.

    It remembers, per file, how many bytes were fsynced (files that existed
    before it was made count as fully synced). :meth:`crash` truncates every
    file to that length and removes files created since the last directory
    fsync, which is what a power cut may leave behind.
    """

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self._synced: dict[str, int] = {}
        self._unsynced_new: set[str] = set()
        # (dst, dst's bytes before the rename or None) for renames whose directory is not synced
        self._pending_renames: list[tuple[str, bytes | None]] = []
        self._hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self.crashed = False

    def _applies(self, path: str) -> bool:
        return self.faults.path_contains in path

    def _track(self, path: str, existing_size: int, new: bool) -> None:
        with self._lock:
            self._synced.setdefault(path, existing_size)
            if new:
                self._unsynced_new.add(path)

    def open_append(self, path: str) -> WritableFile:
        existed = os.path.exists(path)
        if not existed and self.faults.disk_full and self._applies(path):
            raise DiskFullError(errno.ENOSPC, f"no space left on device creating {path} (injected)")
        f = super().open_append(path)
        self._track(path, f.size, not existed)
        return f

    def create(self, path: str) -> WritableFile:
        if self.faults.disk_full and self._applies(path):
            raise DiskFullError(errno.ENOSPC, f"no space left on device creating {path} (injected)")
        existed = os.path.exists(path)
        f = super().create(path)
        with self._lock:
            self._synced[path] = 0
            if not existed:
                self._unsynced_new.add(path)
        return f

    def _append(self, f: WritableFile, data: bytes | bytearray | memoryview) -> None:
        if self._applies(f.path):
            if self.faults.disk_full:
                raise DiskFullError(
                    errno.ENOSPC, f"no space left on device writing {f.path} (injected)"
                )
            n = self.faults.short_write_after
            if n is not None:
                self.faults.short_write_after = None
                super()._append(f, memoryview(data).cast("B")[:n])
                raise OSError(errno.EIO, f"short write to {f.path} (injected)")
        super()._append(f, data)

    def _sync(self, f: WritableFile) -> None:
        if self.faults.fsync_error and self._applies(f.path):
            raise OSError(errno.EIO, f"fsync of {f.path} failed (injected)")
        super()._sync(f)
        with self._lock:
            self._synced[f.path] = f.size

    def sync_dir(self, path: str) -> None:
        if self.faults.fsync_error and self._applies(path):
            raise OSError(errno.EIO, f"fsync of directory {path} failed (injected)")
        super().sync_dir(path)
        with self._lock:
            prefix = os.path.join(path, "")
            self._unsynced_new = {p for p in self._unsynced_new if not p.startswith(prefix)}
            self._pending_renames = [
                (d, old) for d, old in self._pending_renames if not d.startswith(prefix)
            ]

    def rename(self, src: str, dst: str) -> None:
        old = super().read_bytes(dst) if os.path.exists(dst) else None
        super().rename(src, dst)
        with self._lock:
            if src in self._synced:
                self._synced[dst] = self._synced.pop(src)
            # The new name is only durable after the directory is fsynced: a crash
            # before that puts the old file (or nothing) back under dst.
            self._unsynced_new.discard(src)
            self._pending_renames.append((dst, old))

    def remove(self, path: str) -> None:
        super().remove(path)
        with self._lock:
            self._synced.pop(path, None)
            self._unsynced_new.discard(path)

    def truncate(self, path: str, size: int) -> None:
        super().truncate(path, size)
        with self._lock:
            if path in self._synced:
                self._synced[path] = min(self._synced[path], size)

    def _flipped(self, path: str, data: bytes) -> bytes:
        flips = [off for sub, off in self.faults.flip_bits if sub in path and off < len(data)]
        if not flips:
            return data
        buf = bytearray(data)
        for off in flips:
            buf[off] ^= 0x01
        return bytes(buf)

    def read_bytes(self, path: str) -> bytes:
        return self._flipped(path, super().read_bytes(path))

    def mmap(self, path: str) -> memoryview:
        if any(sub in path for sub, _ in self.faults.flip_bits):
            return memoryview(self._flipped(path, super().read_bytes(path)))
        return super().mmap(path)

    def crash_point(self, name: str) -> None:
        if self.faults.crash_at != name:
            return
        with self._lock:
            self._hits[name] = self._hits.get(name, 0) + 1
            if self._hits[name] < self.faults.crash_after_hits:
                return
        self.crash()
        if self.faults.crash_exits:
            os._exit(CRASH_EXIT_CODE)
        raise SimulatedCrash(name)

    def crash(self) -> None:
        """Drop every byte not fsynced and every file whose directory entry was not fsynced."""
        with self._lock:
            self.crashed = True
            for dst, old in reversed(self._pending_renames):
                if old is None:
                    if os.path.exists(dst):
                        os.remove(dst)
                else:
                    with open(dst, "wb") as fh:
                        fh.write(old)
                self._synced.pop(dst, None)
            self._pending_renames.clear()
            for path in self._unsynced_new:
                if os.path.exists(path):
                    os.remove(path)
            for path, synced in self._synced.items():
                alive = path not in self._unsynced_new and os.path.exists(path)
                if alive and os.path.getsize(path) > synced:
                    os.truncate(path, synced)
            self._unsynced_new.clear()
