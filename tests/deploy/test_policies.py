"""Policies over the rendered manifests: pod security, probes, resources, labels, autoscaling
numbers of docs/operations.md ("Scaling"), Services that reach real pods, stateful-set wiring, images, TLS."""

import re
from pathlib import Path

import pytest
import yaml

from tests.support.deploy_lib import REPO, containers, pod_spec, pod_template

ALICE_PORTS = {"backend": 8000, "orchestrator": 8001, "dataflow": 8002, "kafkaflow": 9094, "frontend": 3000}
KAFKA_CONSUMERS = {"orchestrator", "dataflow"}
SPOT_OK = {"frontend", "dataflow", "kafkaflow"}
STATEFUL = {"mongodb", "redis", "kafka", "weaviate"}

# docs/operations.md, "What every pod gets": requests/limits of the workloads it defines.
PLAN_RESOURCES = {
    "backend": ({"cpu": "250m", "memory": "256Mi"}, {"cpu": "500m", "memory": "512Mi"}),
    "orchestrator": ({"cpu": "500m", "memory": "512Mi"}, {"cpu": "1", "memory": "1Gi"}),  # 1000m, as stored
    "redis": ({"cpu": "100m", "memory": "128Mi"}, {"cpu": "200m", "memory": "256Mi"}),
    "kafka": ({"cpu": "250m", "memory": "512Mi"}, {"cpu": "500m", "memory": "1Gi"}),
    "mongodb": ({"cpu": "250m", "memory": "512Mi"}, {"cpu": "500m", "memory": "1Gi"}),
}
# docs/operations.md, "Scaling" (the frontend on CPU only).
PLAN_HPAS = {
    "backend-hpa": ("backend", 2, 10, {"cpu": 70, "memory": 80}),
    "orchestrator-hpa": ("orchestrator", 2, 8, {"cpu": 60, "memory": 75}),
    "frontend-hpa": ("frontend", 2, 6, {"cpu": 70}),
}


def name_of(obj: dict) -> str:
    return obj["metadata"]["name"]


def short_app(obj: dict) -> str:
    return pod_template(obj)["metadata"]["labels"]["app"].removeprefix("alice-")


def test_every_pod_is_locked_down(variant) -> None:
    for workload in variant.workloads():
        where = f"{variant.name}: {workload['kind']}/{name_of(workload)}"
        spec = pod_spec(workload)
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, where
        assert isinstance(pod_sc.get("runAsUser"), int) and pod_sc["runAsUser"] > 0, where
        assert pod_sc.get("seccompProfile") == {"type": "RuntimeDefault"}, where
        assert spec.get("automountServiceAccountToken") is False, where
        for container in containers(workload):
            sc = container.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, (where, container["name"])
            assert sc.get("readOnlyRootFilesystem") is True, (where, container["name"])
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], (where, container["name"])
            assert "add" not in sc.get("capabilities", {}), (where, container["name"])


def test_every_container_has_requests_and_limits(variant) -> None:
    for workload in variant.workloads():
        for container in containers(workload):
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= resources.get(kind, {}).keys(), (
                    name_of(workload),
                    container["name"],
                )


def test_plan_resources_are_kept(full_variant) -> None:
    for app, (requests, limits) in PLAN_RESOURCES.items():
        workload = next(w for w in full_variant.workloads() if w["kind"] != "CronJob" and name_of(w) == app)
        main = pod_spec(workload)["containers"][0]
        assert main["resources"] == {"requests": requests, "limits": limits}, app


