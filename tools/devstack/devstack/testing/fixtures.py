"""The pytest plugin (loaded by the root conftest.py): fixtures over devstack.testing's helpers."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.testing.infra import (
    ENV_KEYS,
    Infra,
    addresses_from_env,
    credentials_from_env,
    native_infra,
    weaviate_grpc_port_from_env,
)
from devstack.testing.processes import PrivateRedis, SecondDevstack, ServiceProcess, service_env
from devstack.testing.testdata import remove_owned, unique_name


def pytest_report_header(config: pytest.Config) -> str:
    if len(addresses_from_env()) == len(ENV_KEYS):
        return "infrastructure: from ALICE_TEST_* environment variables"
    return "infrastructure: the native stack (devstack), started when it is not up"


@pytest.fixture(scope="session")
def infra(request: pytest.FixtureRequest) -> Iterator[Infra]:
    from_env = addresses_from_env()
    if len(from_env) == len(ENV_KEYS):
        found = Infra(
            **from_env,
            **credentials_from_env(),
            weaviate_grpc_port=weaviate_grpc_port_from_env(),
            source="env",
        )
        yield found
        with _visible_output(request):
            _remove_session_data(found)
        return
    resources = contextlib.ExitStack()
    with _visible_output(request):
        found = resources.enter_context(native_infra())
    merged = found.__dict__ | from_env
    if from_env:
        merged["source"] = f"env+{found.source}"
        if "weaviate_url" in from_env:
            merged["weaviate_grpc_port"] = weaviate_grpc_port_from_env()
            merged["weaviate_api_key"] = credentials_from_env().get("weaviate_api_key")
    session = Infra(**merged)
    try:
        yield session
    finally:
        with _visible_output(request):
            # The servers are shared: only this session's data goes.
            _remove_session_data(session)
            resources.close()


def _remove_session_data(session: Infra) -> None:
    remove_owned(session.kafka_bootstrap_servers, session.mongodb_url, session.ownership())


@contextlib.contextmanager
def _visible_output(request: pytest.FixtureRequest) -> Iterator[None]:
    """Show startup progress (slow the first time) even though pytest captures output."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        yield
        return
    with capture.global_and_fixture_disabled():
        yield


@pytest.fixture(name="unique_name")
def unique_name_fixture():
    return unique_name


@pytest.fixture
def start_service(infra: Infra) -> Iterator:
    """Factory: `start_service("orchestrator", kafka_topic_prefix=..., wait_ready=True)`."""
    started: list[ServiceProcess] = []

    def start(service: str, *, wait_ready: bool = True, **overrides: object) -> ServiceProcess:
        svc = ServiceProcess(service, service_env(infra, **overrides))
        started.append(svc)
        return svc.start(wait_ready=wait_ready)

    yield start
    for svc in reversed(started):
        svc.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def second_devstack(tmp_path: Path) -> Iterator[SecondDevstack]:
    stack = SecondDevstack(tmp_path / "devstack")
    yield stack
    stack("down")
