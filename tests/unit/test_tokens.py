"""Access tokens: a valid token is accepted, and each known JWT attack is rejected with a
clear, typed error (never with what the signature check saw)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt

from server.auth.errors import AuthError
from server.auth.roles import Permission, Role, can
from server.auth.tokens import AccessTokens, KeyConfigError, SigningKey

NOW = 1_900_000_000
SECRET = "s" * 40
ISSUER = "workflow-engine"
AUDIENCE = "workflow-engine-api"


def pem(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEYS: dict[str, Callable[[rsa.RSAPrivateKey], SigningKey]] = {
    "HS256": lambda _rsa: SigningKey.hs256(SECRET),
    "RS256": lambda private: SigningKey.from_pem(pem(private)),
    "ES256": lambda _rsa: SigningKey.from_pem(pem(ec.generate_private_key(ec.SECP256R1()))),
}


def tokens(key: SigningKey, *, now: int = NOW, **overrides: Any) -> AccessTokens:
    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "leeway_seconds": 10}
    options.update(overrides)
    return AccessTokens(key, ttl=timedelta(minutes=15), clock=lambda: now, **options)


def issue(service: AccessTokens) -> str:
    return service.issue(
        user_id=7,
        username="alice",
        roles=[Role.OPERATOR],
        groups=["clerks"],
        session_id="f" * 32,
        token_version=3,
    ).token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "7",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 900,
        "jti": "j",
        "preferred_username": "alice",
        "roles": ["admin"],
        "groups": [],
        "sid": "f" * 32,
        "ver": 0,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def rejected(service: AccessTokens, token: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        service.verify(token)
    return caught.value


@pytest.mark.parametrize("algorithm", list(KEYS))
def test_a_valid_token_is_accepted_with_its_principal(
    algorithm: str, rsa_private: rsa.RSAPrivateKey
) -> None:
    key = KEYS[algorithm](rsa_private)
    service = tokens(key)
    token = issue(service)

    verified = service.verify(token)

    assert key.algorithm == algorithm
    principal = verified.principal
    assert (principal.user_id, principal.username, principal.session_id) == (7, "alice", "f" * 32)
    assert principal.roles == {Role.OPERATOR} and principal.groups == {"clerks"}
    assert can(principal, Permission.INSTANCES_OPERATE)
    assert not can(principal, Permission.USERS_MANAGE)
    assert verified.token_version == 3
    assert verified.expires_at.timestamp() == NOW + 900


@pytest.mark.parametrize("algorithm", list(KEYS))
def test_a_forged_signature_is_rejected(algorithm: str, rsa_private: rsa.RSAPrivateKey) -> None:
    service = tokens(KEYS[algorithm](rsa_private))
    other = KEYS[algorithm](rsa.generate_private_key(public_exponent=65537, key_size=2048))
    if algorithm == "HS256":
        other = SigningKey.hs256("x" * 40)

    error = rejected(service, issue(tokens(other)))

    assert (error.code, error.message) == ("invalid_token", "invalid token")


def test_a_payload_changed_after_signing_is_rejected() -> None:
    service = tokens(SigningKey.hs256(SECRET))
    header, _payload, signature = issue(service).split(".")
    escalated = b64(json.dumps(claims(roles=["admin"])).encode())

    error = rejected(service, f"{header}.{escalated}.{signature}")

    assert error.code == "invalid_token"


def test_an_expired_token_is_rejected() -> None:
    key = SigningKey.hs256(SECRET)
    token = issue(tokens(key))

    assert tokens(key, now=NOW + 900 + 5).verify(token)  # within the leeway
    error = rejected(tokens(key, now=NOW + 900 + 11), token)

    assert (error.code, error.message) == ("token_expired", "the token has expired")


def test_a_token_not_yet_valid_is_rejected() -> None:
    key = SigningKey.hs256(SECRET)
    token = issue(tokens(key, now=NOW + 60))

    error = rejected(tokens(key), token)

    assert error.code == "token_not_yet_valid"


def test_a_token_for_another_audience_is_rejected() -> None:
    key = SigningKey.hs256(SECRET)
    token = issue(tokens(key, audience="another-service"))

    error = rejected(tokens(key), token)

    assert (error.code, error.status) == ("invalid_audience", 401)


def test_a_token_from_another_issuer_is_rejected() -> None:
    key = SigningKey.hs256(SECRET)
    token = issue(tokens(key, issuer="https://evil.example"))

    assert rejected(tokens(key), token).code == "invalid_issuer"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_an_unsigned_token_alg_none_is_rejected(alg: str) -> None:
    service = tokens(SigningKey.hs256(SECRET))
    header = b64(json.dumps({"alg": alg, "typ": "at+jwt"}).encode())
    payload = b64(json.dumps(claims()).encode())

    for token in (f"{header}.{payload}.", f"{header}.{payload}.{b64(b'x')}"):
        assert rejected(service, token).code == "invalid_token"


def test_hs256_signed_with_the_rs256_public_key_is_rejected(
    rsa_private: rsa.RSAPrivateKey,
) -> None:
    """Algorithm confusion: an attacker knows the public key and "signs" an HS256 token with
    it as the HMAC secret; a verifier that trusted the header's alg would accept it."""
    service = tokens(SigningKey.from_pem(pem(rsa_private)))
    public_pem = rsa_private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (public_pem, public_pem.strip()):
        header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt"}).encode())
        payload = b64(json.dumps(claims()).encode())
        signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()

        error = rejected(service, f"{header}.{payload}.{b64(signature)}")

        assert (error.code, error.message) == ("invalid_token", "invalid token")


