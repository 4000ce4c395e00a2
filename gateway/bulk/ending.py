"""What happens once when a bulk job ends (completed, cancelled or failed).

:class:`~gateway.bulk.jobs.JobStore` calls it right after the winning move into a terminal state, so
it runs once per job: the tier capacity the job reserved and did not use is released, the report is
written (:mod:`gateway.bulk.report`), and the job's duration and throughput go to the metrics
(``/metrics``, and EMF lines in Lambda) per channel (14.5). Each step is on its own: a report that
cannot be written does not keep the tier capacity held (and is written on its first download).
"""

from __future__ import annotations

import logging

from gateway.bulk.report import BulkReports
from gateway.metrics import BULK_JOBS_FAILED, Metrics
from gateway.outbound.tier import TierTracker

log = logging.getLogger("wecare.bulk.ending")


class JobEnding:
    def __init__(self, tier: TierTracker | None, reports: BulkReports | None, metrics: Metrics) -> None:
        self._tier = tier
        self._reports = reports
        self._metrics = metrics

    def __call__(self, job_id: str) -> None:
        if self._tier is not None:
            try:
                released = self._tier.release(job_id)
                if released:
                    log.info("tier capacity released", extra={"jobId": job_id, "released": released})
            except Exception:
                log.exception("could not release a job's tier capacity", extra={"jobId": job_id})
        if self._reports is None:
            return
        try:
            summary = self._reports.write(job_id)
        except Exception:
            log.exception("could not write a bulk job's report", extra={"jobId": job_id})
            return
        labels = {"channel": str(summary["channel"])}
        self._metrics.inc("bulk_jobs_ended_total", {**labels, "status": str(summary["status"])})
        if summary["status"] == "failed" or summary["counts"].get("failed", 0):
            self._metrics.inc(BULK_JOBS_FAILED)  # the deployment's alarm, whatever the channel
        self._metrics.observe("bulk_job_duration", float(summary["durationSeconds"]), labels)
        for status, n in summary["counts"].items():
            self._metrics.inc("bulk_recipients_total", {**labels, "status": status}, n)
        throughput = summary.get("throughputPerSecond")
        if throughput is not None:
            self._metrics.gauge("bulk_job_throughput_per_second", float(throughput), labels, "Count/Second")
        log.info(
            "bulk job ended",
            extra={
                "jobId": job_id,
                "status": summary["status"],
                "durationSeconds": summary["durationSeconds"],
                "throughputPerSecond": throughput,
                "counts": summary["counts"],
            },
        )
