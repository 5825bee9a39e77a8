"""Password hashes: argon2id, verified in a thread, upgraded when the parameters change."""

from __future__ import annotations

import pytest
from pwdlib.hashers.argon2 import Argon2Hasher

from server.auth.passwords import MAX_LENGTH, Passwords, password_problem

pytestmark = pytest.mark.anyio

# cheap parameters keep the tests fast; the service uses pwdlib's recommended ones
CHEAP = Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_hash_is_argon2id_salted_and_verifies_only_its_password() -> None:
    passwords = Passwords(CHEAP)
    first, second = await passwords.hash("correct horse"), await passwords.hash("correct horse")

    assert first.startswith("$argon2id$") and first != second  # a salt of its own each
    assert (await passwords.verify("correct horse", first)).ok
    assert not (await passwords.verify("correct hors", first)).ok
    assert not (await passwords.verify("", first)).ok


async def test_a_hash_with_older_parameters_is_upgraded_on_a_successful_verify() -> None:
    old = await Passwords(CHEAP).hash("correct horse")
    stronger = Passwords(Argon2Hasher(time_cost=2, memory_cost=8192, parallelism=1))

    verified = await stronger.verify("correct horse", old)
    assert verified.ok and verified.new_hash is not None and "t=2" in verified.new_hash
    assert (await stronger.verify("correct horse", verified.new_hash)).new_hash is None
    assert (await stronger.verify("wrong", old)).new_hash is None  # never on a failure


async def test_no_user_unknown_hash_or_overlong_password_is_a_plain_no() -> None:
    passwords = Passwords(CHEAP)
    stored = await passwords.hash("correct horse")

    assert not (await passwords.verify("anything", None)).ok
    assert not (await passwords.verify("anything", "$2b$12$not-argon")).ok
    assert not (await passwords.verify("x" * (MAX_LENGTH + 1), stored)).ok


def test_a_new_password_is_judged_by_its_length_only() -> None:
    assert password_problem("short") == "a password needs at least 8 characters"
    assert password_problem("x" * (MAX_LENGTH + 1)) == "a password has at most 1024 characters"
    assert password_problem("password123") is None
