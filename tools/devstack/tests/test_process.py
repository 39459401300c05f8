"""Process bookkeeping: a pid file identifies exactly one process, and stopping reaches its children."""

import os
import subprocess
import sys
import time
from pathlib import Path

from devstack import process
from devstack.components import kafka_cluster_id
from devstack.config import KAFKA_VERSION, Config, Ports
from devstack.health import kafka_api_versions, redis_ping, tcp_open
from devstack.testing import free_port


def spawn_shell(tmp_path: Path, script: str) -> process.PidRecord:
    return process.spawn(
        "probe", ["sh", "-c", script], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
        log_file=tmp_path / "probe.log", pid_files=process.PidFiles(tmp_path / "run"),
    )  # fmt: skip


def test_terminate_stops_the_process_and_the_children_it_spawned(tmp_path):
    record = spawn_shell(tmp_path, "sleep 300 & sleep 300 & wait")
    deadline = time.monotonic() + 5
    while len(process.session_members(record)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    members = process.session_members(record)
    assert len(members) == 3 and record.pid in members

    assert process.terminate(record, grace_s=5) is True
    assert [pid for pid in members if process.proc_start_time(pid) is not None] == []
    assert process.terminate(record) is False  # nothing left to stop


def test_sigkill_after_the_grace_period_when_sigterm_is_ignored(tmp_path):
    record = spawn_shell(tmp_path, "trap '' TERM; while true; do sleep 0.1; done")
    time.sleep(0.2)
    started = time.monotonic()
    assert process.terminate(record, grace_s=0.5)
    assert not process.is_alive(record)
    assert time.monotonic() - started < 5


def test_a_reused_pid_is_not_ours(tmp_path):
    pid_files = process.PidFiles(tmp_path / "run")
    # This test process's own pid with a different start time: what a reused pid looks like.
    mine = process.proc_start_time(os.getpid())
    stale = process.PidRecord("old", os.getpid(), mine - 1, ["old"])
    pid_files.write(stale)
    assert not process.is_alive(stale)
    assert process.session_members(stale) == []
    assert pid_files.running("old") is None
    assert process.terminate(stale) is False  # and so it is never signalled


def test_pid_files_round_trip(tmp_path):
    pid_files = process.PidFiles(tmp_path / "run")
    record = process.PidRecord("x", 123, 456, ["a", "b"])
    pid_files.write(record)
    assert pid_files.read("x") == record
    pid_files.remove("x")
    assert pid_files.read("x") is None


def test_ports_and_dirs_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ALICE_KAFKA_PORT", "19092")
    monkeypatch.delenv("ALICE_REDIS_PORT", raising=False)
    monkeypatch.setenv("ALICE_DEVSTACK_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ALICE_CACHE_DIR", str(tmp_path / "cache"))
    cfg = Config()
    assert cfg.ports.kafka == 19092 and Ports().redis == 6379
    assert cfg.service_env()["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    assert cfg.log_file("kafka") == tmp_path / "state" / "logs" / "kafka.log"
    assert cfg.kafka_home == tmp_path / "cache" / f"kafka-{KAFKA_VERSION}"


def test_kafka_cluster_id_is_a_kafka_uuid():
    ids = {kafka_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 22 and not i.startswith("-") and "=" not in i for i in ids)


def test_probes_say_no_when_nothing_listens():
    port = free_port()
    assert not tcp_open(port)
    assert not redis_ping(port)
    assert not kafka_api_versions(port)


def test_cli_rejects_unknown_components():
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "status", "nosuch"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "unknown component(s) nosuch" in result.stderr


def test_the_mongodb_socket_stays_within_a_unix_socket_path(tmp_path):
    from devstack.config import UNIX_PATH_MAX, mongo_socket

    assert mongo_socket(tmp_path) == tmp_path / "run" / "mongodb.sock"
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    moved = mongo_socket(deep)
    assert len(os.fsencode(moved)) <= UNIX_PATH_MAX and moved.name == "mongodb.sock"
    assert moved == mongo_socket(deep) != mongo_socket(tmp_path / ("d" * 60) / ("f" * 60))
