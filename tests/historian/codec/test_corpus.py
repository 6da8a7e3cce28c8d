"""The corpus is deterministic and holds what the gate promises."""

from __future__ import annotations

import numpy as np

from historian.codec.corpus import DEFAULT_CORPUS_DIR, load_corpus


def test_corpus_is_identical_on_every_load() -> None:
    a, b = load_corpus(), load_corpus()
    assert [s.name for s in a] == [s.name for s in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.ts, y.ts)
        np.testing.assert_array_equal(x.values.view(np.uint64), y.values.view(np.uint64))
        np.testing.assert_array_equal(x.quality, y.quality)


def test_corpus_has_the_real_recordings_and_sorted_series() -> None:
    corpus = load_corpus()
    real = [s for s in corpus if s.real]
    assert {s.name for s in real} == {
        "nab/machine_temperature_system_failure",
        "nab/ambient_temperature_system_failure",
        "statsmodels/co2_mauna_loa_weekly",
    }
    assert sum(s.ts.size for s in real) == 22_695 + 7_267 + 2_225
    for s in corpus:
        assert np.all(np.diff(s.ts) >= 0), s.name
    assert (DEFAULT_CORPUS_DIR / "nab" / "PROVENANCE.md").exists()
    assert (DEFAULT_CORPUS_DIR / "nab" / "LICENSE.txt").exists()
    assert (DEFAULT_CORPUS_DIR / "statsmodels" / "PROVENANCE.md").exists()
