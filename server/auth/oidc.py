"""Access tokens of an external OpenID Connect issuer (Keycloak, Auth0, ...), verified with
the keys its JWKS publishes.

Why no Authlib: a resource server needs only discovery (one GET of
``/.well-known/openid-configuration``) and the JWKS (one GET), both plain JSON that httpx
fetches, and joserfc (Authlib's own JOSE library) verifies the tokens. Authlib's OAuth2
clients serve the login flows of a relying party, which this service does not run.

Keys are cached for ``cache_seconds``; a token with an unknown ``kid`` fetches the JWKS again
(the issuer rotated its keys), at most once per ``refetch_seconds`` so that made-up kids cannot
make us hammer the issuer. Only RSA (RS256) and P-256 EC (ES256) signing keys are taken from
the JWKS, and each key verifies only its own algorithm: a symmetric ``oct`` key published by
mistake is ignored, and no HS/RS confusion is possible.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, GuestProtocol, RSAKey

from server.auth.errors import AuthError
from server.auth.roles import Principal, parse_roles
from server.auth.tokens import MIN_RSA_BITS, AccessClaims, decode_strict, unverified_header

log = logging.getLogger(__name__)

ALGORITHM_OF = {"RSA": "RS256", "EC": "ES256"}


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks_url: str | None = None  # None: discovered from the issuer
    roles_claim: str = "roles"  # a dotted path: Keycloak's is realm_access.roles
    groups_claim: str = "groups"
    username_claim: str = "preferred_username"
    cache_seconds: float = 600.0
    refetch_seconds: float = 30.0
    leeway_seconds: int = 30


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def usable_keys(jwks: Any) -> dict[str, RSAKey | ECKey]:
    """The signing keys of a JWKS we accept, by kid."""
    keys: dict[str, RSAKey | ECKey] = {}
    entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping) or entry.get("use", "sig") != "sig":
            continue
        kid, kty = entry.get("kid"), entry.get("kty")
        if not isinstance(kid, str) or kty not in ALGORITHM_OF:
            continue
        if entry.get("alg", ALGORITHM_OF[kty]) != ALGORITHM_OF[kty]:
            continue
        try:
            with warnings.catch_warnings():  # a weak key warns; it is skipped just below
                warnings.simplefilter("ignore", SecurityWarning)
                key = (
                    RSAKey.import_key(dict(entry))
                    if kty == "RSA"
                    else ECKey.import_key(dict(entry))
                )
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(key, RSAKey) and key.raw_value.key_size < MIN_RSA_BITS:
            continue
        if isinstance(key, ECKey) and key.curve_name != "P-256":
            continue
        keys[kid] = key
    return keys


class OidcVerifier:
    def __init__(
        self,
        config: OidcConfig,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._http = http
        self._clock = clock
        self._monotonic = monotonic
        self._keys: dict[str, RSAKey | ECKey] = {}
        self._fetched_at: float | None = None
        self._jwks_url = config.jwks_url
        self._lock = asyncio.Lock()

    @property
    def issuer(self) -> str:
        return self.config.issuer

    async def verify(self, token: str) -> AccessClaims:
        kid = unverified_header(token).get("kid")
        keys = await self._keys_for(kid if isinstance(kid, str) else None)

        def resolve(guest: GuestProtocol) -> RSAKey | ECKey:
            header = guest.headers()
            key = keys.get(header.get("kid", ""))
            if key is None or ALGORITHM_OF[key.key_type] != header.get("alg"):
                raise AuthError("invalid_token", "invalid token")
            return key

        _header, claims = decode_strict(
            token,
            resolve,
            sorted(set(ALGORITHM_OF.values())),
            issuer=self.config.issuer,
            audience=self.config.audience,
            required=("exp", "iat", "iss", "aud", "sub"),  # issuers often set no nbf
            now=int(self._clock()),
            leeway=self.config.leeway_seconds,
        )
        username = _claim(claims, self.config.username_claim) or claims["sub"]
        if not isinstance(username, str):
            raise AuthError("invalid_token", "invalid token")
        principal = Principal(
            user_id=None,
            username=username,
            roles=parse_roles(_strings(_claim(claims, self.config.roles_claim))),
            groups=frozenset(_strings(_claim(claims, self.config.groups_claim))),
        )
        jti = claims.get("jti")
        return AccessClaims(
            principal=principal,
            issuer=self.config.issuer,
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            token_version=None,
            token_id=jti if isinstance(jti, str) else None,
        )

    async def refresh_keys(self) -> None:
        """Fetch the JWKS now (at start, so that a misconfigured issuer shows at once)."""
        async with self._lock:
            await self._fetch()

    async def _keys_for(self, kid: str | None) -> Mapping[str, RSAKey | ECKey]:
        now = self._monotonic()
        stale = self._fetched_at is None or now - self._fetched_at > self.config.cache_seconds
        unknown = kid is not None and kid not in self._keys
        may_refetch = (
            self._fetched_at is None or now - self._fetched_at > self.config.refetch_seconds
        )
        if stale or (unknown and may_refetch):
            async with self._lock:
                if self._fetched_at is None or self._fetched_at < now:  # not done while waiting
                    await self._fetch()
        if not self._keys:
            raise AuthError("issuer_unavailable", "the identity provider's keys are unavailable")
        return self._keys

    async def _fetch(self) -> None:
        try:
            if self._jwks_url is None:
                self._jwks_url = await self._discover()
            response = await self._http.get(self._jwks_url, timeout=10)
            response.raise_for_status()
            keys = usable_keys(response.json())
        except (httpx.HTTPError, ValueError) as error:
            log.error("OIDC issuer %s: cannot fetch its keys: %s", self.config.issuer, error)
            return  # keep the keys we have (if any); try again after refetch_seconds
        finally:
            self._fetched_at = self._monotonic()
        if not keys:
            log.error("OIDC issuer %s publishes no RS256/ES256 signing key", self.config.issuer)
        self._keys = keys

    async def _discover(self) -> str:
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = await self._http.get(url, timeout=10)
        response.raise_for_status()
        document = response.json()
        # OpenID Connect Discovery 4.3: the document must name the issuer it was asked for
        if not isinstance(document, dict) or document.get("issuer") != self.config.issuer:
            raise ValueError("the discovery document names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError("the discovery document has no jwks_uri")
        return jwks_uri