def test_labels_on_every_object_and_pod(variant) -> None:
    for obj in variant.objects:
        assert obj["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "alice", name_of(obj)
    for workload in variant.workloads():
        labels = pod_template(workload)["metadata"]["labels"]
        assert labels["app"].startswith("alice-"), name_of(workload)
        assert {
            "app.kubernetes.io/name",
            "app.kubernetes.io/part-of",
            "app.kubernetes.io/component",
        } <= labels.keys()
        if workload["kind"] in {"Deployment", "StatefulSet"}:
            assert workload["spec"]["selector"] == {"matchLabels": {"app": labels["app"]}}


def test_plan_wait_labels_select_the_stores(variant) -> None:
    # The runbook (docs/operations.md): kubectl wait --for=condition=ready pod -l app=alice-mongodb|...
    apps = {pod_template(w)["metadata"]["labels"]["app"] for w in variant.workloads()}
    assert {"alice-mongodb", "alice-redis", "alice-kafka"} <= apps


def probe_path(container: dict, probe: str) -> tuple[str, int]:
    get = container[probe]["httpGet"]
    port = get["port"]
    if isinstance(port, str):
        port = next(p["containerPort"] for p in container["ports"] if p["name"] == port)
    return get["path"], port


@pytest.mark.parametrize("app", sorted(ALICE_PORTS))
def test_alice_probes_liveness_health_readiness_ready(variant, app: str) -> None:
    deployment = variant.get("Deployment", app)
    main = pod_spec(deployment)["containers"][0]
    assert probe_path(main, "livenessProbe") == ("/health", ALICE_PORTS[app])
    assert probe_path(main, "readinessProbe") == ("/ready", ALICE_PORTS[app])
    assert probe_path(main, "startupProbe") == ("/health", ALICE_PORTS[app])


def test_every_long_running_container_has_both_probes(variant) -> None:
    for workload in variant.workloads():
        if workload["kind"] in {"Job", "CronJob"}:
            continue
        for container in pod_spec(workload)["containers"]:
            assert "livenessProbe" in container and "readinessProbe" in container, name_of(workload)


def test_tmp_is_a_writable_emptydir_for_alice_pods(variant) -> None:
    for app in ALICE_PORTS:
        spec = pod_spec(variant.get("Deployment", app))
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], app


def consumer_drain_seconds() -> float:
    """What a consumer may take after SIGTERM: uvicorn's graceful shutdown + the loop's drain."""
    from alice_common.kafka import ConsumeOptions

    drain = ConsumeOptions().drain_timeout_s
    server = (REPO / "services/common/alice_common/server.py").read_text()
    graceful = int(re.search(r"timeout_graceful_shutdown=(\d+)", server).group(1))
    return drain + graceful


@pytest.mark.parametrize("app", sorted(KAFKA_CONSUMERS))
def test_kafka_consumers_get_prestop_and_enough_grace(variant, app: str) -> None:
    spec = pod_spec(variant.get("Deployment", app))
    pre_stop = spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert spec["terminationGracePeriodSeconds"] > int(pre_stop[1]) + consumer_drain_seconds()


def test_workloads_spread_across_nodes(variant) -> None:
    for workload in variant.workloads():
        if workload["kind"] in {"Job", "CronJob"}:
            continue
        constraints = pod_spec(workload).get("topologySpreadConstraints", [])
        assert any(c["topologyKey"] == "kubernetes.io/hostname" for c in constraints), name_of(workload)


def test_spot_tolerations_only_where_interruptions_are_safe(variant) -> None:
    for workload in variant.workloads():
        tolerations = pod_spec(workload).get("tolerations", [])
        spot = any(t.get("key") == "cloud.google.com/gke-spot" for t in tolerations)
        app = short_app(workload)
        if app in SPOT_OK:
            assert spot, app
        if app in STATEFUL | {"backend", "orchestrator"}:
            assert not spot, app
        # Tolerated and preferred, never required: a cluster without spot nodes still schedules.
        assert "cloud.google.com/gke-spot" not in pod_spec(workload).get("nodeSelector", {})


def scaler_of(variant, deployment: str) -> dict:
    """What scales a Deployment's pods: the Rollout that runs them under canary releases
    (k8s/canary), else the Deployment itself."""
    for rollout in variant.of_kind("Rollout"):
        if rollout["spec"]["workloadRef"] == {
            **rollout["spec"]["workloadRef"],
            "kind": "Deployment",
            "name": deployment,
        }:
            return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": name_of(rollout)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment}


def test_hpas_equal_the_plan(full_variant) -> None:
    hpas = {name_of(h): h for h in full_variant.of_kind("HorizontalPodAutoscaler")}
    assert set(hpas) == set(PLAN_HPAS)
    for name, (target, low, high, utilization) in PLAN_HPAS.items():
        spec = hpas[name]["spec"]
        assert spec["scaleTargetRef"] == scaler_of(full_variant, target)
        assert (spec["minReplicas"], spec["maxReplicas"]) == (low, high)
        found = {
            m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in spec["metrics"]
        }
        assert found == utilization
        full_variant.get("Deployment", target)


