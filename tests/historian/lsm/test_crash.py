"""Crash tests with real processes: SIGKILL at random moments and at every named crash point.

A child writes deterministic batches and prints each acknowledged sequence
number. After the kill, the parent reopens the directory and checks that the
data equals a plain dict model of every acknowledged batch, plus possibly the
one batch that was in flight (written but not yet acknowledged), and nothing else.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from historian.fs import CRASH_EXIT_CODE
from historian.lsm.engine import Historian

from .crash_child import crash_options, make_batch

CHILD = os.path.join(os.path.dirname(__file__), "crash_child.py")
SERIES = range(12)
CRASH_POINTS = [
    ("wal.after_append", 7),
    ("wal.after_sync", 9),
    ("flush.after_segment", 2),
    ("flush.after_manifest", 2),
    ("manifest.before_rename", 3),
    ("manifest.before_dir_sync", 2),
    ("compaction.after_segment", 2),
    ("compaction.after_manifest", 1),
]


def run_child(root: str, seed: int, fsync: str, start: int, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    return subprocess.Popen(
        [sys.executable, CHILD, root, str(seed), fsync, str(start), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def acked(out: str) -> list[tuple[int, int]]:
    pairs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            pairs.append((int(parts[0]), int(parts[1])))
    return pairs


def model(seed: int, batches: list[int]) -> dict[int, dict[int, float]]:
    m: dict[int, dict[int, float]] = {s: {} for s in SERIES}
    for i in batches:
        b = make_batch(seed, i)
        for s, t, v in zip(b.series.tolist(), b.ts.tolist(), b.values.tolist(), strict=True):
            m[s][t] = v
    return m


def matches(db: Historian, m: dict[int, dict[int, float]]) -> bool:
    for s in SERIES:
        ts, v, _ = db.read(s, 0, 2**62)
        want = sorted(m[s].items())
        if ts.tolist() != [t for t, _ in want] or v.tolist() != [x for _, x in want]:
            return False
    return True


def check(root: str, seed: int, acked_batches: list[int], in_flight: int | None) -> list[int]:
    """Assert the recovered data is the acked batches (+ maybe the in-flight one); return which."""
    db = Historian.open(root, crash_options("always"))
    try:
        if matches(db, model(seed, acked_batches)):
            return acked_batches
        with_flight = [*acked_batches, in_flight] if in_flight is not None else acked_batches
        assert matches(db, model(seed, with_flight)), (
            f"data after recovery differs from the model of batches up to {acked_batches[-1:]}"
        )
        return with_flight
    finally:
        db.close()


def kill_and_check(
    root: str, seed: int, fsync: str, delay: float, present: list[int], start: int
) -> tuple[list[int], int]:
    """One run killed ``delay`` s after its first ack; returns (batches present, next start)."""
    child = run_child(root, seed, fsync, start)
    assert child.stdout is not None
    lines: list[str] = []
    first_ack = threading.Event()

    def pump() -> None:  # read acks as they come, so the kill lands mid-stream on a slow machine
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line)
            first_ack.set()
        first_ack.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    first_ack.wait(timeout=60)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    reader.join(timeout=30)
    err = child.stderr.read() if child.stderr else ""
    assert child.returncode in (-signal.SIGKILL, 0), err
    pairs = acked("".join(lines))
    seqs = [s for s, _ in pairs]
    first = len(present) + 1  # one WAL record per batch present so far
    assert seqs == list(range(first, first + len(seqs)))
    batches = [i for _, i in pairs]
    nxt = batches[-1] + 1 if batches else start
    return check(root, seed, present + batches, nxt), nxt + 1


@pytest.mark.slow
def test_sigkill_at_random_moments(tmp_path: object) -> None:
    rnd = random.Random(1234)
    total = 0
    for it in range(5):
        root = os.path.join(str(tmp_path), f"db{it}")
        delay = rnd.uniform(0.05, 1.2)
        present, _ = kill_and_check(root, it, "interval_ms=3", delay, [], 0)
        total += len(present)
    assert total > 0, "the child never acknowledged a write before being killed"


@pytest.mark.slow
@pytest.mark.parametrize(("point", "hits"), CRASH_POINTS)
def test_crash_at_named_point_keeps_every_acked_write(
    tmp_path: object, point: str, hits: int
) -> None:
    root = str(tmp_path)
    child = run_child(root, 7, "always", 0, point, str(hits))
    out, err = child.communicate(timeout=120)
    assert child.returncode == CRASH_EXIT_CODE, f"crash point {point} not reached: {err[-2000:]}"
    batches = [i for _, i in acked(out)]
    present = check(root, 7, batches, batches[-1] + 1 if batches else 0)
    # The database keeps working after recovery: a second run appends and survives too.
    start = (batches[-1] + 2) if batches else 1
    child = run_child(root, 7, "always", start, point, str(hits))
    out2, err2 = child.communicate(timeout=120)
    assert child.returncode == CRASH_EXIT_CODE, err2[-2000:]
    later = [i for _, i in acked(out2)]
    check(root, 7, present + later, later[-1] + 1 if later else start)


@pytest.mark.soak
def test_sigkill_soak(tmp_path: object) -> None:
    rnd = random.Random(99)
    state: dict[int, tuple[list[int], int]] = {}
    for it in range(60):
        k = it % 6  # reuse directories: crash after crash after crash
        root = os.path.join(str(tmp_path), f"db{k}")
        present, start = state.get(k, ([], 0))
        fsync = rnd.choice(["always", "interval_ms=3"])
        state[k] = kill_and_check(root, k, fsync, rnd.uniform(0.0, 2.5), present, start)
