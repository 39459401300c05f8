"""Per-address limits behind a proxy: X-Forwarded-For names the client only when a trusted proxy
sent it, so one attacker behind the ingress cannot lock everyone out, and a client talking to the
backend directly cannot dodge its limit by inventing addresses."""

import uuid

import httpx
import pytest

from tests.support.stack import Stack, isolation

pytestmark = pytest.mark.e2e

TWO_SIGNUPS_PER_ADDRESS = {"register_rate_per_ip_capacity": 2, "register_rate_per_ip_per_s": 0.001}


def limited_backend(infra, private_redis, trusted: str | None, **more: object) -> Stack:
    # A Redis of its own: other tests register from 127.0.0.1 too, with far larger buckets.
    settings = TWO_SIGNUPS_PER_ADDRESS | {"redis_url": private_redis.url} | more
    if trusted is not None:  # None: the default, as `make dev` runs it
        settings["forwarded_allow_ips"] = trusted
    return Stack(infra, isolation("edge"), backend=settings)


def sign_up(url: str, forwarded_for: str) -> int:
    body = {"email": f"edge-{uuid.uuid4().hex[:10]}@example.com", "password": "pw-0123456789"}
    headers = {"X-Forwarded-For": forwarded_for}
    return httpx.post(url + "/api/auth/register", json=body, headers=headers, timeout=30).status_code


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(infra, private_redis):
    # The tests reach the backend from 127.0.0.1: here that is the trusted proxy.
    with limited_backend(infra, private_redis, trusted="127.0.0.1") as up:
        url = up["backend"].url
        attacker, someone_else = "203.0.113.7", "198.51.100.9"
        assert [sign_up(url, attacker) for _ in range(3)] == [201, 201, 429]
        assert sign_up(url, someone_else) == 201


def test_from_an_untrusted_peer_the_header_is_ignored(infra, private_redis):
    with limited_backend(infra, private_redis, trusted="192.0.2.1") as up:
        invented = [f"203.0.113.{i}" for i in range(3)]
        assert [sign_up(up["backend"].url, address) for address in invented] == [201, 201, 429]


def test_by_default_no_proxy_is_trusted_so_the_header_is_ignored(infra, private_redis):
    """Natively every client (and the Vite dev proxy) connects from 127.0.0.1: trusting it would
    let each request choose its own address."""
    with limited_backend(infra, private_redis, trusted=None) as up:
        invented = [f"203.0.113.{i}" for i in range(3)]
        assert [sign_up(up["backend"].url, address) for address in invented] == [201, 201, 429]


def test_sign_ups_have_a_site_wide_limit_beside_the_per_address_one(infra, private_redis):
    with limited_backend(infra, private_redis, trusted="127.0.0.1", max_registrations_per_hour=3) as up:
        addresses = [f"198.51.100.{i}" for i in range(4)]  # each under its own limit of two
        assert [sign_up(up["backend"].url, address) for address in addresses] == [201, 201, 201, 429]
