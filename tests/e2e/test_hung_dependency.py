"""A dependency that hangs (accepts, never answers) costs a request a few seconds and a clear 503,
not a request held forever; the service itself stays responsive and recovers by itself."""

import os
import signal
import time

import httpx
import pytest
from devstack.testing import ServiceProcess, service_env

from tests.support.stack import UNTHROTTLED, new_credentials

pytestmark = pytest.mark.e2e


def test_a_hung_redis_gives_a_503_within_seconds(infra, private_redis):
    env = service_env(infra, redis_url=private_redis.url, store_timeout_s=2, **UNTHROTTLED)
    with ServiceProcess("backend", env) as backend:
        credentials = new_credentials("hung")
        assert httpx.post(backend.url + "/api/auth/register", json=credentials, timeout=30).status_code == 201
        os.kill(private_redis.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            login = httpx.post(backend.url + "/api/auth/login", json=credentials, timeout=30)
            took = time.monotonic() - started
            assert login.status_code == 503, login.text
            assert login.json()["error"]["code"] == "dependency_unavailable"
            assert int(login.headers["Retry-After"]) > 0
            assert took < 8, f"took {took:.1f} s"
            assert httpx.get(backend.url + "/health", timeout=2).status_code == 200
        finally:
            os.kill(private_redis.proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + 20
        while (
            status := httpx.post(backend.url + "/api/auth/login", json=credentials, timeout=30).status_code
        ) != 200:
            assert time.monotonic() < deadline, f"login still {status} after Redis came back"
            time.sleep(0.5)
