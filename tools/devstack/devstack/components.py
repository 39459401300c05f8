"""What devstack runs: the four infrastructure servers, the four services and the frontend."""

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack import health, provision
from devstack.config import Config


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    cwd: Path
    env: dict[str, str]


@dataclass(frozen=True)
class Component:
    name: str
    group: str  # "infra" | "service" | "frontend"
    port: int
    url: str
    is_healthy: Callable[[], bool]
    prepare: Callable[[], Launch]  # provisions what is missing and writes config files


def components(cfg: Config) -> list[Component]:
    """All components in start order (stop order is the reverse)."""
    p = cfg.ports
    found = [
        Component("redis", "infra", p.redis, f"redis://127.0.0.1:{p.redis}",
                  lambda: health.redis_ping(p.redis), lambda: _redis(cfg)),
        Component("kafka", "infra", p.kafka, f"127.0.0.1:{p.kafka}",
                  lambda: health.kafka_api_versions(p.kafka), lambda: _kafka(cfg)),
        Component("mongodb", "infra", p.mongo, f"mongodb://127.0.0.1:{p.mongo}",
                  lambda: health.tcp_open(p.mongo), lambda: _ferretdb(cfg)),
        Component("weaviate", "infra", p.weaviate, f"http://127.0.0.1:{p.weaviate}",
                  lambda: health.http_ok(f"http://127.0.0.1:{p.weaviate}/v1/.well-known/ready"),
                  lambda: _weaviate(cfg)),
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
    return path


def _redis(cfg: Config) -> Launch:
    binary = provision.ensure_redis(cfg)
    data = _data_dir(cfg, "redis")
    conf = _write_config(
        data / "redis.conf",
        [
            "bind 127.0.0.1",
            f"port {cfg.ports.redis}",
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
    binary = provision.ensure_ferretdb(cfg)
    data = _data_dir(cfg, "ferretdb")
    argv = [str(binary), f"--listen-addr=127.0.0.1:{cfg.ports.mongo}", f"--data-dir={data}"]
    return Launch(argv, data, _base_env())


def _weaviate(cfg: Config) -> Launch:
    binary = provision.ensure_weaviate(cfg)
    p = cfg.ports
    data = _data_dir(cfg, "weaviate")
    env = _base_env() | {
        "PERSISTENCE_DATA_PATH": str(data),
        "DEFAULT_VECTORIZER_MODULE": "none",
        "ENABLE_MODULES": "",
        "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
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


def _service(cfg: Config, service: str, port: int) -> Launch:
    env = _base_env() | cfg.service_env() | {"HOST": "127.0.0.1", "PORT": str(port)}
    return Launch([sys.executable, "-m", f"alice_{service}"], cfg.repo_root, env)


def _frontend(cfg: Config) -> Launch:
    npm = provision.require("npm", "install Node.js 20+ with npm")
    frontend = cfg.repo_root / "frontend"
    if not (frontend / "node_modules").is_dir():
        raise provision.ProvisionError("frontend/node_modules is missing: run scripts/bootstrap.sh")
    argv = [npm, "run", "dev", "--", "--port", str(cfg.ports.frontend), "--strictPort", "--host", "127.0.0.1"]
    env = _base_env() | {"ALICE_BACKEND_URL": cfg.service_env()["BACKEND_URL"], "BROWSER": "none"}
    return Launch(argv, frontend, env)
