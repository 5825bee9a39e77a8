"""Access tokens: JWTs this server issues and verifies (joserfc), strictly.

Each key is used with exactly one algorithm, fixed when the key is loaded (an HMAC secret:
HS256; an RSA key: RS256; a P-256 key: ES256), and verification allows only that one. So
``alg: none`` is refused, and so is the classic confusion of an HS256 token "signed" with the
server's RSA public key: the RSA key is never offered to HMAC. The claims ``exp``, ``nbf``,
``iat``, ``iss``, ``aud``, ``sub`` are all required, and the header must say ``at+jwt``
(RFC 9068) so that another JWT signed with the same key (an ID token) is not an access token.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import ECKey, KeyFlexible, OctKey, RSAKey

from server.auth.errors import AuthError
from server.auth.roles import Principal, Role, parse_roles

Algorithm = Literal["HS256", "RS256", "ES256"]
ACCESS_TOKEN_TYPE = "at+jwt"
MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key at least as long as the hash (256 bits)
MIN_RSA_BITS = 2048
MAX_TOKEN_LENGTH = 8192  # checked before any parsing


class KeyConfigError(ValueError):
    """The configured key cannot sign tokens safely: the server must not start."""


@dataclass(frozen=True)
class SigningKey:
    key: OctKey | RSAKey | ECKey
    algorithm: Algorithm
    kid: str | None

    @classmethod
    def hs256(cls, secret: str | bytes) -> SigningKey:
        raw = secret.encode() if isinstance(secret, str) else secret
        if len(raw) < MIN_SECRET_BYTES:
            raise KeyConfigError(
                f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes (HS256 needs a 256-bit "
                "key); generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        # no kid: a thumbprint of a secret key would hand out a hash to brute-force it offline
        return cls(OctKey.import_key(raw), "HS256", None)

    @classmethod
    def from_pem(cls, pem: bytes, password: bytes | None = None) -> SigningKey:
        """A private RSA (RS256) or P-256 EC (ES256) key; the algorithm follows the key."""
        try:
            private = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError) as error:
            raise KeyConfigError(f"not a usable PEM private key: {error}") from None
        if isinstance(private, rsa.RSAPrivateKey):
            if private.key_size < MIN_RSA_BITS:
                raise KeyConfigError(
                    f"an RSA key needs at least {MIN_RSA_BITS} bits, not {private.key_size}"
                )
            rsa_key = RSAKey.import_key(private)
            return cls(rsa_key, "RS256", rsa_key.thumbprint())
        if isinstance(private, ec.EllipticCurvePrivateKey):
            if not isinstance(private.curve, ec.SECP256R1):
                raise KeyConfigError(f"ES256 needs a P-256 key, not {private.curve.name}")
            ec_key = ECKey.import_key(private)
            return cls(ec_key, "ES256", ec_key.thumbprint())
        raise KeyConfigError("the key file must hold an RSA or a P-256 EC private key")

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS to publish (empty for HS256, whose key is secret)."""
        if isinstance(self.key, OctKey):
            return {"keys": []}
        public = self.key.as_dict(private=False)
        return {"keys": [{**public, "kid": self.kid, "alg": self.algorithm, "use": "sig"}]}


def signing_key(secret: str | None, private_key_pem: bytes | None) -> SigningKey:
    """The key the server signs with: the PEM key file's if given, else JWT_SECRET's (HS256).
    Neither: the server must not start (there is no default secret, outside the demo)."""
    if private_key_pem is not None:
        return SigningKey.from_pem(private_key_pem)
    if secret:
        return SigningKey.hs256(secret)
    raise KeyConfigError(
        "no key to sign access tokens with: set JWT_SECRET (HS256, at least 32 bytes) or "
        "JWT_PRIVATE_KEY_FILE (an RSA or P-256 PEM private key)"
    )


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says. ``token_version`` and ``session_id`` are None for
    an external issuer's token (its issuer revokes it, not us)."""

    principal: Principal
    issuer: str
    expires_at: datetime
    token_version: int | None
    token_id: str | None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


