"""Single sign-on: the OpenID Connect authorization code flow with PKCE, done by the backend.

`start` keeps the state, nonce and PKCE verifier in Redis (one use, short-lived) and answers the
provider's authorization address; `finish` takes the state back exactly once, exchanges the code
and verifies the ID token with PyJWT against the provider's published keys (signature, iss, aud,
exp, nonce). Discovery and keys are cached; every call to the provider has a time limit and a
bounded answer (docs/decisions/0067-single-sign-on.md).
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import redis.asyncio as aioredis

from alice_backend.settings import Settings

# Asymmetric algorithms only: the client secret is never accepted as a verification key.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
CALLBACK_PATH = "/api/auth/oidc/callback"
# Clock difference tolerated between Alice and the provider.
LEEWAY_S = 60


class OidcError(Exception):
    """A sign-in that cannot finish; `code` is what the login page is told."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(frozen=True)
class Identity:
    subject: str
    email: str
    email_verified: bool
    name: str


def _pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _state_key(state: str) -> str:
    return "oidc:state:" + hashlib.sha256(state.encode()).hexdigest()


class OidcClient:
    def __init__(self, settings: Settings, redis: aioredis.Redis, http: httpx.AsyncClient | None = None):
        self.settings = settings
        self.redis = redis
        self.http = http or httpx.AsyncClient(timeout=settings.oidc_timeout_s, follow_redirects=False)
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys: tuple[float, jwt.PyJWKSet] | None = None

    @property
    def redirect_uri(self) -> str:
        return self.settings.public_url.rstrip("/") + CALLBACK_PATH

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _json(self, method: str, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """The provider's JSON answer, refused past the size limit or the time limit."""
        limit = self.settings.oidc_max_response_bytes
        try:
            async with self.http.stream(method, url, **kwargs) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise OidcError("provider_error", f"the provider's answer exceeds {limit} bytes")
                status = response.status_code
        except httpx.HTTPError as exc:
            reason = type(exc).__name__
            raise OidcError("provider_unavailable", f"the provider did not answer: {reason}") from exc
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise OidcError("provider_error", "the provider's answer is not JSON") from exc
        if not isinstance(data, dict):
            raise OidcError("provider_error", "the provider's answer is not a JSON object")
        return status, data

    async def metadata(self) -> ProviderMetadata:
        """The provider's discovery document, fetched at most once per `oidc_metadata_ttl_s`."""
        if self._metadata and self._metadata[0] > time.monotonic():
            return self._metadata[1]
        issuer = self.settings.oidc_issuer.rstrip("/")
        status, doc = await self._json("GET", issuer + "/.well-known/openid-configuration")
        if status != 200:
            raise OidcError("provider_error", f"discovery answered {status}")
        # OpenID Connect Discovery 1.0 section 4.3: the document names exactly the configured issuer.
        if doc.get("issuer", "").rstrip("/") != issuer:
            raise OidcError("provider_error", "the discovery document names another issuer")
        try:
            metadata = ProviderMetadata(
                issuer=doc["issuer"],
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
                end_session_endpoint=doc.get("end_session_endpoint") or None,
            )
        except KeyError as exc:
            raise OidcError("provider_error", f"the discovery document lacks {exc.args[0]}") from exc
        self._metadata = (time.monotonic() + self.settings.oidc_metadata_ttl_s, metadata)
        return metadata

    async def _key_set(self, refresh: bool = False) -> jwt.PyJWKSet:
        if not refresh and self._keys and self._keys[0] > time.monotonic():
            return self._keys[1]
        status, doc = await self._json("GET", (await self.metadata()).jwks_uri)
        if status != 200:
            raise OidcError("provider_error", f"the provider's keys answered {status}")
        try:
            keys = jwt.PyJWKSet.from_dict(doc)
        except jwt.PyJWTError as exc:
            raise OidcError("provider_error", "the provider publishes no usable signing key") from exc
        self._keys = (time.monotonic() + self.settings.oidc_metadata_ttl_s, keys)
        return keys

    async def _signing_key(self, id_token: str) -> jwt.PyJWK:
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
        except jwt.PyJWTError as exc:
            raise OidcError("invalid_id_token", "the ID token is malformed") from exc
        # A key the cache does not know may have been rotated in since: look once more.
        for refresh in (False, True):
            keys = (await self._key_set(refresh)).keys
            matching = [key for key in keys if kid is None or key.key_id == kid]
            if matching and (kid is not None or len(matching) == 1):
                return matching[0]
        raise OidcError("invalid_id_token", "the ID token is signed with a key the provider does not publish")

    async def start(self) -> tuple[str, str]:
        """Remembers a new sign-in attempt: (the provider's address to send the user to, its state)."""
        metadata = await self.metadata()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        await self.redis.set(
            _state_key(state),
            json.dumps({"nonce": nonce, "verifier": verifier}),
            ex=self.settings.oidc_login_ttl_s,
        )
        query = {
            "response_type": "code",
            "client_id": self.settings.oidc_client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": _pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return metadata.authorization_endpoint + separator + urlencode(query), state

    async def forget(self, state: str) -> None:
        await self.redis.delete(_state_key(state))

    async def finish(self, state: str, code: str) -> Identity:
        """The verified identity of a sign-in the provider sent back; its state works only once."""
        stored = await self.redis.getdel(_state_key(state))
        if stored is None:
            raise OidcError("invalid_state", "this sign-in expired or was already used; please start again")
        attempt = json.loads(stored)
        metadata = await self.metadata()
        secret = self.settings.oidc_client_secret
        status, tokens = await self._json(
            "POST",
            metadata.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": attempt["verifier"],
            },
            auth=(self.settings.oidc_client_id, secret.get_secret_value() if secret else ""),
            headers={"Accept": "application/json"},
        )
        id_token = tokens.get("id_token")
        if status != 200 or not isinstance(id_token, str):
            raise OidcError("code_rejected", f"the provider refused the sign-in code ({status})")
        return await self.verify_id_token(id_token, attempt["nonce"])

    async def verify_id_token(self, id_token: str, nonce: str) -> Identity:
        metadata = await self.metadata()
        key = await self._signing_key(id_token)
        try:
            claims = jwt.decode(
                id_token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self.settings.oidc_client_id,
                issuer=metadata.issuer,
                leeway=LEEWAY_S,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise OidcError("invalid_id_token", "the ID token has expired") from exc
        except jwt.PyJWTError as exc:
            raise OidcError("invalid_id_token", f"the ID token does not verify: {exc}") from exc
        # Core 1.0 section 3.1.3.7: with several audiences, the token must be issued to us.
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.settings.oidc_client_id:
            raise OidcError("invalid_id_token", "the ID token was issued to another client")
        if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
            raise OidcError("invalid_id_token", "the ID token's nonce does not match this sign-in")
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise OidcError("email_missing", "the provider did not share an e-mail address")
        name = claims.get("name") or claims.get("preferred_username") or ""
        return Identity(
            subject=str(claims["sub"]),
            email=email,
            email_verified=claims.get("email_verified") is True,
            name=name if isinstance(name, str) else "",
        )

    async def end_session_url(self) -> str | None:
        """Where to send the browser to sign out at the provider too (RP-initiated logout), if it says."""
        metadata = await self.metadata()
        if not metadata.end_session_endpoint:
            return None
        query = {
            "client_id": self.settings.oidc_client_id,
            "post_logout_redirect_uri": self.settings.public_url.rstrip("/") + "/",
        }
        separator = "&" if "?" in metadata.end_session_endpoint else "?"
        return metadata.end_session_endpoint + separator + urlencode(query)
