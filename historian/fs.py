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
import random
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
        """Create ``path`` and missing parents, durably: each new entry's parent is fsynced.

        Without that, a power cut can lose a new directory (and every file in
        it, fsynced or not) because its name lives in the parent directory.
        """
        missing = []
        p = os.path.abspath(path)
        while not os.path.isdir(p):
            missing.append(p)
            p = os.path.dirname(p)
        for d in reversed(missing):
            try:
                os.mkdir(d)
            except FileExistsError:
                continue
            self._made_dir(d)
            self.sync_dir(os.path.dirname(d))

    def _made_dir(self, path: str) -> None:
        """Hook: a directory was just created (the fault model journals it)."""

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
    torn_writes: bool = False
    """At a crash, keep a random prefix of each file's unsynced bytes (seeded by ``seed``)
    instead of none: the page cache may have written some of them back already."""
    seed: int = 0
    flip_bits: list[tuple[str, int]] = field(default_factory=list)
    """(path substring, byte offset): that byte's lowest bit reads flipped."""
    path_contains: str = ""
    """Write faults apply only to paths containing this substring ("" = every path)."""


class FaultyFileSystem(FileSystem):
    """A real file system that injects faults and models what a power cut keeps.

    The model is the kernel's (POSIX, and what ext4/xfs actually guarantee):

    * file *contents* are durable up to the length last fsynced through a
      handle (files that existed before this object was made count as synced);
    * a create, rename or remove is durable only once the directory holding
      the name is fsynced (:meth:`sync_dir`); a truncate (and the truncation
      done by :meth:`create` on an existing file) only once that file is
      fsynced (POSIX; ext4 happens to commit it with any journal commit, but
      other file systems do not).

    Until then each such operation sits in an undo journal. :meth:`crash`
    first cuts every file back to its synced length, then undoes the pending
    operations newest first: renamed files go back under their old names (and
    a replaced destination gets its old bytes back), removed files reappear
    with the bytes they had durably, created files vanish, and truncated files
    regain their synced bytes. That is the worst state a power cut may leave.
    """

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self._synced: dict[str, int] = {}
        self._journal: list[_PendingOp] = []
        self._hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self.crashed = False

    def _applies(self, path: str) -> bool:
        return self.faults.path_contains in path

    def _durable_bytes(self, path: str) -> bytes:
        """What a power cut would leave in ``path`` now, contents-wise (caller holds the lock)."""
        data = super().read_bytes(path)
        return data[: self._synced.get(path, len(data))]

    def open_append(self, path: str) -> WritableFile:
        existed = os.path.exists(path)
        if not existed and self.faults.disk_full and self._applies(path):
            raise DiskFullError(errno.ENOSPC, f"no space left on device creating {path} (injected)")
        f = super().open_append(path)
        with self._lock:
            if existed:
                self._synced.setdefault(path, f.size)
            else:
                self._synced[path] = 0
                self._journal.append(_PendingOp("create", path))
        return f

    def create(self, path: str) -> WritableFile:
        if self.faults.disk_full and self._applies(path):
            raise DiskFullError(errno.ENOSPC, f"no space left on device creating {path} (injected)")
        with self._lock:
            old = self._durable_bytes(path) if os.path.exists(path) else None
        f = super().create(path)
        with self._lock:
            self._synced[path] = 0
            if old is None:
                self._journal.append(_PendingOp("create", path))
            else:
                self._journal.append(_PendingOp("truncate", path, old=old))
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
            # fsync persists the inode, so its size change (a truncate) too; not its name
            self._journal = [
                op for op in self._journal if not (op.kind == "truncate" and op.path == f.path)
            ]

    def sync_dir(self, path: str) -> None:
        if self.faults.fsync_error and self._applies(path):
            raise OSError(errno.EIO, f"fsync of directory {path} failed (injected)")
        super().sync_dir(path)
        with self._lock:
            # only entries *directly* in this directory: fsync of root says nothing about root/wal/
            self._journal = [op for op in self._journal if not op.settled_by(path)]

    def rename(self, src: str, dst: str) -> None:
        with self._lock:
            old = self._durable_bytes(dst) if os.path.exists(dst) else None
        super().rename(src, dst)
        with self._lock:
            if src in self._synced:
                self._synced[dst] = self._synced.pop(src)
            else:
                self._synced.pop(dst, None)  # src existed before us: fully synced
            self._journal.append(_PendingOp("rename", dst, src=src, old=old))

    def remove(self, path: str) -> None:
        with self._lock:
            old = self._durable_bytes(path) if os.path.exists(path) else None
        super().remove(path)
        with self._lock:
            self._synced.pop(path, None)
            if old is not None:
                self._journal.append(_PendingOp("remove", path, old=old))

    def _made_dir(self, path: str) -> None:
        with self._lock:
            self._journal.append(_PendingOp("mkdir", path))

    def truncate(self, path: str, size: int) -> None:
        with self._lock:
            old = self._durable_bytes(path)
        super().truncate(path, size)
        with self._lock:
            self._synced[path] = min(self._synced.get(path, size), size)
            self._journal.append(_PendingOp("truncate", path, old=old))

    def pending_ops(self) -> list[str]:
        """Metadata operations a power cut now would undo (for test messages)."""
        with self._lock:
            return [f"{op.kind} {op.path}" for op in self._journal]

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
        """Leave the files as a power cut now may: see the class docstring."""
        with self._lock:
            self.crashed = True
            rng = random.Random(self.faults.seed)
            for path, synced in sorted(self._synced.items()):
                size = os.path.getsize(path) if os.path.exists(path) else 0
                if size > synced:
                    keep = rng.randint(0, size - synced) if self.faults.torn_writes else 0
                    os.truncate(path, synced + keep)
            for op in reversed(self._journal):
                op.undo(self._synced)
            self._journal.clear()


@dataclass
class _PendingOp:
    """A metadata operation not yet made durable, and how to undo it at a crash."""

    kind: str
    """"create", "mkdir", "rename" (``path`` is the destination), "remove" or "truncate"."""
    path: str
    src: str = ""
    old: bytes | None = None
    """Durable bytes before the op: of ``path`` (rename: of the replaced destination)."""

    unsynced_dirs: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.kind != "truncate":  # a size change is inode data: only a file fsync persists it
            self.unsynced_dirs = {os.path.dirname(p) for p in (self.path, self.src) if p}

    def settled_by(self, directory: str) -> bool:
        """Note that ``directory`` was fsynced; True once every directory involved was.

        (A cross-directory rename is modelled as undone unless both were fsynced;
        the kernel may also keep it half done, both names or neither.)
        """
        self.unsynced_dirs.discard(directory)
        return self.kind != "truncate" and not self.unsynced_dirs

    def undo(self, synced: dict[str, int]) -> None:
        if self.kind == "create":
            if os.path.exists(self.path):
                os.remove(self.path)
            synced.pop(self.path, None)
        elif self.kind == "mkdir":
            shutil.rmtree(self.path, ignore_errors=True)
            inside = os.path.join(self.path, "")
            for p in [p for p in synced if p.startswith(inside)]:
                del synced[p]
        elif self.kind == "rename":
            if os.path.exists(self.path):
                os.replace(self.path, self.src)
                if self.path in synced:
                    synced[self.src] = synced.pop(self.path)
            if self.old is not None:
                _put(self.path, self.old, synced)
        elif self.old is not None:  # remove, truncate: the durable bytes come back
            _put(self.path, self.old, synced)


def _put(path: str, data: bytes, synced: dict[str, int]) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
    synced[path] = len(data)