def test_a_token_of_another_asymmetric_algorithm_is_rejected(
    rsa_private: rsa.RSAPrivateKey,
) -> None:
    service = tokens(SigningKey.from_pem(pem(rsa_private)))
    token = issue(tokens(KEYS["ES256"](rsa_private)))

    assert rejected(service, token).code == "invalid_token"


@pytest.mark.parametrize(
    "claim", ["exp", "nbf", "iat", "iss", "aud", "sub", "jti", "sid", "ver", "roles"]
)
def test_a_token_missing_a_claim_is_rejected(claim: str) -> None:
    key = SigningKey.hs256(SECRET)
    token = jwt.encode(
        {"alg": "HS256", "typ": "at+jwt"}, claims(**{claim: None}), key.key, algorithms=["HS256"]
    )

    error = rejected(tokens(key), token)

    assert error.code == "invalid_token"
    if claim in AccessTokens.REQUIRED:
        assert claim in error.message


def test_another_kind_of_jwt_signed_with_the_same_key_is_not_an_access_token() -> None:
    key = SigningKey.hs256(SECRET)
    token = jwt.encode({"alg": "HS256", "typ": "JWT"}, claims(), key.key, algorithms=["HS256"])

    assert rejected(tokens(key), token).message == "not an access token"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b.c.d.e", "x" * 9000, "é.é.é"])
def test_garbage_is_rejected(token: str) -> None:
    assert rejected(tokens(SigningKey.hs256(SECRET)), token).code == "invalid_token"


def test_a_short_secret_or_a_weak_key_refuses_to_start() -> None:
    with pytest.raises(KeyConfigError, match="at least 32 bytes"):
        SigningKey.hs256("password123")
    with pytest.raises(KeyConfigError, match="at least 2048 bits"):
        SigningKey.from_pem(pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    with pytest.raises(KeyConfigError, match="P-256"):
        SigningKey.from_pem(pem(ec.generate_private_key(ec.SECP384R1())))
    with pytest.raises(KeyConfigError, match="not a usable PEM private key"):
        SigningKey.from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_the_published_jwks_holds_no_private_part(rsa_private: rsa.RSAPrivateKey) -> None:
    key = SigningKey.from_pem(pem(rsa_private))
    (published,) = key.public_jwks()["keys"]
    assert published["kid"] == key.kid and published["alg"] == "RS256"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(published)
    assert SigningKey.hs256(SECRET).public_jwks() == {"keys": []}
