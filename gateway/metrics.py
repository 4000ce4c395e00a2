"""Counters and latency summaries: Prometheus text locally, CloudWatch embedded metric format in Lambda."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, TextIO

Labels = tuple[tuple[str, str], ...]

# The CloudWatch alarms of the AWS backend watch these (amplify/backend/settings.ts ``METRICS``; its tests
# compare the two): in Lambda every EMF line also carries ALARM_DIMENSION = the deployment's TABLE_PREFIX,
# so one branch's figures never reach another branch's alarms.
EMF_NAMESPACE = "WecareGateway"
ALARM_DIMENSION = "TablePrefix"
BULK_JOBS_FAILED = "bulk_jobs_failed_total"  # a bulk job ended with recipients that failed
TIER_USAGE_PERCENT = "whatsapp_tier_usage_percent"  # the WhatsApp tier's 24 h use, after each opening

# Latency buckets (seconds): fine below 10 ms where the gateway lives, coarse up to provider timeouts.
BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


def _labels(labels: Mapping[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


def _fmt(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in labels
    )
    return "{" + inner + "}"


class Metrics:
    """Thread-safe in-process metrics. ``emf_stream`` set (Lambda) also prints EMF lines per observation."""

    def __init__(
        self,
        namespace: str = EMF_NAMESPACE,
        emf_stream: TextIO | None = None,
        emf_dimensions: Mapping[str, str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        # per series: [count, sum, bucket counts (non-cumulative)...]
        self._sums: dict[str, dict[Labels, list[float]]] = defaultdict(
            lambda: defaultdict(lambda: [0.0] * (2 + len(BUCKETS)))
        )
        self._gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._namespace = namespace
        self._emf = emf_stream
        self._emf_dimensions = dict(emf_dimensions or {})

    def inc(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        key = _labels(labels)
        with self._lock:
            self._counters[name][key] += value
        self._emit(name, key, value, "Count")

    def observe(self, name: str, seconds: float, labels: Mapping[str, str] | None = None) -> None:
        key = _labels(labels)
        slot = next((i for i, bound in enumerate(BUCKETS) if seconds <= bound), None)
        with self._lock:
            total = self._sums[name][key]
            total[0] += 1
            total[1] += seconds
            if slot is not None:
                total[2 + slot] += 1
        self._emit(name, key, seconds * 1000.0, "Milliseconds")

    def gauge(
        self, name: str, value: float, labels: Mapping[str, str] | None = None, unit: str = "None"
    ) -> None:
        """The latest value of ``name`` (e.g. the throughput of the last bulk job per channel)."""
        key = _labels(labels)
        with self._lock:
            self._gauges[name][key] = value
        self._emit(name, key, value, unit)

    def gauge_value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        with self._lock:
            return self._gauges[name].get(_labels(labels))

    def counter(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        with self._lock:
            return self._counters[name].get(_labels(labels), 0.0)

    def _emit(self, name: str, labels: Labels, value: float, unit: str) -> None:
        if self._emf is None:
            return
        labels = (*_labels(self._emf_dimensions), *labels)
        doc: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": [[k for k, _ in labels]],
                        "Metrics": [{"Name": name, "Unit": unit}],
                    }
                ],
            },
            name: value,
            **dict(labels),
        }
        self._emf.write(json.dumps(doc) + "\n")

    def render_prometheus(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                lines.append(f"# TYPE wecare_{name} counter")
                lines.extend(f"wecare_{name}{_fmt(lbl)} {val:g}" for lbl, val in sorted(series.items()))
            for name, latest in sorted(self._gauges.items()):
                lines.append(f"# TYPE wecare_{name} gauge")
                lines.extend(f"wecare_{name}{_fmt(lbl)} {val:g}" for lbl, val in sorted(latest.items()))
            for name, sums in sorted(self._sums.items()):
                lines.append(f"# TYPE wecare_{name}_seconds histogram")
                for lbl, values in sorted(sums.items()):
                    count, total, slots = values[0], values[1], values[2:]
                    cumulative = 0.0
                    for bound, hits in zip(BUCKETS, slots, strict=True):
                        cumulative += hits
                        le = (*lbl, ("le", f"{bound:g}"))
                        lines.append(f"wecare_{name}_seconds_bucket{_fmt(le)} {cumulative:g}")
                    lines.append(f"wecare_{name}_seconds_bucket{_fmt((*lbl, ('le', '+Inf')))} {count:g}")
                    lines.append(f"wecare_{name}_seconds_count{_fmt(lbl)} {count:g}")
                    lines.append(f"wecare_{name}_seconds_sum{_fmt(lbl)} {total:.6f}")
        return "\n".join(lines) + "\n"


def render_gauges(name: str, series: Mapping[Labels, float], help_text: str = "") -> str:
    """Gauges computed at scrape time (not kept in-process), in the same text format as above.

    ``/metrics`` adds figures read from the store this way, e.g. the AI suggestion quality per document,
    which every process must report alike and which a process restart must not reset.
    """
    lines = [f"# HELP wecare_{name} {help_text}"] if help_text else []
    lines.append(f"# TYPE wecare_{name} gauge")
    lines.extend(f"wecare_{name}{_fmt(tuple(sorted(lbl)))} {val:g}" for lbl, val in sorted(series.items()))
    return "\n".join(lines) + "\n"
