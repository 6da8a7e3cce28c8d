"""Shadow mode: run twinbench beside a legacy historian and tell, per tag, where they disagree.

- :mod:`harness.shadow.legacy_read`: the legacy's readings and rollups as columns
  (PostgreSQL ``COPY ... TO STDOUT``, PI-style CSV);
- :mod:`harness.shadow.align`: vectorised alignment (offset, scale, skew, reconstruction);
- :mod:`harness.shadow.diff`: the per-tag diff and the whole-store run;
- :mod:`harness.shadow.rollups`: legacy hourly/daily averages against both weightings;
- :mod:`harness.shadow.rules`: per-tag tolerances (TOML);
- :mod:`harness.shadow.verdict`: verdicts, reasons, the JSON schema ``twinbench.shadow/1``;
- :mod:`harness.shadow.render`: table, JSON, HTML;
- :mod:`harness.shadow.cli`: ``twinbench shadow diff``;
- :mod:`harness.shadow.scenario`: the self-contained ``shadow`` scenario run.
"""
