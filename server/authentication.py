"""Authentication from the settings: the composition roots' one way to build the AuthService.

``server.auth`` reads no settings; this module turns them into its pieces: the signing key
(key file, else JWT_SECRET, else refuse to start), the failed-login throttle (Redis with
REDIS_URL, else in memory: several API processes must count together), the optional external
OIDC issuer. The demo (``serve --demo``, ``make run``) alone gets a secret made up for the
process and the seed's ``admin`` / ``password123``, and says so loudly.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import httpx
import redis.asyncio as aioredis

from server.auth.oidc import OidcConfig, OidcVerifier
from server.auth.sessions import AuthService
from server.auth.throttle import LoginThrottle, MemoryThrottle, RedisThrottle, ThrottleLimits
from server.auth.tokens import AccessTokens, KeyConfigError, SigningKey, signing_key
from server.db import Database
from server.services.errors import Conflict
from server.settings import Settings

log = logging.getLogger(__name__)

DEMO_USER = "admin"
DEMO_PASSWORD = "password123"  # the seed's README logs in with it
DEMO_GROUPS = ("managers",)


def key_from_settings(settings: Settings) -> SigningKey:
    """The signing key; ``KeyConfigError`` (with what to set) when none is configured, except
    in the demo, which signs with a random secret of this process (tokens die with it)."""
    pem = None
    if settings.jwt_private_key_file is not None:
        pem = settings.jwt_private_key_file.read_bytes()
    secret = None if settings.jwt_secret is None else settings.jwt_secret.get_secret_value()
    if pem is None and not secret and settings.demo:
        return SigningKey.hs256(secrets.token_urlsafe(48))
    return signing_key(secret, pem)


def check_auth_settings(settings: Settings) -> str | None:
    """Why the server must not start with these settings, or None (for ``serve`` to say it
    plainly before uvicorn wraps it in a traceback)."""
    try:
        key_from_settings(settings)
    except (KeyConfigError, OSError) as error:
        return str(error)
    return None


def _limits(settings: Settings) -> ThrottleLimits:
    return ThrottleLimits(
        per_user=settings.login_max_failures_per_user,
        per_address=settings.login_max_failures_per_address,
        window_seconds=settings.login_failure_window_seconds,
    )


@asynccontextmanager
async def open_auth(settings: Settings, db: Database) -> AsyncIterator[AuthService]:
    """The AuthService of the settings, with its Redis and HTTP clients closed on exit."""
    key = key_from_settings(settings)
    async with AsyncExitStack() as stack:
        throttle: LoginThrottle
        if settings.redis_url:
            client = aioredis.Redis.from_url(settings.redis_url)
            stack.push_async_callback(client.aclose)
            throttle = RedisThrottle(client, settings.redis_prefix, _limits(settings))
        else:
            throttle = MemoryThrottle(_limits(settings))
        oidc = None
        if settings.oidc_issuer:
            http = httpx.AsyncClient(timeout=10.0)
            stack.push_async_callback(http.aclose)
            config = OidcConfig(
                issuer=settings.oidc_issuer,
                audience=settings.oidc_audience or settings.jwt_audience,
                jwks_url=settings.oidc_jwks_url,
                roles_claim=settings.oidc_roles_claim,
                groups_claim=settings.oidc_groups_claim,
                username_claim=settings.oidc_username_claim,
            )
            oidc = OidcVerifier(config, http)
        tokens = AccessTokens(
            key,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl=timedelta(minutes=settings.access_token_minutes),
        )
        auth = AuthService(
            db,
            tokens,
            throttle,
            refresh_ttl=timedelta(days=settings.refresh_token_days),
            revocation_cache_seconds=settings.auth_revocation_cache_seconds,
            oidc=oidc,
        )
        if settings.demo:
            await ensure_demo_user(auth)
        yield auth


async def ensure_demo_user(auth: AuthService) -> None:
    """The seed's ``admin`` / ``password123``, created if missing: the demo only."""
    try:
        await auth.users.create(DEMO_USER, DEMO_PASSWORD, ["admin"], groups=DEMO_GROUPS)
    except Conflict:
        pass  # created by an earlier start: kept as it is (its password may have changed)
    log.warning(
        "DEMO MODE: user %r with password %r (role admin) exists, and access tokens are "
        "signed with a secret made up for this process unless JWT_SECRET is set. "
        "Never expose this server.",
        DEMO_USER,
        DEMO_PASSWORD,
    )
