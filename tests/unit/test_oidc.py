"""An external OpenID Connect issuer's tokens, verified through its JWKS (served here by an
httpx MockTransport standing in for Keycloak)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, RSAKey

from server.auth.errors import AuthError
from server.auth.oidc import OidcConfig, OidcVerifier, usable_keys
from server.auth.roles import Role
from server.auth.sessions import AuthService
from server.auth.throttle import MemoryThrottle, ThrottleLimits
from server.auth.tokens import AccessTokens, SigningKey
from server.db import Database

pytestmark = pytest.mark.anyio

ISSUER = "https://id.example/realms/acme"
JWKS_URL = "https://id.example/realms/acme/protocol/openid-connect/certs"
NOW = 1_900_000_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Issuer:
    """Discovery and JWKS documents, with a count of the requests made."""

    def __init__(self) -> None:
        self.keys: list[RSAKey | ECKey] = [RSAKey.generate_key(2048, auto_kid=True)]
        self.extra: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.discovery_issuer = ISSUER

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={"issuer": self.discovery_issuer, "jwks_uri": JWKS_URL})
        if str(request.url) == JWKS_URL:
            public = [key.as_dict(private=False) for key in self.keys]
            return httpx.Response(200, json={"keys": public + self.extra})
        return httpx.Response(404)

    def token(self, key: RSAKey | ECKey | None = None, **changes: Any) -> str:
        key = key or self.keys[0]
        claims = {
            "iss": ISSUER,
            "aud": "workflow-engine",
            "sub": "f1d2",
            "iat": NOW,
            "exp": NOW + 300,
            "preferred_username": "carol",
            "realm_access": {"roles": ["operator", "offline_access"]},
            "groups": ["clerks"],
        }
        claims.update(changes)
        alg = "RS256" if isinstance(key, RSAKey) else "ES256"
        return jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
async def http(issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle)) as client:
        yield client


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def verifier(http: httpx.AsyncClient, monotonic: Monotonic | None = None) -> OidcVerifier:
    config = OidcConfig(issuer=ISSUER, audience="workflow-engine", roles_claim="realm_access.roles")
    return OidcVerifier(config, http, clock=lambda: NOW, monotonic=monotonic or Monotonic())


async def test_a_token_of_the_issuer_is_accepted_with_its_roles_and_groups(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    claims = await verifier(http).verify(issuer.token())

    principal = claims.principal
    assert (principal.user_id, principal.username) == (None, "carol")
    assert principal.roles == frozenset({Role.OPERATOR})  # offline_access grants nothing here
    assert principal.groups == frozenset({"clerks"})
    assert claims.token_version is None and claims.issuer == ISSUER
    assert issuer.requests == [f"{ISSUER}/.well-known/openid-configuration", JWKS_URL]


async def test_an_es256_key_of_the_jwks_verifies_es256_tokens(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    ec_key = ECKey.generate_key("P-256", auto_kid=True)
    issuer.keys.append(ec_key)

    assert (await verifier(http).verify(issuer.token(ec_key))).principal.username == "carol"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"aud": "another-api"}, "invalid_audience"),
        ({"iss": "https://evil.example"}, "invalid_issuer"),
        ({"exp": NOW - 60}, "token_expired"),
        ({"iat": None}, "invalid_token"),
    ],
)
async def test_claims_are_checked(
    issuer: Issuer, http: httpx.AsyncClient, changes: dict[str, Any], code: str
) -> None:
    token = _without(issuer, "iat") if changes == {"iat": None} else issuer.token(**changes)
    with pytest.raises(AuthError) as caught:
        await verifier(http).verify(token)
    assert caught.value.code == code


def _without(issuer: Issuer, claim: str) -> str:
    key = issuer.keys[0]
    claims = {"iss": ISSUER, "aud": "workflow-engine", "sub": "x", "iat": NOW, "exp": NOW + 60}
    del claims[claim]
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key, algorithms=["RS256"])


async def test_a_token_signed_by_a_key_not_in_the_jwks_is_rejected_after_one_refetch(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    clock = Monotonic()
    oidc = verifier(http, clock)
    await oidc.verify(issuer.token())
    stranger = RSAKey.generate_key(2048, auto_kid=True)
    clock.t += 31

    for _ in range(3):
        with pytest.raises(AuthError) as caught:
            await oidc.verify(issuer.token(stranger))
        assert (caught.value.code, caught.value.message) == ("invalid_token", "invalid token")
    assert issuer.requests.count(JWKS_URL) == 2  # one refetch for the unknown kid, not three


async def test_a_rotated_key_is_fetched_when_its_kid_first_appears(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    clock = Monotonic()
    oidc = verifier(http, clock)
    await oidc.verify(issuer.token())
    rotated = RSAKey.generate_key(2048, auto_kid=True)
    issuer.keys = [rotated]
    clock.t += 31

    assert (await oidc.verify(issuer.token(rotated))).principal.username == "carol"


async def test_hs256_with_the_published_rsa_key_and_alg_none_are_rejected(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    oidc = verifier(http)
    key = issuer.keys[0]

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims = b64(json.dumps({"iss": ISSUER, "aud": "workflow-engine", "sub": "x"}).encode())
    for alg in ("HS256", "none"):
        header = b64(json.dumps({"alg": alg, "kid": key.kid}).encode())
        secret = key.as_pem(private=False)
        signature = hmac.new(secret, f"{header}.{claims}".encode(), hashlib.sha256).digest()
        with pytest.raises(AuthError) as caught:
            await oidc.verify(f"{header}.{claims}.{b64(signature) if alg != 'none' else ''}")
        assert caught.value.code == "invalid_token"


def test_only_rsa_and_p256_signing_keys_are_taken_from_a_jwks() -> None:
    rsa_key = RSAKey.generate_key(2048, auto_kid=True)
    with pytest.warns(SecurityWarning):
        small = RSAKey.import_key(rsa.generate_private_key(65537, 1024), {"kid": "small"})
    p384 = ECKey.generate_key("P-384", auto_kid=True)
    secret = OctKey.generate_key(256, auto_kid=True)
    encryption = {**RSAKey.generate_key(2048, auto_kid=True).as_dict(private=False), "use": "enc"}
    jwks = {
        "keys": [
            rsa_key.as_dict(private=False),
            small.as_dict(private=False),
            p384.as_dict(private=False),
            secret.as_dict(),
            encryption,
            {**rsa_key.as_dict(private=False), "kid": "rs-as-hs", "alg": "HS256"},
            {"kty": "RSA", "kid": "broken"},
            "junk",
        ]
    }

    assert set(usable_keys(jwks)) == {rsa_key.kid}
    assert usable_keys("not a jwks") == {}


async def test_an_issuer_that_cannot_be_reached_or_names_another_issuer_is_unavailable(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    issuer.discovery_issuer = "https://someone-else.example"

    with pytest.raises(AuthError) as caught:
        await verifier(http).verify(issuer.token())

    assert (caught.value.code, caught.value.status) == ("issuer_unavailable", 503)


async def test_the_auth_service_sends_the_issuers_tokens_to_it_and_others_to_its_own_keys(
    issuer: Issuer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Chosen by the unverified ``iss``; each verifier checks it again with the signature."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")  # no query on these paths
    own = AccessTokens(
        SigningKey.hs256("k" * 40),
        issuer="workflow-engine",
        audience="workflow-engine",
        ttl=timedelta(minutes=15),
        clock=lambda: NOW,
    )
    auth = AuthService(db, own, MemoryThrottle(ThrottleLimits()), oidc=verifier(http))
    try:
        external = await auth.authenticate(issuer.token())
        assert (external.issuer, external.principal.username) == (ISSUER, "carol")
        # a token naming our issuer but signed by the external key: our key refuses it
        with pytest.raises(AuthError) as caught:
            await auth.authenticate(issuer.token(iss="workflow-engine"))
        assert caught.value.code == "invalid_token"
    finally:
        await db.close()
