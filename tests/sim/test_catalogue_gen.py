"""The generated oil-field catalogues: sizes, stable ids, Modbus layout, determinism."""

from __future__ import annotations

from collections import Counter

import pytest

from sim.catalogue_gen import PROFILES, TAGS_PER_WELL, generate_oilfield, generate_profile


@pytest.mark.parametrize(("profile", "tags"), [("normal", 500), ("peak", 2000), ("stress", 10000)])
def test_profile_sizes(profile: str, tags: int) -> None:
    cat = generate_profile(profile, seed=1)
    assert len(cat) == tags == PROFILES[profile] * TAGS_PER_WELL
    # ids are dense 1..N so the historian's bitmap index stays small
    assert sorted(t.id for t in cat.tags) == list(range(1, tags + 1))


def test_profiles_are_prefixes_with_stable_ids() -> None:
    normal, stress = generate_profile("normal", 5), generate_profile("stress", 5)
    for a, b in zip(normal.tags, stress.tags, strict=False):
        assert (a.id, a.path, a.modbus) == (b.id, b.path, b.modbus)


def test_seed_changes_sensors_only() -> None:
    a, b = generate_oilfield(20, seed=1), generate_oilfield(20, seed=2)
    assert [(t.id, t.path, t.modbus) for t in a.tags] == [(t.id, t.path, t.modbus) for t in b.tags]
    assert [t.sensor for t in a.tags] != [t.sensor for t in b.tags]
    assert generate_oilfield(20, seed=1) == a


def test_modbus_layout_fits_units() -> None:
    cat = generate_profile("stress")
    per_unit = Counter(t.modbus.unit_id for t in cat.tags)
    assert len(per_unit) == 10 and set(per_unit.values()) == {1000}
    top = max(t.modbus.address + t.modbus.register_count for t in cat.tags)
    assert top <= 0x10000
    writable = [t for t in cat.tags if t.writable]
    assert len(writable) == 1000 and all(t.modbus.table == "holding" for t in writable)


def test_slices_cover_the_catalogue() -> None:
    cat = generate_profile("peak")
    parts = [cat.slice(i, i + 700) for i in range(0, len(cat), 700)]
    assert sum(len(p) for p in parts) == len(cat)
    assert parts[-1].meta["slice"] == [1400, 2000]
