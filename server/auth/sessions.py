"""Login, refresh, logout, and the check every authenticated request makes.

A login starts a session: a refresh-token family. Its access tokens are short-lived JWTs
(``tokens``); its refresh token is 256 random bits, stored as a SHA-256 only. A refresh
rotates: the token used is revoked, a successor issued. A rotated token presented again means
two parties hold it (the client and a thief, in some order): the whole family is revoked, and
both have to log in again (OAuth 2.0 Security BCP, 4.14).

Revocation of access tokens, "at once": each token carries the user's ``token_version`` and
its session id; each request checks that the user is enabled, the version current and the
session not logged out. Why this and not a list of revoked token ids: the database already
holds the truth (one integer per user, the families), nothing has to be kept until tokens
expire, and disabling a user needs no list of what they hold. The check is cached per process
for ``revocation_cache_seconds`` (a few seconds: one indexed read per user and session per
period); the process that revokes forgets its cache at once, others within that period.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth.errors import AuthError
from server.auth.oidc import OidcVerifier
from server.auth.passwords import Passwords
from server.auth.roles import Principal, parse_roles
from server.auth.throttle import LoginThrottle
from server.auth.tokens import AccessClaims, AccessTokens, unverified_issuer
from server.auth.users import Users, revoke_all
from server.db import Database
from server.models import RefreshToken, User, utcnow

INVALID_CREDENTIALS = "wrong username or password"
MAX_CACHED = 50_000


@dataclass(frozen=True)
class Session:
    """What a login or a refresh hands the client."""

    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    principal: Principal


@dataclass(frozen=True)
class _Standing:
    """What the revocation check reads about a user and session."""

    token_version: int
    active: bool  # user enabled and session not logged out


def _digest(refresh_token: str) -> str:
    # SHA-256, not a slow hash: the token has 256 random bits, nothing to brute-force; a
    # lookup by digest leaks at most a digest's prefix by timing, which forges nothing
    return hashlib.sha256(refresh_token.encode("utf-8", "replace")).hexdigest()


class AuthService:
    def __init__(
        self,
        db: Database,
        tokens: AccessTokens,
        throttle: LoginThrottle,
        *,
        passwords: Passwords | None = None,
        refresh_ttl: timedelta = timedelta(days=14),
        revocation_cache_seconds: float = 5.0,
        oidc: OidcVerifier | None = None,
        now: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.throttle = throttle
        self.passwords = passwords or Passwords()
        self.refresh_ttl = refresh_ttl
        self.cache_seconds = revocation_cache_seconds
        self.oidc = oidc
        self._now = now
        self._monotonic = monotonic
        self._standing: dict[tuple[int, str], tuple[float, _Standing]] = {}
        self._reading: dict[tuple[int, str], asyncio.Future[_Standing]] = {}
        self.users = Users(db, self.passwords, on_revoke=self.forget, now=now)

    # --- login, refresh, logout ------------------------------------------------------------

    async def login(self, username: str, password: str, *, address: str | None = None) -> Session:
        """``invalid_credentials`` alike for an unknown user, a wrong password and a disabled
        user (same message, same argon2 cost): a login says nothing about who exists."""
        await self.throttle.check(username, address)
        async with self.db.reading() as session:
            found = await session.exec(select(User).where(col(User.username) == username))
            user = found.first()
        usable = user is not None and not user.disabled
        verified = await self.passwords.verify(
            password, user.password_hash if user is not None and usable else None
        )
        if not verified.ok or user is None:
            await self.throttle.failed(username, address)
            raise AuthError("invalid_credentials", INVALID_CREDENTIALS)
        await self.throttle.succeeded(username)
        async with self.db.transaction() as session:
            query = select(User).where(col(User.id) == user.id).with_for_update()
            current = (await session.exec(query)).first()
            if current is None or current.disabled:  # disabled while the password was checked
                raise AuthError("invalid_credentials", INVALID_CREDENTIALS)
            if verified.new_hash is not None:  # stronger parameters since it was hashed
                current.password_hash = verified.new_hash
                current.updated_at = self._now()
                session.add(current)
            issued, _row_id = await self._issue(session, current, uuid.uuid4().hex)
            return issued

    async def refresh(self, refresh_token: str) -> Session:
        """A new session pair for a current refresh token, which is used up; see the module
        docstring for what a reused one does."""
        async with self.db.transaction() as session:
            outcome = await self._rotate(session, _digest(refresh_token))
        if isinstance(outcome, AuthError):  # raised after the commit: a revocation stays
            raise outcome
        return outcome

    async def logout(self, refresh_token: str) -> None:
        """End the refresh token's session (unknown or already ended: nothing to do)."""
        now = self._now()
        async with self.db.transaction() as session:
            query = select(RefreshToken).where(
                col(RefreshToken.token_hash) == _digest(refresh_token)
            )
            row = (await session.exec(query)).first()
            if row is None:
                return
            await self._revoke_family(session, row.family_id, now)
        self.forget(row.user_id)

    async def end_session(self, principal: Principal) -> None:
        """Logout with only the access token: ends the session it belongs to."""
        if principal.user_id is None or principal.session_id is None:
            return  # an external issuer's token: its issuer ends its sessions
        async with self.db.transaction() as session:
            await self._revoke_family(session, principal.session_id, self._now(), principal.user_id)
        self.forget(principal.user_id)

    async def logout_everywhere(self, user_id: int) -> None:
        async with self.db.transaction() as session:
            user = (
                await session.exec(select(User).where(col(User.id) == user_id).with_for_update())
            ).first()
            if user is not None:
                await revoke_all(session, user, self._now())
        self.forget(user_id)

    # --- every request ----------------------------------------------------------------------

    async def authenticate(self, access_token: str) -> AccessClaims:
        """The claims of a valid, unrevoked access token, or an ``AuthError``. The external
        issuer's tokens (when one is configured) are recognised by their ``iss``."""
        if self.oidc is not None and unverified_issuer(access_token) == self.oidc.issuer:
            return await self.oidc.verify(access_token)
        claims = self.tokens.verify(access_token)
        await self.revalidate(claims)
        return claims

    async def revalidate(self, claims: AccessClaims) -> None:
        """Check again that a token authenticated earlier still holds: not expired, user
        enabled, session not logged out. A websocket calls it periodically and closes (4403)
        on an ``AuthError``."""
        if claims.expires_at <= self._now():
            raise AuthError("token_expired", "the token has expired")
        principal = claims.principal
        if claims.token_version is None or principal.user_id is None:
            return
        if principal.session_id is None:
            raise AuthError("invalid_token", "invalid token")
        standing = await self._standing_of(principal.user_id, principal.session_id)
        if not standing.active or standing.token_version != claims.token_version:
            raise AuthError("token_revoked", "the session has ended: log in again")

    def forget(self, user_id: int) -> None:
        """Drop this process's cached standing of the user (it has just been revoked)."""
        for key in [key for key in self._standing if key[0] == user_id]:
            del self._standing[key]
        for key in [key for key in self._reading if key[0] == user_id]:
            del self._reading[key]

    # --- internals ----------------------------------------------------------------------------

    async def _standing_of(self, user_id: int, session_id: str) -> _Standing:
        key = (user_id, session_id)
        cached = self._standing.get(key)
        now = self._monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        if self.cache_seconds <= 0:
            return await self._read_standing(user_id, session_id)  # every check reads
        # One read per key at a time: the sockets of one session wake together every few
        # seconds, and 10,000 of them missing the cache at once were 10,000 reads.
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read_standing(user_id, session_id))
            self._reading[key] = reading
            reading.add_done_callback(lambda done: self._remember(key, now, done))
        return await asyncio.shield(reading)

    def _remember(
        self, key: tuple[int, str], read_at: float, done: asyncio.Future[_Standing]
    ) -> None:
        if self._reading.get(key) is not done:
            return  # forgotten while it read (a revocation): its answer may predate it
        del self._reading[key]
        if done.cancelled() or done.exception() is not None or self.cache_seconds <= 0:
            return
        if len(self._standing) >= MAX_CACHED:
            self._standing.clear()
        self._standing[key] = (read_at + self.cache_seconds, done.result())

    async def _read_standing(self, user_id: int, session_id: str) -> _Standing:
        async with self.db.reading() as session:
            user = (
                await session.exec(
                    select(User.token_version, User.disabled).where(col(User.id) == user_id)
                )
            ).first()
            head = await session.exec(
                select(RefreshToken.id)
                .where(
                    col(RefreshToken.family_id) == session_id,
                    col(RefreshToken.user_id) == user_id,
                    col(RefreshToken.revoked_at).is_(None),
                    col(RefreshToken.expires_at) > self._now(),
                )
                .limit(1)
            )
            session_open = head.first() is not None
        if user is None:
            return _Standing(-1, False)
        version, disabled = user
        return _Standing(version, session_open and not disabled)

    async def _rotate(self, session: AsyncSession, digest: str) -> Session | AuthError:
        now = self._now()
        query = select(RefreshToken).where(col(RefreshToken.token_hash) == digest).with_for_update()
        row = (await session.exec(query)).first()
        if row is None:
            return AuthError("invalid_token", "unknown refresh token")
        if row.revoked_at is not None:
            if row.replaced_by is None:
                return AuthError("token_revoked", "the session has ended: log in again")
            await self._revoke_family(session, row.family_id, now)
            self.forget(row.user_id)
            return AuthError(
                "token_reused",
                "this refresh token was used already: its session is ended, log in again",
            )
        if row.expires_at <= now:
            return AuthError("token_expired", "the refresh token has expired: log in again")
        user = (await session.exec(select(User).where(col(User.id) == row.user_id))).first()
        if user is None or user.disabled:
            await self._revoke_family(session, row.family_id, now)
            return AuthError("token_revoked", "the session has ended: log in again")
        issued, successor = await self._issue(session, user, row.family_id)
        row.revoked_at = now
        row.replaced_by = successor
        session.add(row)
        return issued

    async def _issue(
        self, session: AsyncSession, user: User, family_id: str
    ) -> tuple[Session, int]:
        """A new access token and refresh token (its row's id too, for ``replaced_by``)."""
        assert user.id is not None
        now = self._now()
        refresh_token = secrets.token_urlsafe(32)
        refresh_expires = now + self.refresh_ttl
        row = RefreshToken(
            token_hash=_digest(refresh_token),
            user_id=user.id,
            family_id=family_id,
            expires_at=refresh_expires,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        principal = Principal(
            user_id=user.id,
            username=user.username,
            roles=parse_roles(user.roles),
            groups=frozenset(user.groups),
            session_id=family_id,
        )
        access = self.tokens.issue(
            user_id=user.id,
            username=user.username,
            roles=principal.roles,
            groups=principal.groups,
            session_id=family_id,
            token_version=user.token_version,
        )
        pair = Session(access.token, access.expires_at, refresh_token, refresh_expires, principal)
        return pair, row.id

    async def _revoke_family(
        self, session: AsyncSession, family_id: str, now: datetime, user_id: int | None = None
    ) -> None:
        statement = update(RefreshToken).where(
            col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None)
        )
        if user_id is not None:  # a session id from a token: only the token's user's own
            statement = statement.where(col(RefreshToken.user_id) == user_id)
        await session.exec(statement.values(revoked_at=now))
