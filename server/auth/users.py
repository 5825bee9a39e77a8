"""Users: created with a password and roles, disabled, listed (the CLI's ``users`` commands,
later the admin API).

Disabling a user, or changing their password, bumps their ``token_version`` and revokes their
refresh tokens in the same transaction: every access token they hold fails its next check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine import Problem
from server.auth.passwords import Passwords, password_problem
from server.auth.roles import Role
from server.db import Database
from server.models import RefreshToken, User, utcnow
from server.services.errors import Conflict, InvalidInput, NotFound

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,149}$")
GROUP = re.compile(r"^[^\s,][^,]{0,149}$")  # groups travel comma-separated in some headers


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    display_name: str
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserInfo:
        assert user.id is not None
        return cls(
            user.id,
            user.username,
            user.display_name,
            tuple(user.roles),
            tuple(user.groups),
            user.disabled,
            user.created_at,
        )


def _problems(
    username: str, password: str | None, roles: list[str], groups: list[str]
) -> list[Problem]:
    problems = []
    if not USERNAME.match(username):
        problems.append(
            Problem(
                "$.username",
                "invalid_username",
                "1 to 150 letters, digits or _ . @ -, starting with a letter or digit",
            )
        )
    if password is not None and (problem := password_problem(password)):
        problems.append(Problem("$.password", "weak_password", problem))
    known = {role.value for role in Role}
    if not roles:
        problems.append(Problem("$.roles", "no_role", f"give at least one of {sorted(known)}"))
    for i, role in enumerate(roles):
        if role not in known:
            problems.append(
                Problem(f"$.roles[{i}]", "unknown_role", f"{role!r} is not one of {sorted(known)}")
            )
    for i, group in enumerate(groups):
        if not GROUP.match(group):
            problems.append(Problem(f"$.groups[{i}]", "invalid_group", f"invalid group {group!r}"))
    return problems


async def revoke_all(session: AsyncSession, user: User, now: datetime) -> None:
    """Every token of the user stops working: access tokens by their version, refresh
    tokens by being revoked."""
    user.token_version += 1
    user.updated_at = now
    session.add(user)
    await session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.user_id) == user.id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


class Users:
    def __init__(
        self,
        db: Database,
        passwords: Passwords,
        *,
        on_revoke: Callable[[int], None] = lambda _user_id: None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.passwords = passwords
        self._on_revoke = on_revoke  # this process forgets what it cached about the user
        self._now = now

    async def create(
        self,
        username: str,
        password: str | None,
        roles: Iterable[str],
        *,
        groups: Iterable[str] = (),
        display_name: str = "",
    ) -> UserInfo:
        """A new user; ``password`` None: one who cannot log in with a password (yet)."""
        role_list, group_list = list(dict.fromkeys(roles)), sorted(set(groups))
        problems = _problems(username, password, role_list, group_list)
        if problems:
            raise InvalidInput(problems)
        hashed = None if password is None else await self.passwords.hash(password)
        now = self._now()
        user = User(
            username=username,
            display_name=display_name,
            groups=group_list,
            roles=role_list,
            password_hash=hashed,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.db.transaction() as session:
                taken = await session.exec(select(User.id).where(col(User.username) == username))
                if taken.first() is not None:
                    raise Conflict(f"a user named {username!r} exists already")
                session.add(user)
        except IntegrityError:  # created by someone else between the check and the insert
            raise Conflict(f"a user named {username!r} exists already") from None
        return UserInfo.of(user)

    async def disable(self, username: str) -> UserInfo:
        return await self._change(username, disabled=True)

    async def enable(self, username: str) -> UserInfo:
        return await self._change(username, disabled=False)

    async def set_password(self, username: str, password: str) -> UserInfo:
        """A new password ends every session of the user (a changed password is often a
        stolen one)."""
        if problem := password_problem(password):
            raise InvalidInput([Problem("$.password", "weak_password", problem)])
        return await self._change(username, password_hash=await self.passwords.hash(password))

    async def list(self) -> list[UserInfo]:
        async with self.db.reading() as session:
            users = (await session.exec(select(User).order_by(col(User.username)))).all()
        return [UserInfo.of(user) for user in users]

    async def _change(
        self, username: str, *, disabled: bool | None = None, password_hash: str | None = None
    ) -> UserInfo:
        now = self._now()
        async with self.db.transaction() as session:
            query = select(User).where(col(User.username) == username).with_for_update()
            user = (await session.exec(query)).first()
            if user is None:
                raise NotFound("user", username)
            if password_hash is not None:
                user.password_hash = password_hash
                await revoke_all(session, user, now)
            if disabled is not None and disabled != user.disabled:
                user.disabled = disabled
                if disabled:
                    await revoke_all(session, user, now)
            user.updated_at = now
            session.add(user)
        assert user.id is not None
        self._on_revoke(user.id)
        return UserInfo.of(user)
