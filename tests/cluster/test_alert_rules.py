"""The users' alert rules (k8s/monitoring/prometheusrule.yaml) evaluated by Prometheus' own engine,
`promtool test rules` (built with the cluster's Prometheus, tools/cluster/provision.sh), on series
shaped like the cluster's: what test_monitoring.py cannot wait for on a live cluster (an hour-long
window) or cannot tell apart there (two exporters of the same lag)."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.kube import ROOT

pytestmark = [pytest.mark.cluster]

RESTARTS = "kube_pod_container_status_restarts_total"
LAG = "kafka_consumergroup_lag_sum"
CACHE = Path(os.environ.get("ALICE_CACHE_DIR", Path.home() / ".cache/alice")) / "cluster/bin"


def promtool() -> Path:
    found = sorted(CACHE.glob("promtool-*"))
    assert found, f"no promtool in {CACHE}: tools/cluster/provision.sh builds it (make cluster-up)"
    return found[-1]


def rules() -> dict:
    rule = yaml.safe_load((ROOT / "k8s/monitoring/prometheusrule.yaml").read_text())
    return {"groups": rule["spec"]["groups"]}


def annotations(alert: str, **labels: str) -> dict[str, str]:
    """The rule's annotations with `{{ $labels.x }}` filled in, as Prometheus renders them."""
    (rule,) = [r for g in rules()["groups"] for r in g["rules"] if r.get("alert") == alert]
    rendered = {}
    for key, text in rule["annotations"].items():
        for name, value in labels.items():
            text = text.replace(f"{{{{ $labels.{name} }}}}", value)
        rendered[key] = text
    return rendered


def run_promtool(tmp_path: Path, tests: list[dict]) -> subprocess.CompletedProcess:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules()))
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    return subprocess.run(
        [str(promtool()), "test", "rules", "tests.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_pod_restarts_fire_and_resolve_once_the_crashing_pod_is_gone(tmp_path: Path) -> None:
    """A release crash-loops (5 restarts in 5 minutes), then is rolled back at 6m: the pod is
    deleted, kube-state-metrics stops exporting it. The alert must not stay for the rest of the hour."""
    pod = {"namespace": "alice", "pod": "kafkaflow-7d9c-x2x", "uid": "u1"}
    labels = ",".join(f'{k}="{v}"' for k, v in pod.items())
    fired = {
        "exp_labels": {"severity": "warning", "pod": pod["pod"]},
        "exp_annotations": annotations("AlicePodRestarts", pod=pod["pod"]),
    }
    result = run_promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": f'{RESTARTS}{{{labels},container="kafkaflow"}}',
                        "values": "0 1 2 3 4 5 stale",
                    },
                    {"series": f'kube_pod_info{{{labels},node="n"}}', "values": "1 1 1 1 1 1 stale"},
                ],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "AlicePodRestarts", "exp_alerts": [fired]},
                    {"eval_time": "8m", "alertname": "AlicePodRestarts", "exp_alerts": []},
                ],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_consumer_lag_counts_a_group_once_whatever_the_number_of_exporters(tmp_path: Path) -> None:
    """kafkaflow and the lag exporter both export kafka_consumergroup_lag_sum: 6000 messages behind,
    seen by both, is 6000, under the 10 000 threshold; 12 000 seen by both fires."""

    def lag(group: str, value: int) -> list[dict]:
        return [
            {
                "series": f'{LAG}{{namespace="alice",job="{job}",consumergroup="{group}",topic="t"}}',
                "values": f"{value}x20",
            }
            for job in ("kafkaflow-metrics", "kafka-exporter")
        ]

    result = run_promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": lag("dataflow", 6000) + lag("orchestrator", 12000),
                "alert_rule_test": [
                    {
                        "eval_time": "15m",
                        "alertname": "AliceKafkaConsumerLag",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "consumergroup": "orchestrator"},
                                "exp_annotations": annotations(
                                    "AliceKafkaConsumerLag", consumergroup="orchestrator"
                                ),
                            }
                        ],
                    }
                ],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_error_rate_counts_users_requests_not_the_probes_of_a_starting_pod(tmp_path: Path) -> None:
    """A pod's /ready answers 503 while it waits for its stores (by design): that is no error users
    see, and must not fire AliceHighErrorRate; 10 % of users' requests failing does."""

    def requests(service: str, route: str, status: int, per_minute: int) -> dict:
        return {
            "series": f'http_requests_total{{service="{service}",route="{route}",status="{status}"}}',
            "values": f"0+{per_minute}x20",
        }

    backend = "backend-metrics"
    result = run_promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [
                    requests("dataflow-metrics", "/ready", 503, 6),
                    requests("dataflow-metrics", "/metrics", 200, 4),
                    requests("dataflow-metrics", "/api/search", 200, 10),
                    requests(backend, "/api/me", 200, 90),
                    requests(backend, "/api/search", 503, 10),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": "AliceHighErrorRate",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "service": backend},
                                "exp_annotations": annotations("AliceHighErrorRate", service=backend),
                            }
                        ],
                    }
                ],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_replies_queueing_fires_only_when_they_wait_without_a_break(tmp_path: Path) -> None:
    """Two orchestrators report their waiting replies: a burst that clears within minutes is the
    line doing its job; replies waiting at every evaluation for 5 minutes is a shortage."""
    waiting = "alice_inference_waiting"
    fired = {"exp_labels": {"severity": "warning"}, "exp_annotations": annotations("AliceRepliesQueueing")}
    result = run_promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [
                    # A burst on one pod, cleared, then waiting on one pod or the other for 8 minutes.
                    {
                        "series": f'{waiting}{{namespace="alice",pod="orchestrator-a"}}',
                        "values": "3 2 0 0 0 4 4 0 0 2 2 3 3",
                    },
                    {
                        "series": f'{waiting}{{namespace="alice",pod="orchestrator-b"}}',
                        "values": "0 0 0 0 0 0 0 1 1 0 0 0 0",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "AliceRepliesQueueing", "exp_alerts": []},
                    {"eval_time": "9m", "alertname": "AliceRepliesQueueing", "exp_alerts": []},
                    {"eval_time": "11m", "alertname": "AliceRepliesQueueing", "exp_alerts": [fired]},
                ],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr
