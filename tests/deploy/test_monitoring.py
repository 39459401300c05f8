"""Monitoring: the alerts of docs/operations.md ("Alerts and what to do") with their thresholds and
durations, valid PromQL in every alert and dashboard panel, on metric names the services really
export."""

import json
import re

import promql_parser
import pytest
from alice_common import observability

from tests.support.deploy_lib import REPO

# docs/operations.md, "Alerts and what to do": alert → (threshold as a fraction or number, for).
PLAN_ALERTS = {
    "AliceHighCPU": (0.85, "5m"),
    "AliceHighMemory": (0.90, "5m"),
    "AliceHighLatencyP99": (1.0, "5m"),  # 1000 ms, the metric is in seconds
    "AliceHighErrorRate": (0.05, "2m"),
    "AliceKafkaConsumerLag": (10000, "10m"),
    "AlicePodRestarts": (3, "0m"),  # "> 3 per hour": the window is in the expression
    "AliceRepliesQueueing": (0, "5m"),  # replies waiting for an inference slot, without a break
}


def rules(variant) -> dict[str, dict]:
    (rule,) = variant.of_kind("PrometheusRule")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def test_every_plan_alert_with_its_threshold_and_duration(full_variant) -> None:
    alerts = rules(full_variant)
    assert set(alerts) == set(PLAN_ALERTS)
    for name, (threshold, duration) in PLAN_ALERTS.items():
        expr = promql_parser.parse(alerts[name]["expr"])
        assert str(expr.op) == ">", name
        assert isinstance(expr.rhs, promql_parser.NumberLiteral), name
        assert expr.rhs.val == pytest.approx(threshold), name
        assert alerts[name]["for"] == duration, name
        assert alerts[name]["annotations"]["runbook"].startswith("docs/operations.md#")
    assert "[1h]" in alerts["AlicePodRestarts"]["expr"]


def test_alert_runbooks_exist_in_operations_doc(full_variant) -> None:
    doc = (REPO / "docs/operations.md").read_text()
    for alert in rules(full_variant).values():
        anchor = alert["annotations"]["runbook"].split("#")[1]
        assert f'<a id="{anchor}"></a>**{alert["alert"]}**' in doc


def dashboard_queries(variant) -> list[str]:
    config = variant.get("ConfigMap", "alice-grafana-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config["data"]["alice.json"])
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_all_queries_are_valid_promql(full_variant) -> None:
    queries = [r["expr"] for r in rules(full_variant).values()] + dashboard_queries(full_variant)
    assert len(queries) >= 14
    for query in queries:
        promql_parser.parse(query)
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(http_requests_total[5m])")


def test_alice_metric_names_and_labels_are_the_ones_the_services_export(full_variant) -> None:
    exported = {
        observability.REQUESTS._name + "_total": set(observability.REQUESTS._labelnames),
        observability.LATENCY._name + "_bucket": {*observability.LATENCY._labelnames, "le"},
    }
    queries = [r["expr"] for r in rules(full_variant).values()] + dashboard_queries(full_variant)
    used = {m for q in queries for m in re.findall(r"\b(http_request\w*)\b", q)}
    assert used and used <= set(exported)
    for query in queries:
        for metric, labels in exported.items():
            for selector in re.findall(rf"{metric}\{{([^}}]*)\}}", query):
                names = set(re.findall(r"(\w+)\s*[!=~]", selector))
                assert names <= labels, (metric, names)
            for grouping in re.findall(r"by \(([^)]*)\)", query) if metric in query else []:
                assert {g.strip() for g in grouping.split(",")} <= labels, (query, grouping)


def test_service_monitor_finds_the_metrics_services(full_variant) -> None:
    (monitor,) = full_variant.of_kind("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector == {"monitoring": "enabled"}
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]
    selected = [
        s
        for s in full_variant.of_kind("Service")
        if selector.items() <= s["metadata"].get("labels", {}).items()
    ]
    names = {s["metadata"]["name"] for s in selected}
    assert {"backend-metrics", "orchestrator-metrics", "dataflow-metrics", "kafkaflow-metrics"} <= names
    assert {"kafka-exporter", "weaviate-metrics"} <= names
    for service in selected:
        assert "metrics" in [p["name"] for p in service["spec"]["ports"]], service["metadata"]["name"]
