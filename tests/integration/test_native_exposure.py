"""The native stack (`make dev`, the test harness) exposes nothing beyond the machine: every listening
socket of its infrastructure is on loopback (docs/operations.md "Security"), and a client without
credentials is refused by Weaviate (HTTP, gRPC, cluster API) and Redis, and another user by
FerretDB's socket.

Runs a devstack of its own (free ports), so the shared stack is never restarted."""

import os
import re
import socket
import stat
import tempfile
from pathlib import Path

import grpc as grpc_lib
import httpx
import pytest
import redis
import weaviate
from devstack import process, sockets
from devstack.config import mongo_socket
from devstack.testing import SecondDevstack
from pymongo import MongoClient
from weaviate.classes.config import Configure
from weaviate.proto.v1 import search_get_pb2, tenants_pb2, weaviate_pb2_grpc

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
INFRA = ("redis", "kafka", "mongodb", "weaviate")


@pytest.fixture(scope="module")
def stack() -> SecondDevstack:
    # Under a directory everyone may enter (pytest's own base is 0700), as a checkout usually is, so
    # that only devstack's own modes stand between another user and the stack's files.
    with tempfile.TemporaryDirectory(prefix="alice-exposure-") as top:
        os.chmod(top, 0o755)
        ds = SecondDevstack(Path(top) / "devstack")
        started = ds("start", *INFRA, timeout=240)
        assert started.returncode == 0, started.stdout + started.stderr
        yield ds
        ds("down")


def _pids(ds: SecondDevstack) -> list[int]:
    pid_files = process.PidFiles(ds.state_dir / "run")
    records = [pid_files.read(name) for name in INFRA]
    assert all(records), records
    return [pid for record in records for pid in process.session_members(record)]


def test_every_listener_is_on_loopback(stack):
    found = sockets.listeners(_pids(stack))
    ports = {port: name for name, port in stack.ports.items()}
    assert {ports.get(s.port) for s in found} >= set(stack.ports), "a configured port does not listen"
    strays = [s for s in found if s.port not in ports]
    assert strays == [], f"listeners on ports devstack does not configure: {strays}"
    exposed = sorted(f"{ports[s.port]} on {s.host}" for s in found if not s.loopback)
    assert exposed == [], f"listening beyond loopback: {exposed}"


def test_the_security_section_names_every_port(stack):
    section = OPERATIONS.read_text().split("## Security", 1)[1].split("\n## ", 1)[0]
    for name in stack.ports:
        assert re.search(rf"`{name}`", section), f"docs/operations.md Security does not document {name}"


def test_weaviate_refuses_a_client_without_the_api_key(stack):
    key = stack.secrets["WEAVIATE_API_KEY"]
    http, grpc = stack.ports["ALICE_WEAVIATE_PORT"], stack.ports["ALICE_WEAVIATE_GRPC_PORT"]
    auth = weaviate.auth.AuthApiKey(key)
    owner = weaviate.connect_to_local(port=http, grpc_port=grpc, auth_credentials=auth)
    try:
        chunks = owner.collections.create(
            "ExposureChunks", vector_config=Configure.Vectors.self_provided(),
            multi_tenancy_config=Configure.multi_tenancy(enabled=True),
        )  # fmt: skip
        chunks.tenants.create(["user-a"])
        chunks.with_tenant("user-a").data.insert({"text": "private"}, vector=[0.1, 0.2])
        assert len(chunks.with_tenant("user-a").query.fetch_objects().objects) == 1  # over gRPC
    finally:
        owner.close()

    assert httpx.get(f"http://127.0.0.1:{http}/v1/schema").status_code == 401
    assert httpx.get(f"http://127.0.0.1:{http}/v1/schema/ExposureChunks/tenants").status_code == 401
    # The client library checks REST first; gRPC is asked directly, as an attacker would.
    search = search_get_pb2.SearchRequest(
        collection="ExposureChunks", tenant="user-a", limit=10, uses_123_api=True
    )
    tenants = tenants_pb2.TenantsGetRequest(collection="ExposureChunks")
    with grpc_lib.insecure_channel(f"127.0.0.1:{grpc}") as channel:
        stub = weaviate_pb2_grpc.WeaviateStub(channel)
        owner_metadata = [("authorization", f"Bearer {key}")]
        assert len(stub.Search(search, metadata=owner_metadata, timeout=10).results) == 1
        for call, request in ((stub.Search, search), (stub.TenantsGet, tenants)):
            for metadata in ([], [("authorization", "Bearer guessed")]):
                with pytest.raises(grpc_lib.RpcError) as refused:
                    call(request, metadata=metadata, timeout=10)
                assert re.search(r"(?i)unauthenticated|unauthorized|anonymous", refused.value.details())


def test_weaviate_cluster_api_needs_its_password(stack):
    data = stack.ports["ALICE_WEAVIATE_DATA_PORT"]
    url = f"http://127.0.0.1:{data}/indices/ExposureChunks/shards/user-a/objects/_find"
    assert httpx.get(url).status_code == 401
    password = stack.secrets["WEAVIATE_CLUSTER_PASSWORD"]
    assert httpx.get(url, auth=("alice-cluster", password)).status_code != 401


def test_redis_refuses_a_client_without_the_password(stack):
    port = stack.ports["ALICE_REDIS_PORT"]
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, password="guessed").ping()
    assert redis.Redis.from_url(stack.redis_url).ping()


def test_mongodb_listens_only_on_a_socket_its_owner_alone_can_reach(stack):
    """FerretDB 1.x over SQLite has no authentication: no TCP port (the first test finds no stray
    listener), and the socket's directory admits only the user who runs the stack."""
    socket_path = mongo_socket(stack.state_dir)
    with MongoClient(stack.mongodb_url, serverSelectionTimeoutMS=5000) as owner:
        assert owner.admin.command("ping")["ok"] == 1
    assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
    if os.geteuid() != 0:
        return  # another user cannot be played without root; the directory's mode above is the guard
    socket_path.chmod(0o777)  # as a umask of 0 would leave it: the directory alone must refuse
    child = os.fork()
    if child == 0:  # as nobody: exit 0 if the socket lets it in, 13 when refused
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            socket.socket(socket.AF_UNIX).connect(str(socket_path))
            code = 0
        except PermissionError:
            code = 13
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 13
