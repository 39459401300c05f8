"""The same images, env names and ports everywhere: code settings, docker-compose.yml, k8s/,
skaffold.yaml, Dockerfiles and the ports of docs/contracts.md."""

import base64
import importlib
import ipaddress
import re

import pytest
import yaml
from alice_common.settings import AliceSettings

from tests.support.deploy_lib import K8S, REPO, pod_spec

SERVICES = ["backend", "orchestrator", "dataflow", "kafkaflow"]
# docs/contracts.md, "Services, ports and who talks to whom".
CONTRACT_PORTS = {
    "frontend": 3000, "backend": 8000, "orchestrator": 8001, "dataflow": 8002, "kafkaflow": 9094,
    "mongodb": 27017, "weaviate": 8080, "redis": 6379, "kafka": 9092, "inference": 8090,
}  # fmt: skip
SYNC = "run scripts/sync_settings_env.py"
COMPOSE_DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")
COMPOSE_REQUIRED = re.compile(r"\$\{(\w+):\?([^}]*)\}")
# Secrets compose takes from the git-ignored .env (scripts/compose-env.sh): no built-in default.
COMPOSE_SECRETS = {
    "JWT_SECRET", "ALICE_INTERNAL_TOKEN", "WEAVIATE_API_KEY", "REDIS_PASSWORD", "MONGODB_PASSWORD",
    "ORCHESTRATOR_INTERNAL_TOKEN", "DATAFLOW_INTERNAL_TOKEN", "KAFKAFLOW_INTERNAL_TOKEN",
}  # fmt: skip
# Host ports of compose, movable by ALICE_<NAME>_PORT (published on 127.0.0.1 only).
COMPOSE_PORT_VARS = {
    "frontend": "ALICE_FRONTEND_PORT", "backend": "ALICE_BACKEND_PORT",
    "orchestrator": "ALICE_ORCHESTRATOR_PORT", "dataflow": "ALICE_DATAFLOW_PORT",
    "kafkaflow": "ALICE_KAFKAFLOW_PORT", "mongodb": "ALICE_MONGO_PORT", "weaviate": "ALICE_WEAVIATE_PORT",
    "redis": "ALICE_REDIS_PORT", "kafka": "ALICE_KAFKA_PORT", "inference": "ALICE_INFERENCE_PORT",
}  # fmt: skip


def settings_class(service: str) -> type[AliceSettings]:
    return importlib.import_module(f"alice_{service}.settings").Settings


def setting_env_names(service: str) -> set[str]:
    return {name.upper() for name in settings_class(service).model_fields}


def secret_env_names(service: str) -> set[str]:
    fields = settings_class(service).model_fields
    return {name.upper() for name, f in fields.items() if "SecretStr" in str(f.annotation)}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def skaffold() -> dict:
    return yaml.safe_load((REPO / "skaffold.yaml").read_text())


def compose_env(compose: dict, service: str) -> dict[str, str]:
    """The environment compose gives the container, with ${VAR:-default} resolved to its default."""
    env = compose["services"][service].get("environment", {})
    assert isinstance(env, dict), "use the mapping form of environment"
    resolved = {k: COMPOSE_DEFAULT.sub(lambda m: m.group(2), str(v)) for k, v in env.items()}
    # A required secret stands for a random .env value: any long string.
    return {
        k: COMPOSE_REQUIRED.sub(lambda m: f"from-env-{m.group(1)}-" + "x" * 40, v)
        for k, v in resolved.items()
    }