def decode_strict(
    token: str,
    key: KeyFlexible,
    algorithms: Collection[str],
    *,
    issuer: str,
    audience: str,
    required: Collection[str],
    now: int,
    leeway: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify signature, algorithm and claims; (header, claims), or an ``AuthError`` whose
    message names the rule broken, never the details of a failed signature."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise AuthError("invalid_token", "invalid token")
    try:
        decoded = jwt.decode(token, key, algorithms=list(algorithms))
    except JoseError:
        raise AuthError("invalid_token", "invalid token") from None
    except (ValueError, TypeError):  # malformed base64 or JSON that joserfc lets through
        raise AuthError("invalid_token", "invalid token") from None
    claims = decoded.claims
    options: dict[str, Any] = {name: {"essential": True} for name in required}
    options["iss"] = {"essential": True, "value": issuer}
    options["aud"] = {"essential": True, "value": audience}
    registry = jwt.JWTClaimsRegistry(now=now, leeway=leeway, **options)
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise AuthError("token_expired", "the token has expired") from None
    except MissingClaimError as error:
        missing = getattr(error, "claim", "") or "?"
        raise AuthError("invalid_token", f"the token lacks required claims: {missing}") from None
    except InvalidClaimError as error:
        raise _claim_error(getattr(error, "claim", None)) from None
    return dict(decoded.header), claims


def _claim_error(claim: str | None) -> AuthError:
    if claim in ("nbf", "iat"):
        return AuthError("token_not_yet_valid", f"the token is not valid yet ({claim})")
    if claim == "aud":
        return AuthError("invalid_audience", "the token is meant for another audience")
    if claim == "iss":
        return AuthError("invalid_issuer", "the token comes from an unknown issuer")
    return AuthError("invalid_token", f"the token has an invalid claim ({claim or '?'})")


def unverified_header(token: str) -> dict[str, Any]:
    """The header of a token, NOT verified: only to choose which verifier to use."""
    return _unverified_part(token, 0)


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` of a token, NOT verified: only to choose which verifier to use; the one
    chosen checks the issuer again with the signature."""
    issuer = _unverified_part(token, 1).get("iss")
    return issuer if isinstance(issuer, str) else None


def _unverified_part(token: str, index: int) -> dict[str, Any]:
    parts = token.split(".") if isinstance(token, str) and len(token) <= MAX_TOKEN_LENGTH else []
    if len(parts) != 3:
        return {}
    try:
        segment = parts[index]
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def _string_list(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AuthError("invalid_token", "invalid token")
    return cast(list[str], value)


class AccessTokens:
    """Issue and verify this server's access tokens with one signing key."""

    REQUIRED = ("exp", "nbf", "iat", "iss", "aud", "sub", "jti")

    def __init__(
        self,
        key: SigningKey,
        *,
        issuer: str,
        audience: str,
        ttl: timedelta,
        leeway_seconds: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self.leeway = leeway_seconds  # clock skew between the API processes
        self._clock = clock

    def issue(
        self,
        *,
        user_id: int,
        username: str,
        roles: Collection[Role],
        groups: Collection[str],
        session_id: str,
        token_version: int,
    ) -> IssuedToken:
        now = int(self._clock())
        expires = now + int(self.ttl.total_seconds())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": now,
            "nbf": now,
            "exp": expires,
            "jti": secrets.token_urlsafe(16),
            "preferred_username": username,
            "roles": sorted(role.value for role in roles),
            "groups": sorted(groups),
            "sid": session_id,
            "ver": token_version,
        }
        header: dict[str, Any] = {"alg": self.key.algorithm, "typ": ACCESS_TOKEN_TYPE}
        if self.key.kid is not None:
            header["kid"] = self.key.kid
        token = jwt.encode(header, claims, self.key.key, algorithms=[self.key.algorithm])
        return IssuedToken(token, datetime.fromtimestamp(expires, UTC))

    def verify(self, token: str) -> AccessClaims:
        header, claims = decode_strict(
            token,
            self.key.key,
            [self.key.algorithm],
            issuer=self.issuer,
            audience=self.audience,
            required=self.REQUIRED,
            now=int(self._clock()),
            leeway=self.leeway,
        )
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise AuthError("invalid_token", "not an access token")
        return self._claims(claims)

    def _claims(self, claims: Mapping[str, Any]) -> AccessClaims:
        sub, name, sid, ver = (claims.get(k) for k in ("sub", "preferred_username", "sid", "ver"))
        if not (isinstance(sub, str) and sub.isdigit()):
            raise AuthError("invalid_token", "invalid token")
        if not (isinstance(name, str) and isinstance(sid, str) and type(ver) is int):
            raise AuthError("invalid_token", "invalid token")
        principal = Principal(
            user_id=int(sub),
            username=name,
            roles=parse_roles(_string_list(claims.get("roles"))),
            groups=frozenset(_string_list(claims.get("groups"))),
            session_id=sid,
        )
        return AccessClaims(
            principal=principal,
            issuer=self.issuer,
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            token_version=ver,
            token_id=claims.get("jti"),
        )
