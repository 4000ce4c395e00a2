from __future__ import annotations

import io
import json

from gateway.metrics import Metrics


def test_prometheus_text_has_counters_and_cumulative_latency_buckets() -> None:
    metrics = Metrics()
    metrics.inc("messages_sent_total", {"channel": "sms"})
    metrics.inc("messages_sent_total", {"channel": "sms"})
    for seconds in (0.0004, 0.003, 0.003, 20.0):
        metrics.observe("gateway_send", seconds, {"channel": "sms"})
    text = metrics.render_prometheus()
    assert 'wecare_messages_sent_total{channel="sms"} 2' in text
    assert "# TYPE wecare_gateway_send_seconds histogram" in text
    assert 'wecare_gateway_send_seconds_bucket{channel="sms",le="0.0005"} 1' in text
    assert 'wecare_gateway_send_seconds_bucket{channel="sms",le="0.005"} 3' in text
    assert 'wecare_gateway_send_seconds_bucket{channel="sms",le="10"} 3' in text
    assert 'wecare_gateway_send_seconds_bucket{channel="sms",le="+Inf"} 4' in text
    assert 'wecare_gateway_send_seconds_count{channel="sms"} 4' in text


def test_embedded_metric_format_lines_for_cloudwatch() -> None:
    stream = io.StringIO()
    labels = {"channel": "whatsapp", "reason": "OPT_IN_REQUIRED"}
    Metrics(emf_stream=stream).inc("messages_rejected_total", labels)
    doc = json.loads(stream.getvalue())
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Metrics"] == [{"Name": "messages_rejected_total", "Unit": "Count"}]
    assert sorted(directive["Dimensions"][0]) == ["channel", "reason"]
    assert doc["messages_rejected_total"] == 1 and doc["reason"] == "OPT_IN_REQUIRED"


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    metrics.inc("x_total", {"reason": 'a"b\\c'})
    assert 'wecare_x_total{reason="a\\"b\\\\c"} 1' in metrics.render_prometheus()


def test_a_gauge_keeps_the_latest_value_and_is_an_emf_metric_in_lambda() -> None:
    stream = io.StringIO()
    metrics = Metrics(emf_stream=stream)
    metrics.gauge("bulk_job_throughput_per_second", 812.5, {"channel": "sms"}, "Count/Second")
    metrics.gauge("bulk_job_throughput_per_second", 4.9, {"channel": "sms"}, "Count/Second")
    assert metrics.gauge_value("bulk_job_throughput_per_second", {"channel": "sms"}) == 4.9
    text = metrics.render_prometheus()
    assert "# TYPE wecare_bulk_job_throughput_per_second gauge" in text
    assert 'wecare_bulk_job_throughput_per_second{channel="sms"} 4.9' in text
    last = json.loads(stream.getvalue().splitlines()[-1])
    assert last["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "bulk_job_throughput_per_second", "Unit": "Count/Second"}
    ]
    assert last["bulk_job_throughput_per_second"] == 4.9 and last["channel"] == "sms"


def test_every_emf_line_carries_the_deployments_dimension() -> None:
    stream = io.StringIO()
    metrics = Metrics(emf_stream=stream, emf_dimensions={"TablePrefix": "wecare-main-"})
    metrics.inc("bulk_jobs_failed_total")
    metrics.inc("messages_sent_total", {"channel": "sms"})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["TablePrefix"]]
    assert first["TablePrefix"] == "wecare-main-" and first["bulk_jobs_failed_total"] == 1
    assert sorted(second["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["TablePrefix", "channel"]
    # Prometheus (the embedded default) is unchanged: the dimension belongs to CloudWatch only.
    assert 'wecare_messages_sent_total{channel="sms"} 1' in metrics.render_prometheus()
