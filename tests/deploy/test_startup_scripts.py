"""The shell snippets inside the manifests, run for real with bash (the servers they start or call
are replaced by recorders): Kafka's per-pod identity and the MongoDB replica-set initiation."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.deploy_lib import pod_spec


def run_bash(script: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", script],
        env={"PATH": f"{tmp_path}:{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )


@pytest.mark.parametrize("ordinal", [0, 2])
def test_kafka_pod_derives_its_node_id_and_listener_from_its_ordinal(
    rendered, tmp_path: Path, ordinal: int
) -> None:
    main = pod_spec(rendered["prod"].get("StatefulSet", "kafka"))["containers"][0]
    assert main["command"] == ["bash", "-c"]
    script = main["args"][0].replace(
        "exec /etc/kafka/docker/run", 'echo "$KAFKA_NODE_ID $KAFKA_ADVERTISED_LISTENERS"'
    )
    assert script != main["args"][0]
    out = run_bash(
        script, {"POD_NAME": f"kafka-{ordinal}", "POD_NAMESPACE": "alice"}, tmp_path
    ).stdout.split()
    assert out == [str(ordinal), f"PLAINTEXT://kafka-{ordinal}.kafka-headless.alice.svc.cluster.local:9092"]


@pytest.mark.parametrize("variant_name", ["prod", "dev"])
def test_mongodb_init_job_initiates_every_member_and_creates_the_app_user(
    rendered, tmp_path: Path, variant_name: str
) -> None:
    variant = rendered[variant_name]
    job = pod_spec(variant.get("Job", "mongodb-replicaset-init"))["containers"][0]
    replicas = variant.get("StatefulSet", "mongodb")["spec"]["replicas"]
    log = tmp_path / "mongosh.log"
    fake = tmp_path / "mongosh"
    fake.write_text(f'#!/bin/bash\nprintf "%s\\n---\\n" "$*" >> {log}\nexit 0\n')
    fake.chmod(0o755)
    env = {e["name"]: e.get("value", "") for e in job["env"]}
    env |= {
        "ROOT_USERNAME": "root",
        "ROOT_PASSWORD": "rootpw",
        "APP_USERNAME": "alice",
        "APP_PASSWORD": "apppw",
    }
    assert job["command"] == ["bash", "-ec"]
    run_bash("set -e\n" + job["args"][0], env, tmp_path)
    calls = log.read_text().split("\n---\n")
    initiate = next(c for c in calls if "rs.initiate" in c)
    hosts = re.findall(r"host: '([^']+)'", initiate)
    assert hosts == [f"mongodb-{i}.mongodb:27017" for i in range(replicas)]
    assert "_id: 'rs0'" in initiate and "-u root -p rootpw" in initiate
    user = next(c for c in calls if "createUser" in c)
    assert "user: 'alice', pwd: 'apppw'" in user and "role: 'readWrite', db: 'alice'" in user
    assert "replicaSet=rs0" in user