def k8s_env(variant, service: str) -> tuple[dict[str, str], set[str]]:
    """(env of the main container resolved from its ConfigMaps/Secrets, names that come from Secrets)."""
    container = pod_spec(variant.get("Deployment", service))["containers"][0]
    env: dict[str, str] = {}
    from_secrets: set[str] = set()
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(variant.get("ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            secret = variant.get("Secret", source["secretRef"]["name"])
            env.update(secret.get("stringData", {}))
            from_secrets |= set(secret.get("stringData", {}))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = variant.get("Secret", ref["name"])["stringData"][ref["key"]]
            from_secrets.add(item["name"])
    return env, from_secrets


def load_settings(service: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AliceSettings:
    for name in setting_env_names(service):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return settings_class(service)()


@pytest.mark.parametrize("service", SERVICES)
def test_compose_provides_every_setting(compose: dict, service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = compose_env(compose, service)
    missing = setting_env_names(service) - env.keys()
    assert not missing, f"docker-compose.yml {service}: add {sorted(missing)} ({SYNC})"
    settings = load_settings(service, env, monkeypatch)  # every value parses
    assert settings.port == CONTRACT_PORTS[service]
    assert settings.service_name == service
    assert settings.kafka_bootstrap_servers == "kafka:9092"


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_provides_every_setting_secrets_from_secrets(
    variant, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, from_secrets = k8s_env(variant, service)
    missing = setting_env_names(service) - env.keys()
    assert not missing, f"k8s {variant.name} {service}: add {sorted(missing)} ({SYNC}, or a Secret)"
    misplaced = secret_env_names(service) - from_secrets
    assert not misplaced, f"{sorted(misplaced)} must come from a Secret"
    settings = load_settings(service, env, monkeypatch)
    assert settings.port == CONTRACT_PORTS[service]
    assert settings.service_name == service
    assert settings.weaviate_url == "http://weaviate:8080"
    assert "@redis:6379" in settings.redis_url and "replicaSet=rs0" in settings.mongodb_url


@pytest.mark.parametrize("service", SERVICES)
def test_no_env_var_that_no_setting_reads(variant, compose: dict, service: str) -> None:
    """A misspelt or stale name would be silently ignored (extra="ignore"): refuse it."""
    known = setting_env_names(service)
    stale = set(compose_env(compose, service)) - known
    assert not stale, f"docker-compose.yml {service}: {sorted(stale)} is read by no setting ({SYNC})"
    config = variant.get("ConfigMap", f"{service}-config")["data"]
    shared = variant.get("ConfigMap", "alice-config")["data"]
    stale = (set(config) | set(shared)) - known
    assert not stale, f"k8s {service}: {sorted(stale)} is read by no setting ({SYNC})"


def test_backend_reaches_the_internal_apis_by_service_name(variant, compose: dict) -> None:
    for env in (k8s_env(variant, "backend")[0], compose_env(compose, "backend")):
        for service in ("orchestrator", "dataflow", "kafkaflow"):
            assert env[f"{service.upper()}_URL"] == f"http://{service}:{CONTRACT_PORTS[service]}"


def test_compose_names_no_development_mode_and_redis_needs_a_password(compose: dict) -> None:
    """Issue 23: compose once ran with ALICE_ENV=dev, and its Redis took no password."""
    for service in SERVICES:
        env = compose_env(compose, service)
        assert env["ALICE_ENV"] != "dev", service
        assert re.fullmatch(r"redis://:from-env-REDIS_PASSWORD-x+@redis:6379/0", env["REDIS_URL"]), service
    redis = compose["services"]["redis"]
    assert "--requirepass" in " ".join(redis["command"])
    assert redis["environment"]["REDISCLI_AUTH"] == redis["environment"]["REDIS_PASSWORD"]  # healthcheck


def test_compose_mongodb_needs_a_password_except_offline_ferretdb(compose: dict) -> None:
    """Issue 23: compose's MongoDB took no password. With the registry's mongod the services sign in
    as the root user compose creates from .env; the offline FerretDB 1.x has no users, so the offline
    file alone, and only for the services, drops the password from the URL."""
    mongodb = compose_env(compose, "mongodb")
    root = (mongodb["MONGO_INITDB_ROOT_USERNAME"], mongodb["MONGO_INITDB_ROOT_PASSWORD"])
    assert root[1].startswith("from-env-MONGODB_PASSWORD-")
    for service in SERVICES:
        url = compose_env(compose, service)["MONGODB_URL"]
        signed_in = re.fullmatch(r"mongodb://(\w+):([^@]+)@mongodb:27017/\?authSource=admin", url)
        assert signed_in and signed_in.groups() == root, service
    offline = yaml.safe_load((REPO / "docker-compose.offline.yml").read_text())["services"]
    assert offline["mongodb"]["image"].startswith("alice-offline/mongo:ferretdb-")
    for service in SERVICES:
        assert offline[service]["environment"] == {"MONGODB_URL": "mongodb://mongodb:27017"}, service


def test_prod_runs_in_production_mode_with_secure_cookies(rendered) -> None:
    for service in SERVICES:  # production mode refuses weak secrets in every service
        assert k8s_env(rendered["prod"], service)[0]["ALICE_ENV"] != "dev", service
    assert k8s_env(rendered["prod"], "backend")[0]["REFRESH_COOKIE_SECURE"] == "true"


def test_the_backend_trusts_its_proxies_to_name_the_client(rendered, compose: dict) -> None:
    """Behind the ingress (or the frontend's nginx) every request comes from the proxy: unless the
    proxy is trusted, per-address login and sign-up limits turn site-wide. In Kubernetes the proxy
    pods have no fixed address (NetworkPolicy lets only them reach the backend); in compose the
    frontend's nginx has one, and only it is trusted: not the bridge network, where every other
    container (and the host, through the gateway) also is."""
    env = k8s_env(rendered["prod"], "backend")[0]
    trusted = [ipaddress.ip_network(n.strip()) for n in env["FORWARDED_ALLOW_IPS"].split(",")]
    assert any(ipaddress.ip_address("10.244.1.17") in network for network in trusted)
    assert "*" not in env["FORWARDED_ALLOW_IPS"]

    nginx = compose["services"]["frontend"]["networks"]["edge"]["ipv4_address"]
    assert compose["services"]["backend"]["environment"]["FORWARDED_ALLOW_IPS"] == nginx  # one variable
    subnet = ipaddress.ip_network(
        COMPOSE_DEFAULT.sub(lambda m: m.group(2), compose["networks"]["edge"]["ipam"]["config"][0]["subnet"])
    )
    assert ipaddress.ip_address(compose_env(compose, "backend")["FORWARDED_ALLOW_IPS"]) in subnet
    assert "edge" in compose["services"]["backend"]["networks"]
    assert set(compose["services"]["frontend"]["networks"]) == {"edge"}  # nothing else shares its view


def test_the_native_default_trusts_no_proxy() -> None:
    assert settings_class("backend").model_fields["forwarded_allow_ips"].default == ""


def test_the_edge_overwrites_the_client_address() -> None:
    """nginx (image and ConfigMap) sets X-Forwarded-For to the connection's address; the ingress
    controller does too, as long as nothing turns on compute-full-forwarded-for or
    use-forwarded-headers or adds a snippet of its own."""
    for path in ("frontend/nginx.conf", "k8s/configmaps/frontend-config.yaml"):
        conf = (REPO / path).read_text()
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf, path
        assert "proxy_add_x_forwarded_for" not in conf, path
    ingress = (REPO / "k8s/ingress/ingress.yaml").read_text()
    for appending in ("compute-full-forwarded-for", "use-forwarded-headers", "snippet", "X-Forwarded-For"):
        assert appending not in ingress


def test_compose_interpolation_is_defaults_or_required_secrets(compose: dict) -> None:
    """Every ${VAR} has a default, except the secrets: those must come from .env, and compose stops
    with a message naming what to run when they do not (never a weak built-in default)."""
    text = (REPO / "docker-compose.yml").read_text()
    required = set()
    for match in re.finditer(r"(?<!\$)\$(?!\$)(\{[^}]*\}|\w+)", text):
        if found := COMPOSE_REQUIRED.fullmatch(match.group(0)):
            required.add(found.group(1))
            assert "scripts/compose-env.sh" in found.group(2) and "make compose-up" in found.group(2)
        else:
            assert COMPOSE_DEFAULT.fullmatch(match.group(0)), f"{match.group(0)} needs a default (or $$)"
    assert required == COMPOSE_SECRETS


def alice_images_in_k8s(variant) -> set[str]:
    return {
        c["image"].rpartition(":")[0]
        for w in variant.workloads()
        for c in pod_spec(w)["containers"]
        if c["image"].startswith("alice/")
    }


def test_same_images_in_skaffold_k8s_and_compose(variant, compose: dict, skaffold: dict) -> None:
    artifacts = {a["image"]: a for a in skaffold["build"]["artifacts"]}
    expected = {f"alice/{s}" for s in [*SERVICES, "frontend", "inference"]}
    assert set(artifacts) == expected
    assert alice_images_in_k8s(variant) == expected
    compose_images = {
        svc["image"].rpartition(":")[0]: svc for svc in compose["services"].values() if "build" in svc
    }
    assert set(compose_images) == expected
    for image, svc in compose_images.items():
        assert svc["build"]["context"] == artifacts[image]["context"] == "."
        assert svc["build"]["dockerfile"] == artifacts[image]["docker"]["dockerfile"]
        assert (REPO / svc["build"]["dockerfile"]).is_file()
        assert svc["build"].get("args", {}) == artifacts[image]["docker"].get("buildArgs", {})

    # k8s and compose agree on the tag too (skaffold replaces it with what it built).
    k8s_tags = {
        c["image"]
        for w in variant.workloads()
        for c in pod_spec(w)["containers"]
        if c["image"].startswith("alice/")
    }
    assert k8s_tags == {svc["image"] for svc in compose_images.values()}


def test_every_compose_port_is_published_on_loopback_only(compose: dict) -> None:
    for name, service in compose["services"].items():
        for mapping in service.get("ports", []):
            assert re.fullmatch(r"127\.0\.0\.1:\$\{ALICE_\w+_PORT:-\d+\}:\d+", mapping), (name, mapping)


def test_same_third_party_images_in_compose_and_k8s(rendered, compose: dict) -> None:
    k8s_images = {c["image"] for w in rendered["prod"].workloads() for c in pod_spec(w)["containers"]}
    for store in ("mongodb", "redis", "kafka", "weaviate"):
        assert compose["services"][store]["image"] in k8s_images, store


def test_kafka_cluster_id_is_a_kraft_uuid(variant, compose: dict) -> None:
    """kafka-storage format rejects an id that is not 16 bytes in base64url (22 characters)."""
    for cluster_id in (
        variant.get("ConfigMap", "kafka-config")["data"]["CLUSTER_ID"],
        compose["services"]["kafka"]["environment"]["CLUSTER_ID"],
    ):
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id), cluster_id
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


@pytest.mark.parametrize("service", [*SERVICES, "frontend"])
def test_ports_match_design(variant, compose: dict, service: str) -> None:
    port = CONTRACT_PORTS[service]
    assert (
        f"127.0.0.1:${{{COMPOSE_PORT_VARS[service]}:-{port}}}:{port}" in compose["services"][service]["ports"]
    )
    if service == "frontend":
        dockerfile = (REPO / "frontend/Dockerfile").read_text()
    else:  # the service's own final stage of the one Python Dockerfile
        text = (REPO / "services/Dockerfile").read_text()
        dockerfile = re.search(rf"^FROM runtime AS {service}\n(.*?)(?=^FROM |\Z)", text, re.M | re.S).group(1)
        assert f"ENV PORT={port}" in dockerfile
    assert re.findall(r"^EXPOSE (\d+)$", dockerfile, re.M) == [str(port)]
    if service != "frontend":
        assert settings_class(service)().port == port
        assert variant.get("ConfigMap", f"{service}-config")["data"]["PORT"] == str(port)
    assert variant.get("Service", service)["spec"]["ports"][0]["port"] == port


def test_inference_port_matches_design(variant, compose: dict) -> None:
    port = CONTRACT_PORTS["inference"]
    assert (
        f"127.0.0.1:${{{COMPOSE_PORT_VARS['inference']}:-{port}}}:{port}"
        in compose["services"]["inference"]["ports"]
    )
    dockerfile = (REPO / "inference/Dockerfile").read_text()
    assert re.findall(r"^EXPOSE (\d+)$", dockerfile, re.M) == [str(port)]
    assert f"LLAMA_ARG_PORT={port}" in dockerfile
    assert settings_class("orchestrator")().inference_url.endswith(f":{port}")
    assert (
        variant.get("ConfigMap", "orchestrator-config")["data"]["INFERENCE_URL"] == f"http://inference:{port}"
    )
    assert compose["services"]["orchestrator"]["environment"]["INFERENCE_URL"] == f"http://inference:{port}"
    assert variant.get("Service", "inference")["spec"]["ports"][0]["port"] == port
    container = variant.get("Deployment", "inference")["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "http", "containerPort": port}]


@pytest.mark.parametrize("store", ["mongodb", "redis", "kafka", "weaviate"])
def test_store_ports_match_design(variant, compose: dict, store: str) -> None:
    port = CONTRACT_PORTS[store]
    assert f"127.0.0.1:${{{COMPOSE_PORT_VARS[store]}:-{port}}}:{port}" in compose["services"][store]["ports"]
    assert port in [p["port"] for p in variant.get("Service", store)["spec"]["ports"]]


def test_frontend_nginx_conf_is_the_configmap_and_proxies_sse_unbuffered(variant) -> None:
    conf = (REPO / "frontend/nginx.conf").read_text()
    assert variant.get("ConfigMap", "frontend-config")["data"]["default.conf"] == conf
    assert re.search(r"^\s*listen 3000;", conf, re.M)
    api = re.search(r"location /api/ \{(.*?)\n    \}", conf, re.S).group(1)
    assert "proxy_pass http://backend:8000;" in api
    assert "proxy_buffering off;" in api
    assert (
        re.search(r"proxy_read_timeout (\d+)s;", api)
        and int(re.search(r"proxy_read_timeout (\d+)s;", api).group(1)) >= 3600
    )
    assert "location = /health" in conf and "location = /ready" in conf


def test_secret_templates_cover_what_deployments_reference(variant) -> None:
    referenced = set()
    for workload in variant.workloads():
        for container in pod_spec(workload)["containers"] + pod_spec(workload).get("initContainers", []):
            referenced |= {s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s}
            referenced |= {
                e["valueFrom"]["secretKeyRef"]["name"]
                for e in container.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})
            }
    templates = {
        p.name.removesuffix("-secrets.yaml.tpl") + "-secrets" for p in (K8S / "secrets").glob("*.yaml.tpl")
    }
    assert referenced <= templates


def test_every_referenced_config_and_secret_key_exists(variant) -> None:
    for workload in variant.workloads():
        spec = pod_spec(workload)
        for container in spec["containers"] + spec.get("initContainers", []):
            for source in container.get("envFrom", []):
                kind, ref = (
                    ("ConfigMap", "configMapRef") if "configMapRef" in source else ("Secret", "secretRef")
                )
                variant.get(kind, source[ref]["name"])
            for item in container.get("env", []):
                for kind, ref in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    if ref in item.get("valueFrom", {}):
                        target = variant.get(kind, item["valueFrom"][ref]["name"])
                        keys = target.get("stringData", {}) | target.get("data", {})
                        assert item["valueFrom"][ref]["key"] in keys, (
                            workload["metadata"]["name"],
                            item["name"],
                        )
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                secret = variant.get("Secret", volume["secret"]["secretName"])
                for item in volume["secret"].get("items", []):
                    assert item["key"] in secret["stringData"], volume
            if "configMap" in volume:
                variant.get("ConfigMap", volume["configMap"]["name"])
            if "persistentVolumeClaim" in volume:
                variant.get("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])


def test_generated_env_blocks_match_the_code_defaults():
    """Names alone are not enough: a default changed in code must reach compose and the ConfigMaps."""
    from scripts import sync_settings_env

    stale = [
        str(path.relative_to(REPO))
        for path, text in sync_settings_env.render().items()
        if path.read_text() != text
    ]
    assert not stale, f"stale generated env in {stale}: {SYNC}"


def test_internal_services_answer_to_the_name_the_backend_calls(rendered, compose: dict) -> None:
    """Each internal service checks the Host header: it must allow the name the backend uses."""
    for backend, env_of in (
        (k8s_env(rendered["prod"], "backend")[0], lambda svc: k8s_env(rendered["prod"], svc)[0]),
        (compose_env(compose, "backend"), lambda svc: compose_env(compose, svc)),
    ):
        for service in ("orchestrator", "dataflow", "kafkaflow"):
            called = re.fullmatch(r"http://([\w.-]+):\d+", backend[f"{service.upper()}_URL"]).group(1)
            assert called in env_of(service)["ALLOWED_HOSTS"].split(","), service


def test_each_internal_service_accepts_its_own_token_and_only_the_backend_holds_them(
    rendered, compose: dict
) -> None:
    """Issue 23: with one shared token a compromised dataflow or kafkaflow could act as any user on
    the orchestrator. Each internal service gets its own; the backend holds all three."""
    internal = ("orchestrator", "dataflow", "kafkaflow")
    for env_of in (lambda svc: k8s_env(rendered["prod"], svc)[0], lambda svc: compose_env(compose, svc)):
        backend = env_of("backend")
        accepted = {svc: env_of(svc)["ALICE_INTERNAL_TOKEN"] for svc in internal}
        assert len({*accepted.values(), backend["ALICE_INTERNAL_TOKEN"]}) == 4, "tokens must differ"
        for svc in internal:
            assert backend[f"{svc.upper()}_INTERNAL_TOKEN"] == accepted[svc], svc
            others = {v for k, v in env_of(svc).items() if k != "ALICE_INTERNAL_TOKEN"}
            assert not others & {*accepted.values(), backend["ALICE_INTERNAL_TOKEN"]}, f"{svc} holds a token"
