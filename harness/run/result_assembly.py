"""What scoring reads of a finished scenario run: :class:`ResultAssembly` builds the
:class:`~harness.run.result.RunResult` from the runner's records once the load is done
and the ingest stopped (the runner's last step before ``harness.run.scoring``).

Kept apart from ``harness.run.runner`` so the runner holds the run's sequence and
this module the one place that decides what of a run reaches the report.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.metrics import ProcessSampler
from harness.run.api_load import ApiLoad, api_window_s
from harness.run.monitor import LoadMonitor
from harness.run.result import ApiRunResult, PlantResult, RunResult, TierResult
from harness.run.state import SETTLE_S
from historian.server.stall_watch import ENV_VAR as STALL_TRACE_ENV


class ResultAssembly(LoadMonitor):
    """The runner's records -> :class:`RunResult` (set by the runner's constructor)."""

    api_load: ApiLoad | None
    work: Path

    def _result(self, sampler: ProcessSampler) -> RunResult:
        """What scoring reads of this run (after the load, with ingest stopped)."""
        st, stack = self.state, self.stack
        trace_dir = os.environ.get(STALL_TRACE_ENV)
        if trace_dir:
            st.dump_batches(Path(trace_dir) / f"batches-{os.getpid()}.csv")
        plant = tier = None
        if self.plant is not None:
            plant = PlantResult(
                self.plant.profile,
                len(self.plant.collectors),
                self.plant.tag_types(),
                self.plant.series_ids(),
                st.plant_points,
                st.plant_hist,
            )
        if stack.tier is not None:
            tier = TierResult(stack.tier.config(), stack.tier.hot_window_s)
        api = None
        if self.api_load is not None:
            start, middle, end = api_window_s(self.schedule, self.s.api_load_phase)
            api = ApiRunResult(
                self.api_load.users,
                self.s.api_load_phase,
                (start, middle, end),
                self.api_load.result,
                self.nominal_p99_between(start, middle),
                self.nominal_p99_between(middle, end),
            )
        return RunResult(
            scenario=self.s,
            schedule=self.schedule,
            origin_wall_ns=st.origin_wall_ns,
            notes=tuple(st.notes),
            durability_note=stack.durability_note(),
            security_note=self.secure.note() if self.secure is not None else None,
            store_key=str(self.secure.store_key) if self.secure is not None else None,
            data_dir=stack.ingest.data_dir if stack.ingest else self.work,
            work_dir=self.work,
            synthetic_series=self.series,
            ledger=self.ledger,
            ack_hist=st.ack_hist,
            queryable_hist=st.queryable_hist,
            nominal_hist=st.nominal_hist,
            batch_acks=tuple((i.intended_wall_ns, i.acked_ns) for i in st.batches.values()),
            acked_series=self.acked_series,
            applied_series=self.applied_series,
            lag=self.lag,
            spool_depth=self.spool_depth,
            cpu=dict(sampler.cpu),
            rss=dict(sampler.rss),
            fault_log=tuple(st.fault_log),
            failovers=tuple(st.failovers),
            settle_s=SETTLE_S,
            recoveries=tuple(st.recoveries),
            drains=tuple(st.drains),
            resume_delays=tuple(st.resume_delays),
            rejected=st.rejected,
            quarantined_spool_files=st.quarantined_spool_files,
            batches_spooled=self.fwd.metrics.batches_spooled,
            nats_client_errors=self.nats_errors,
            ramp_steps=tuple(self._ramp_steps(final=True)),
            ramp_p99_limit_ms=self._p99_limit(),
            cluster_nodes=len(stack.cluster.nodes) if stack.cluster is not None else None,
            bus_replicas=self.bus.replicas,
            plant=plant,
            tier=tier,
            api_load=api,
            say=self.status.say,
        )
