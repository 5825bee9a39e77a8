"""Logging in, keeping the tokens fresh, and a client whose requests and websockets carry them.

Written by hand and copied into the generated package (``files_to_include``). The server's
``login`` and ``refreshToken`` answer ``AuthTokens`` or ``AuthFailed`` (``invalid_credentials``,
``too_many_attempts``...); a refresh token is used up by its refresh, so the new one is kept.
A websocket carries the access token in its ``connection_init`` payload (browsers cannot set
headers on the handshake, so the server reads it there, for every client).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .client import Client


class AuthenticationFailed(Exception):
    """``login`` or ``refreshToken`` answered ``AuthFailed``."""

    def __init__(self, message: str, code: str, retry_after: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True)
class Tokens:
    """An access token, its refresh token, and when the access token expires (epoch s)."""

    access_token: str
    refresh_token: str
    expires_at: float

    def expiring(self, margin: float = 30.0) -> bool:
        return time.time() >= self.expires_at - margin


def ws_url_of(url: str) -> str:
    """``http(s)://host/graphql`` → ``ws(s)://host/graphql``."""
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    return "ws://" + url.removeprefix("http://")


def _tokens(result: Any) -> Tokens:
    if result.typename__ != "AuthTokens":
        raise AuthenticationFailed(result.message, result.code, result.retry_after)
    return Tokens(result.access_token, result.refresh_token, time.time() + result.expires_in)


def authenticated(url: str, tokens: Tokens, ws_url: str | None = None) -> Client:
    """A client whose HTTP requests and websocket ``connection_init`` carry the access token."""
    bearer = f"Bearer {tokens.access_token}"
    return Client(
        url=url,
        headers={"Authorization": bearer},
        ws_url=ws_url or ws_url_of(url),
        ws_connection_init_payload={"Authorization": bearer},
    )


async def login(url: str, username: str, password: str) -> Tokens:
    """Tokens for a username and password; ``AuthenticationFailed`` when refused."""
    async with Client(url=url) as anonymous:
        return _tokens((await anonymous.login(username=username, password=password)).login)


async def refresh(url: str, refresh_token: str) -> Tokens:
    """New tokens for a refresh token (which is used up)."""
    async with Client(url=url) as anonymous:
        answer = await anonymous.refresh_token(refresh_token=refresh_token)
        return _tokens(answer.refresh_token)


class Session:
    """One user's tokens, refreshed shortly before they expire, and clients that use them.

    ``await session.client()`` returns a client with a valid token (refreshing first when
    needed); a websocket closed by the server with 4403 (token expired or revoked) is
    resumed with a fresh client and the last cursor (``afterSeq``, ``after``).
    """

    def __init__(self, url: str, tokens: Tokens, ws_url: str | None = None) -> None:
        self.url = url
        self.ws_url = ws_url
        self.tokens = tokens

    @classmethod
    async def login(
        cls, url: str, username: str, password: str, ws_url: str | None = None
    ) -> Session:
        return cls(url, await login(url, username, password), ws_url)

    async def refresh(self) -> Tokens:
        self.tokens = await refresh(self.url, self.tokens.refresh_token)
        return self.tokens

    async def client(self) -> Client:
        if self.tokens.expiring():
            await self.refresh()
        return authenticated(self.url, self.tokens, self.ws_url)

    async def logout(self) -> None:
        async with await self.client() as client:
            await client.logout(refresh_token=self.tokens.refresh_token)
