"""Password hashes: argon2id through pwdlib, upgraded when the parameters change.

Hashing is deliberately slow (~0.1-0.3 s of CPU): it runs in a worker thread so that a login
never stalls the event loop. An unknown user is checked against a dummy hash, so that a
failed login takes as long whether the user exists or not (no enumeration by timing).
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_LENGTH = 8
MAX_LENGTH = 1024  # a longer "password" is a denial-of-service attempt, not a secret


@dataclass(frozen=True)
class Verified:
    ok: bool
    new_hash: str | None  # set when the stored hash used older parameters: store it


class Passwords:
    """Hash and verify with one argon2id configuration (cheaper ones only in tests).

    At most ``max_concurrent`` hashes run at once: each takes 64 MiB with the default
    parameters, and a burst of logins must not take the process's memory with it (others wait
    their turn; the throttle bounds how many a client can send)."""

    def __init__(self, hasher: Argon2Hasher | None = None, *, max_concurrent: int = 4) -> None:
        self._hash = PasswordHash((hasher or Argon2Hasher(),))
        self._dummy: str | None = None
        self._limiter = anyio.CapacityLimiter(max_concurrent)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hash.hash, password, limiter=self._limiter)

    async def verify(self, password: str, stored: str | None) -> Verified:
        """Check ``password`` against ``stored`` (None: no user or no password, then a dummy
        hash is checked for the same cost and the answer is no)."""
        return await anyio.to_thread.run_sync(self._verify, password, stored, limiter=self._limiter)

    def _verify(self, password: str, stored: str | None) -> Verified:
        if len(password) > MAX_LENGTH:
            return Verified(False, None)
        if stored is None:
            if self._dummy is None:
                self._dummy = self._hash.hash("not a password of anyone")
            self._hash.verify(password, self._dummy)
            return Verified(False, None)
        try:
            ok, new_hash = self._hash.verify_and_update(password, stored)
        except UnknownHashError:  # a row written by something else: never a match
            return Verified(False, None)
        return Verified(ok, new_hash if ok else None)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None. Length only (NIST SP 800-63B): composition
    rules make passwords worse, not stronger."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    return None
