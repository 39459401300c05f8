"""The canary releases of k8s/canary as the prod overlay renders them (docs/operations.md, "Releasing:
canary"). tests/cluster/test_canary.py runs them on the local cluster."""

import re

from alice_common import observability
from alice_common.kafka import metrics as kafka_metrics
from alice_orchestrator import metrics as orchestrator_metrics
from prometheus_client import REGISTRY

from tests.support.deploy_lib import REPO, kustomize

RELEASED = {"backend": "alice-canary-http", "orchestrator": "alice-canary-consumer"}


def test_the_backend_and_the_orchestrator_are_released_by_a_rollout_of_their_deployment(full_variant) -> None:
    rollouts = {r["metadata"]["name"]: r for r in full_variant.of_kind("Rollout")}
    assert set(rollouts) == set(RELEASED)
    for name, rollout in rollouts.items():
        deployment = full_variant.get("Deployment", name)
        spec = rollout["spec"]
        assert spec["workloadRef"] == {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": name, "scaleDown": "progressively"
        }  # fmt: skip
        assert spec["selector"] == deployment["spec"]["selector"]
        assert spec["replicas"] == deployment["spec"]["replicas"]


def test_each_release_goes_10_then_50_then_100_percent_with_pauses_and_an_analysis(full_variant) -> None:
    for name, template in RELEASED.items():
        canary = full_variant.get("Rollout", name)["spec"]["strategy"]["canary"]
        steps = canary["steps"]
        assert [s.get("setWeight") for s in steps[::2]] == [10, 50]
        assert all("duration" in s["pause"] for s in steps[1::2]), (
            "a pause without duration waits for a person"
        )
        assert canary["analysis"]["templates"] == [{"templateName": template}]
        args = {a["name"]: a for a in canary["analysis"]["args"]}
        assert args["canary-hash"]["valueFrom"] == {"podTemplateHashValue": "Latest"}
        # Every argument the template requires is given.
        analysis = full_variant.get("AnalysisTemplate", template)
        required = {a["name"] for a in analysis["spec"]["args"] if "value" not in a}
        assert required <= set(args)


def test_the_analysis_measures_only_series_the_services_export_on_the_new_pods(full_variant) -> None:
    """A renamed metric would leave the analysis measuring nothing (which it takes for no errors)."""
    exported = {m.name for m in REGISTRY.collect()}
    assert (
        observability.REQUESTS and kafka_metrics.FAILED and orchestrator_metrics.PIPELINE_TTFT
    )  # registered
    (monitor,) = full_variant.of_kind("ServiceMonitor")
    assert "rollouts-pod-template-hash" in monitor["spec"]["podTargetLabels"]
    for template in full_variant.of_kind("AnalysisTemplate"):
        for metric in template["spec"]["metrics"]:
            query = metric["provider"]["prometheus"]["query"]
            for selector in re.findall(r"(\w+)\{((?:[^{}]|\{\{[^{}]*\}\})*)\}", query):
                series, labels = selector
                base = re.sub(r"_(total|bucket)$", "", series)
                assert base in exported, f"{template['metadata']['name']}/{metric['name']}: {series}"
                assert 'rollouts_pod_template_hash="{{args.canary-hash}}"' in labels, series
            assert metric["failureLimit"] >= 1 and "isNaN(result[0])" in metric["successCondition"]


def test_the_autoscalers_scale_the_rollouts(full_variant) -> None:
    for name in RELEASED:
        hpa = full_variant.get("HorizontalPodAutoscaler", f"{name}-hpa")
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "name": name,
        }


def test_the_cluster_tests_release_with_the_users_queries_and_thresholds(full_variant) -> None:
    """tests/cluster/canary shortens the pauses and the analysis interval and window and runs two
    replicas; everything else is what users deploy."""
    tested = {(o["kind"], o["metadata"]["name"]): o for o in kustomize(REPO / "tests/cluster/canary")}
    assert set(tested) == {
        (o["kind"], o["metadata"]["name"])
        for o in full_variant.objects
        if o["kind"] in {"Rollout", "AnalysisTemplate"}
    }
    numbers = re.compile(r"^\d+[smh]?$")
    for (kind, name), obj in tested.items():
        users = full_variant.get(kind, name)
        differences = list(differing(users, obj))
        assert differences, (kind, name)
        for path, theirs, ours in differences:
            assert numbers.match(str(theirs)) and numbers.match(str(ours)), (kind, name, path, theirs, ours)


def differing(a, b, path: str = ""):
    """(path, a's value, b's value) for each leaf where a and b differ (the test namespace aside)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a.keys() | b.keys():
            if key in ("namespace", "labels"):
                continue
            yield from differing(a.get(key), b.get(key), f"{path}/{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from differing(x, y, f"{path}/{i}")
    elif a != b:
        yield path, a, b
