"""Legacy historians for shadow-mode runs: the seed's PostgreSQL SCADA writer, a PI-style archive.

- :mod:`harness.legacy.scada_schema`: ``scada_readings`` (native day partitions)
  and the hourly/daily rollup tables;
- :mod:`harness.legacy.scada_writer`: the per-tenant aggregator that bulk-writes
  with ``COPY`` (10,000 readings or 5 s per tenant);
- :mod:`harness.legacy.consumer`: its own durable consumer on twinbench's stream;
- :mod:`harness.legacy.pi_legacy`: ExcDev + swinging-door archive, PI CSV export.
"""