def test_dataflow_scales_on_kafka_lag_within_the_partitions(full_variant) -> None:
    (scaled,) = [s for s in full_variant.of_kind("ScaledObject") if s["metadata"]["name"] == "dataflow"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "dataflow"
    full_variant.get("Deployment", "dataflow")
    # Both of its consumer groups with a backlog worth scaling for: messages and documents.
    found = {(t["type"], t["metadata"]["consumerGroup"]) for t in scaled["spec"]["triggers"]}
    assert found == {("kafka", "dataflow"), ("kafka", "dataflow-documents")}
    partitions = int(full_variant.get("ConfigMap", "alice-config")["data"]["KAFKA_TOPIC_PARTITIONS"])
    assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"] <= partitions
    # One autoscaler per Deployment: KEDA owns the dataflow's.
    assert all(
        h["spec"]["scaleTargetRef"]["name"] != "dataflow"
        for h in full_variant.of_kind("HorizontalPodAutoscaler")
    )


def test_inference_scales_on_the_demand_for_its_slots_from_the_orchestrators_metrics(full_variant) -> None:
    (scaled,) = [s for s in full_variant.of_kind("ScaledObject") if s["metadata"]["name"] == "inference"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "inference"
    pod = full_variant.get("Deployment", "inference")["spec"]["template"]["spec"]
    slots = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}["LLAMA_ARG_N_PARALLEL"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metadata"]["threshold"] == slots
    # Series the orchestrator exports (alice_orchestrator/metrics.py), in the namespace it runs in.
    from alice_orchestrator import metrics

    namespace = full_variant.get("Deployment", "inference")["metadata"]["namespace"]
    for gauge in (metrics.INFERENCE_SLOTS_BUSY, metrics.INFERENCE_WAITING):
        assert f'{gauge._name}{{namespace="{namespace}"}}' in trigger["metadata"]["query"]
    assert scaled["spec"]["minReplicaCount"] >= 2, "the PodDisruptionBudget lets one go"
    assert all(
        h["spec"]["scaleTargetRef"]["name"] != "inference"
        for h in full_variant.of_kind("HorizontalPodAutoscaler")
    )


def test_the_lag_trigger_reads_a_group_the_registry_declares_for_the_scaled_service(full_variant) -> None:
    """Manifests cannot import the topic registry (alice_common.topics): a renamed topic or group
    there fails here instead of leaving KEDA reading the lag of a group that no longer exists."""
    from alice_common import topics

    prefix = full_variant.get("ConfigMap", "alice-config")["data"].get("KAFKA_TOPIC_PREFIX", "")
    for scaled in full_variant.of_kind("ScaledObject"):
        service = scaled["spec"]["scaleTargetRef"]["name"]
        declared = {
            (f"{prefix}{t.name}", f"{prefix}{c.group}")
            for t in topics.ALL
            for c in t.consumers
            if c.service == service
        }
        for trigger in (t for t in scaled["spec"]["triggers"] if t["type"] == "kafka"):
            found = (trigger["metadata"].get("topic"), trigger["metadata"]["consumerGroup"])
            assert found in declared, f"{name_of(scaled)}: {found} is none of {sorted(declared)}"


def test_every_long_running_alice_workload_has_a_vpa_that_only_recommends(full_variant) -> None:
    """docs/operations.md, "Right-sizing": VPA in Off mode for every Deployment and StatefulSet of
    Alice (recommendations only; the HPAs keep scaling on CPU without a second controller)."""
    vpas = {name_of(v): v for v in full_variant.of_kind("VerticalPodAutoscaler")}
    targets = [
        scaler_of(full_variant, name_of(w)) if w["kind"] == "Deployment" else
        {"apiVersion": "apps/v1", "kind": w["kind"], "name": name_of(w)}
        for w in full_variant.workloads()
        if w["kind"] in {"Deployment", "StatefulSet"}
        and w["metadata"]["labels"].get("app.kubernetes.io/part-of") == "alice"
        and name_of(w) != "kafka-exporter"  # the monitoring Component's third-party exporter
    ]  # fmt: skip
    found = [v["spec"]["targetRef"] for v in vpas.values()]
    assert sorted(found, key=str) == sorted(targets, key=str)
    assert {t["kind"] for t in found} == {"Deployment", "StatefulSet", "Rollout"}
    for name, vpa in vpas.items():
        assert vpa["spec"]["updatePolicy"] == {"updateMode": "Off"}, name


def test_dev_runs_one_replica_of_everything_without_operators(rendered) -> None:
    dev = rendered["dev"]
    for workload in dev.of_kind("Deployment") + dev.of_kind("StatefulSet"):
        assert workload["spec"]["replicas"] == 1, name_of(workload)
    kinds = {o["kind"] for o in dev.objects}
    assert not kinds & {
        "HorizontalPodAutoscaler",
        "ScaledObject",
        "ServiceMonitor",
        "PrometheusRule",
        "ClusterIssuer",
        "VirtualService",
        "CronJob",  # the backups
        "VerticalPodAutoscaler",
    }
    ingress = dev.get("Ingress", "alice-ingress")
    assert "tls" not in ingress["spec"]
    assert "cert-manager.io/cluster-issuer" not in ingress["metadata"]["annotations"]


def ports_of(workload: dict) -> dict[str | int, int]:
    ports: dict[str | int, int] = {}
    for container in pod_spec(workload)["containers"]:
        for port in container.get("ports", []):
            ports[port["containerPort"]] = port["containerPort"]
            if "name" in port:
                ports[port["name"]] = port["containerPort"]
    return ports


def test_every_service_selects_pods_and_targets_exposed_ports(variant) -> None:
    workloads = [w for w in variant.workloads() if w["kind"] in {"Deployment", "StatefulSet"}]
    for service in variant.of_kind("Service"):
        selector = service["spec"]["selector"]
        matched = [w for w in workloads if selector.items() <= pod_template(w)["metadata"]["labels"].items()]
        assert matched, f"Service {name_of(service)} selects no pods"
        for workload in matched:
            exposed = ports_of(workload)
            for port in service["spec"]["ports"]:
                assert port.get("targetPort", port["port"]) in exposed, (name_of(service), port)


@pytest.mark.parametrize("app", sorted(ALICE_PORTS))
def test_alice_services_expose_the_design_port(variant, app: str) -> None:
    service = variant.get("Service", app)
    assert [p["port"] for p in service["spec"]["ports"]] == [ALICE_PORTS[app]]
    assert ports_of(variant.get("Deployment", app))["http"] == ALICE_PORTS[app]


def test_statefulsets_have_headless_governing_services(variant) -> None:
    for statefulset in variant.of_kind("StatefulSet"):
        service = variant.get("Service", statefulset["spec"]["serviceName"])
        assert service["spec"].get("clusterIP") == "None", name_of(statefulset)
        assert service["spec"].get("publishNotReadyAddresses") is True


def test_kafka_node_ids_are_ordinals_and_the_quorum_matches_the_replicas(variant) -> None:
    kafka = variant.get("StatefulSet", "kafka")
    main = pod_spec(kafka)["containers"][0]
    assert not any(e["name"] == "KAFKA_NODE_ID" for e in main.get("env", []))
    script = "\n".join(main["args"])
    assert 'KAFKA_NODE_ID="${POD_NAME##*-}"' in script
    assert "${POD_NAME}.kafka-headless" in script
    config = variant.get("ConfigMap", "kafka-config")["data"]
    voters = config["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    replicas = kafka["spec"]["replicas"]
    assert voters == [f"{i}@kafka-{i}.kafka-headless:9093" for i in range(replicas)]
    assert int(config["KAFKA_DEFAULT_REPLICATION_FACTOR"]) <= replicas
    assert int(config["KAFKA_MIN_INSYNC_REPLICAS"]) <= int(config["KAFKA_DEFAULT_REPLICATION_FACTOR"])
    app_config = variant.get("ConfigMap", "alice-config")["data"]
    assert int(app_config["KAFKA_REPLICATION_FACTOR"]) <= replicas
    for server in app_config["KAFKA_BOOTSTRAP_SERVERS"].split(","):
        assert int(re.fullmatch(r"kafka-(\d+)\.kafka-headless:9092", server).group(1)) < replicas


def test_mongodb_replica_set_is_initiated_for_its_members(variant) -> None:
    mongodb = variant.get("StatefulSet", "mongodb")
    assert "--replSet" in pod_spec(mongodb)["containers"][0]["args"]
    job = variant.get("Job", "mongodb-replicaset-init")
    init = pod_spec(job)["containers"][0]
    env = {e["name"]: e.get("value") for e in init["env"]}
    assert int(env["MONGODB_REPLICAS"]) == mongodb["spec"]["replicas"]
    assert "rs.initiate" in init["args"][0]


def test_weaviate_cluster_settings_match_the_replicas(variant) -> None:
    weaviate = variant.get("StatefulSet", "weaviate")
    config = variant.get("ConfigMap", "weaviate-config")["data"]
    replicas = weaviate["spec"]["replicas"]
    assert int(config["RAFT_BOOTSTRAP_EXPECT"]) == replicas
    assert config["RAFT_JOIN"].split(",") == [f"weaviate-{i}" for i in range(replicas)]
    assert config["DEFAULT_VECTORIZER_MODULE"] == "none"


def images(variant) -> set[str]:
    return {c["image"] for w in variant.workloads() for c in containers(w)}


def test_every_image_is_pinned(variant) -> None:
    for image in images(variant):
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, f"{image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), image


def test_prod_has_no_latest_image(rendered) -> None:
    prod_images = images(rendered["prod"])
    assert {i.rpartition(":")[0] for i in prod_images} >= {f"alice/{app}" for app in ALICE_PORTS}
    assert not [i for i in prod_images if i.endswith(":latest") or ":" not in i.split("/")[-1]]


def test_ingress_routes_api_to_the_backend_with_sse_settings(full_variant) -> None:
    ingress = full_variant.get("Ingress", "alice-ingress")
    annotations = ingress["metadata"]["annotations"]
    assert "nginx.ingress.kubernetes.io/rewrite-target" not in annotations
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    full_variant.get("ClusterIssuer", "letsencrypt-prod")
    assert ingress["spec"]["tls"][0]["hosts"] == ["alicechatbot.com", "api.alicechatbot.com"]
    routes = {
        (rule["host"], path["path"]): (
            path["backend"]["service"]["name"],
            path["backend"]["service"]["port"]["number"],
        )
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert routes == {
        ("alicechatbot.com", "/api"): ("backend", 8000),
        ("alicechatbot.com", "/v1"): ("backend", 8000),  # the OpenAI-compatible API
        ("alicechatbot.com", "/"): ("frontend", 3000),
        ("api.alicechatbot.com", "/api"): ("backend", 8000),
        ("api.alicechatbot.com", "/v1"): ("backend", 8000),
    }


def test_no_diagnostics_reach_the_internet(full_variant) -> None:
    """/metrics, /ready, /docs and /openapi.json are for the cluster, never routed from outside."""
    ingress = full_variant.get("Ingress", "alice-ingress")
    exposed = [
        path["path"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
        if path["backend"]["service"]["name"] != "frontend"
    ]
    for path in ("/metrics", "/ready", "/health", "/docs", "/openapi.json", "/internal/x"):
        assert not any(path == p or path.startswith(p.rstrip("/") + "/") for p in exposed), path


def test_pod_disruption_budgets_cover_replicated_workloads(variant) -> None:
    budgets = {
        pdb["spec"]["selector"]["matchLabels"]["app"]: pdb for pdb in variant.of_kind("PodDisruptionBudget")
    }
    for workload in variant.of_kind("Deployment") + variant.of_kind("StatefulSet"):
        app = pod_template(workload)["metadata"]["labels"]["app"]
        if short_app(workload) in ALICE_PORTS or workload["kind"] == "StatefulSet":
            assert budgets[app]["spec"]["maxUnavailable"] == 1, app


def test_backups_follow_the_plan(full_variant) -> None:
    variant = full_variant
    schedules = {name_of(c): c["spec"]["schedule"] for c in variant.of_kind("CronJob")}
    assert schedules["backup-mongodb"] == "0 2 * * *"  # daily mongodump
    assert schedules["backup-redis"] == "*/15 * * * *"  # RDB every 15 minutes
    assert schedules["backup-weaviate"].endswith("* * *")  # daily
    mongodump = pod_spec(variant.get("CronJob", "backup-mongodb"))["containers"][0]["args"][0]
    # mongodump's directory layout, which alice_common.mongo_backup also writes and reads.
    assert "mongodump" in mongodump and "--gzip --out=" in mongodump and "mongorestore" in mongodump
    redis = variant.get("Deployment", "redis")
    assert "--save 900 1" in pod_spec(redis)["containers"][0]["args"][0]


def test_the_test_clusters_mongodb_backup_is_the_production_script_with_the_stand_in_tool() -> None:
    """tests/cluster/overlay runs MongoDB's backup and restore with alice_common.mongo_backup (no
    mongodump there): the script must be the production CronJob's, line for line, with only the
    two commands replaced, so the restore drill tests what production runs."""

    def script(path: Path, find) -> str:
        for doc in yaml.safe_load_all(path.read_text()):
            found = find(doc)
            if found is not None:
                return found
        raise AssertionError(f"no backup-mongodb script in {path}")

    production = script(
        REPO / "k8s/backup/mongodb-backup.yaml",
        lambda d: pod_spec(d)["containers"][0]["args"][0] if d and d.get("kind") == "CronJob" else None,
    )
    overlay = yaml.safe_load((REPO / "tests/cluster/overlay/kustomization.yaml").read_text())
    patches = [p for p in overlay["patches"] if p["target"].get("name") == "backup-mongodb"]
    [stand_in] = [op["value"] for op in yaml.safe_load(patches[0]["patch"]) if op["path"].endswith("/args/0")]
    expected = production.replace(
        "mongodump --uri", "python -m alice_common.mongo_backup dump --uri"
    ).replace("mongorestore --uri", "python -m alice_common.mongo_backup restore --uri")
    assert stand_in == expected
