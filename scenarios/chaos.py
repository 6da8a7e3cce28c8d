"""chaos: a seeded schedule of every fault kind over the plant and the bus load.

Process faults of every kind (SIGKILL and SIGSTOP/SIGCONT of a collector, the
historian server and nats-server), both link partitions, a full disk under the
historian (root only: a tmpfs it shrinks and grows back; skipped and reported
otherwise) and a corrupted spool file. Faults follow one another in a seeded
order, one of each kind per round, each in its own slot with time to recover
before the next. At the end every acknowledged point must be stored exactly
once with its value; the report lists each fault with its recovery time.

``chaos_scenario(duration_s, seed)`` builds other lengths (``nox -s soak`` reads
``TWINBENCH_CHAOS_S``); the short copy is 60 s with one fault of each kind.
"""

from __future__ import annotations

import random

from harness.scenario import FaultEvent, FaultKind, LoadPhase, Scenario, default_thresholds

NOMINAL = 20_000.0
DEFAULT_S = 600.0
SHORT_S = 60.0
ROUND_S = 300.0  # one fault of each kind per this much run time
WARMUP_FRACTION = 0.1
RECOVERY_FRACTION = 0.2  # the tail without faults, where every backlog drains

# (kind, target, duration at a 48 s slot); durations scale with the slot
FAULTS: tuple[tuple[FaultKind, str, float], ...] = (
    ("kill-collector", "collector-0 + load generator", 4.0),
    ("kill-historian", "historian serve", 3.0),
    ("kill-nats", "nats-server", 3.0),
    ("pause-collector", "collector-0", 8.0),
    ("pause-historian", "historian serve", 8.0),
    ("pause-nats", "nats-server", 6.0),
    ("partition-collector-bus", "collector->nats", 15.0),
    ("partition-bus-historian", "nats->historian", 12.0),
    ("disk-full-historian", "historian data dir", 10.0),
    ("corrupt-spool", "load generator spool", 6.0),
)
REFERENCE_SLOT_S = 48.0
MIN_FAULT_S = {"partition": 2.0, "corrupt": 2.0, "pause": 1.5, "disk": 2.0}  # shorter tests nothing
KILL_SLOT_MIN_S = 4.0  # a killed historian needs ~3-5 s to come back; faults may overlap it


def chaos_faults(duration_s: float, seed: int) -> tuple[FaultEvent, ...]:
    """One fault of each kind per round, in a seeded order, each at a seeded offset in its slot."""
    rng = random.Random(seed)
    start = duration_s * WARMUP_FRACTION
    window = duration_s * (1.0 - WARMUP_FRACTION - RECOVERY_FRACTION)
    rounds = max(1, round(duration_s / ROUND_S))
    order: list[tuple[FaultKind, str, float]] = []
    for _ in range(rounds):
        kinds = list(FAULTS)
        rng.shuffle(kinds)
        order += kinds
    slot = window / len(order)
    if slot < KILL_SLOT_MIN_S:
        raise ValueError(f"chaos needs >= {KILL_SLOT_MIN_S * len(order):g} s of fault window")
    out = []
    for i, (kind, target, ref) in enumerate(order):
        floor = next((v for k, v in MIN_FAULT_S.items() if kind.startswith(k)), 0.5)
        dur = max(ref * slot / REFERENCE_SLOT_S, floor)
        dur = min(dur, 0.6 * slot)  # the rest of the slot is for recovery
        jitter = rng.uniform(0.0, 0.2 * slot)
        out.append(FaultEvent(round(start + i * slot + jitter, 2), round(dur, 2), kind, target))
    return tuple(out)


def chaos_scenario(duration_s: float = DEFAULT_S, seed: int = 909) -> Scenario:
    warmup = duration_s * WARMUP_FRACTION
    recovery = duration_s * RECOVERY_FRACTION
    return Scenario(
        name="chaos",
        description="Seeded SIGKILL/SIGSTOP of every process, partitions, disk full, "
        "a corrupt spool file: every acked point stored once, unchanged.",
        profile="normal",
        duration_s=duration_s,
        warmup_s=warmup,
        seed=seed,
        nominal_rate_pts_s=NOMINAL,
        load=(
            LoadPhase("warm-up", "steady", warmup, NOMINAL),
            LoadPhase("chaos", "poisson", duration_s - warmup - recovery, NOMINAL),
            LoadPhase("recovery", "steady", recovery, NOMINAL),
        ),
        faults=chaos_faults(duration_s, seed),
        plant=True,  # real collector processes to SIGKILL and SIGSTOP
        thresholds=default_thresholds(latency=False),  # correctness only: no latency limits
        short_s=SHORT_S,
        short_faults=chaos_faults(SHORT_S, seed),
    )


SCENARIO = chaos_scenario()
