"""The single sign-on flow's checks (auth/oidc.py, routes/oidc.py) against an in-process provider:
real RSA-signed ID tokens served over an httpx mock transport, and an in-memory Redis stand-in."""

import base64
import hashlib
import json
import time
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from alice_backend.auth.oidc import OidcClient, OidcError
from alice_backend.routes.oidc import _account_of
from alice_backend.settings import Settings
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr, ValidationError

ISSUER = "https://id.example.test/realms/alice"
CLIENT_ID = "alice"
SECRET = "client-secret-for-the-unit-tests-0123456789"


class MemoryRedis:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    async def set(self, key: str, value: str, ex: int) -> None:
        self.data[key] = value

    async def getdel(self, key: str) -> str | None:
        return self.data.pop(key, None)

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)


class Provider:
    """Discovery, keys and a token endpoint; `claims` shapes the next ID token it issues."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "key-1"
        self.claims: dict = {}
        self.token_requests: list[dict] = []
        self.discovery_calls = 0
        self.oversized = False
        self.nonce = ""  # of the attempt the next code belongs to

    def jwk(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return public | {"kid": self.kid, "use": "sig", "alg": "RS256"}

    def id_token(self, key=None, kid: str | None = None) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": "subject-1",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce,
            "email": "ada@example.test",
            "email_verified": True,
            "name": "Ada",
        } | self.claims
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            self.discovery_calls += 1
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": ISSUER + "/auth",
                    "token_endpoint": ISSUER + "/token",
                    "jwks_uri": ISSUER + "/certs",
                    "end_session_endpoint": ISSUER + "/logout",
                },
            )
        if path.endswith("/certs"):
            if self.oversized:
                return httpx.Response(200, content=b'{"keys": [' + b" " * 600_000 + b"]}")
            return httpx.Response(200, json={"keys": [self.jwk()]})
        if path.endswith("/token"):
            self.token_requests.append(parse_qs(request.content.decode()))
            return httpx.Response(200, json={"id_token": self.id_token(), "token_type": "Bearer"})
        return httpx.Response(404)


def _settings(**changes) -> Settings:
    values = {
        "oidc_issuer": ISSUER,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": SecretStr(SECRET),
        "public_url": "http://localhost:3000",
    }
    return Settings(**(values | changes))


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def oidc(provider) -> OidcClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(provider.handler))
    return OidcClient(_settings(), MemoryRedis(), http)


async def _started(oidc: OidcClient, provider: Provider) -> str:
    """Starts a sign-in as the browser would; answers its state (the provider learns its nonce)."""
    query = parse_qs(urlsplit((await oidc.start())[0]).query)
    provider.nonce = query["nonce"][0]
    return query["state"][0]


async def test_a_sign_in_sends_pkce_and_answers_the_verified_identity(oidc, provider):
    url, state = await oidc.start()
    query = parse_qs(urlsplit(url).query)
    assert query["state"] == [state]
    assert url.startswith(ISSUER + "/auth?")
    assert query["redirect_uri"] == ["http://localhost:3000/api/auth/oidc/callback"]
    assert query["code_challenge_method"] == ["S256"]
    provider.nonce = query["nonce"][0]

    identity = await oidc.finish(query["state"][0], "the-code")

    assert (identity.email, identity.email_verified, identity.name) == ("ada@example.test", True, "Ada")
    verifier = provider.token_requests[0]["code_verifier"][0]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == [challenge]
    assert provider.discovery_calls == 1  # cached


async def test_a_state_works_once(oidc, provider):
    state = await _started(oidc, provider)
    await oidc.finish(state, "the-code")
    with pytest.raises(OidcError) as refused:
        await oidc.finish(state, "the-code")
    assert refused.value.code == "invalid_state"
    assert len(provider.token_requests) == 1


async def test_an_unknown_state_is_refused_before_the_code_is_exchanged(oidc, provider):
    with pytest.raises(OidcError) as refused:
        await oidc.finish("made-up", "the-code")
    assert refused.value.code == "invalid_state"
    assert provider.token_requests == []


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"nonce": "another-attempts-nonce"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"aud": "another-client"}, "audience"),
        ({"aud": [CLIENT_ID, "another-client"], "azp": "another-client"}, "another client"),
        ({"iss": "https://evil.example.test"}, "issuer"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
    ],
)
async def test_an_id_token_that_does_not_check_out_is_refused(oidc, provider, claims, reason):
    state = await _started(oidc, provider)
    provider.claims = claims
    with pytest.raises(OidcError) as refused:
        await oidc.finish(state, "the-code")
    assert refused.value.code == "invalid_id_token"
    assert reason in str(refused.value).lower()


async def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused(oidc, provider):
    await _started(oidc, provider)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for kid in ("key-1", "unknown-key"):
        with pytest.raises(OidcError) as refused:
            await oidc.verify_id_token(provider.id_token(stranger, kid), provider.nonce)
        assert refused.value.code == "invalid_id_token"


async def test_a_token_signed_with_the_client_secret_is_refused(oidc, provider):
    await _started(oidc, provider)
    forged = jwt.encode(
        {"iss": ISSUER, "sub": "x", "aud": CLIENT_ID, "iat": int(time.time()), "exp": int(time.time()) + 60,
         "nonce": provider.nonce, "email": "ada@example.test", "email_verified": True},
        SECRET, algorithm="HS256", headers={"kid": "key-1"},
    )  # fmt: skip
    with pytest.raises(OidcError) as refused:
        await oidc.verify_id_token(forged, provider.nonce)
    assert refused.value.code == "invalid_id_token"


async def test_an_oversized_answer_from_the_provider_is_refused(oidc, provider):
    state = await _started(oidc, provider)
    provider.oversized = True
    with pytest.raises(OidcError) as refused:
        await oidc.finish(state, "the-code")
    assert refused.value.code == "provider_error"
    assert "exceeds" in str(refused.value)


async def test_an_unverified_email_is_only_reported_as_such(oidc, provider):
    state = await _started(oidc, provider)
    provider.claims = {"email_verified": "true"}  # a string is not the JSON true the spec asks for
    identity = await oidc.finish(state, "the-code")
    assert identity.email_verified is False


class FakeUsers:
    def __init__(self, *docs: dict) -> None:
        self.docs = {doc["email_lower"]: doc for doc in docs}

    async def by_email(self, key: str):
        return self.docs.get(key)

    async def create(self, email, key, password_hash, name):
        self.docs[key] = {
            "_id": f"new-{key}",
            "email": email,
            "email_lower": key,
            "password_hash": password_hash,
        }
        return self.docs[key]


class NotDeleted:
    async def finish_if_deleted(self, user_id: str) -> bool:
        return False


def _ctx(users: FakeUsers, **settings) -> SimpleNamespace:
    return SimpleNamespace(users=users, settings=_settings(**settings), account_deletion=NotDeleted())


def _identity(email: str, verified: bool) -> SimpleNamespace:
    return SimpleNamespace(subject="s", email=email, email_verified=verified, name="")


async def test_an_unverified_email_cannot_take_over_an_existing_account():
    victim = {"_id": "victim", "email": "Victim@example.test", "email_lower": "victim@example.test"}
    users = FakeUsers(victim)
    with pytest.raises(OidcError) as refused:
        await _account_of(_ctx(users), _identity("VICTIM@example.test", verified=False))
    assert refused.value.code == "email_unverified"


async def test_a_verified_email_signs_in_to_its_account_or_creates_one():
    existing = {"_id": "ada", "email": "ada@example.test", "email_lower": "ada@example.test"}
    users = FakeUsers(existing)
    assert (await _account_of(_ctx(users), _identity("Ada@Example.test", True)))["_id"] == "ada"
    created = await _account_of(_ctx(users), _identity("bob@example.test", True))
    assert created["_id"] == "new-bob@example.test" and created["password_hash"] is None


async def test_a_new_email_is_refused_when_sign_up_is_closed():
    with pytest.raises(OidcError) as refused:
        await _account_of(_ctx(FakeUsers(), oidc_signup_enabled=False), _identity("bob@example.test", True))
    assert refused.value.code == "signup_closed"


@pytest.mark.parametrize(
    "changes",
    [
        {"oidc_client_secret": None},
        {"oidc_client_id": ""},
        {"oidc_issuer": ""},
        {"public_url": ""},
        {"oidc_issuer": "http://id.example.test"},
        {"oidc_issuer": "http://localhost.example.test"},
    ],
)
def test_half_configured_single_sign_on_refuses_to_start(changes):
    with pytest.raises(ValidationError):
        _settings(**changes)


def test_password_sign_in_can_be_closed_only_with_single_sign_on():
    assert _settings(password_login_enabled=False).password_login_enabled is False
    with pytest.raises(ValidationError):
        Settings(password_login_enabled=False)
