"""The vault of sensitive variables: AES-256-GCM envelopes bound to their instance and name,
keys by id so that they rotate."""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from server.crypto import (
    MASK,
    DecryptionFailed,
    KeyConfigError,
    KeyUnavailable,
    Vault,
    is_envelope,
    masked,
)
from server.keys import embedded_key_file, vault_from_settings
from server.settings import Settings

SECRET = "310101199001011234"


def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def vault() -> Vault:
    return Vault({"k1": key()})


def test_a_value_round_trips_and_the_envelope_holds_no_plaintext(vault: Vault) -> None:
    for value in [SECRET, 42, 1.5, True, ["a", {"b": SECRET}], {"nested": SECRET}, "陈小明"]:
        envelope = vault.encrypt(value, instance_id=7, name="doc")
        assert is_envelope(envelope)
        assert envelope["kid"] == "k1" and envelope["$enc"] == "v1"
        assert SECRET not in json.dumps(envelope)
        assert len(base64.b64decode(envelope["n"])) == 12
        assert vault.decrypt(envelope, instance_id=7, name="doc") == value


def test_the_same_value_sealed_twice_differs(vault: Vault) -> None:
    """A random nonce per value: equal plaintexts are not recognisable in the database."""
    first = vault.encrypt(SECRET, instance_id=1, name="doc")
    second = vault.encrypt(SECRET, instance_id=1, name="doc")
    assert first["n"] != second["n"] and first["ct"] != second["ct"]


def test_an_unknown_key_id_is_refused(vault: Vault) -> None:
    envelope = vault.encrypt(SECRET, instance_id=1, name="doc")
    with pytest.raises(KeyUnavailable, match="no key 'k9'"):
        vault.decrypt({**envelope, "kid": "k9"}, instance_id=1, name="doc")
    other = Vault({"k1": key()})  # the same id, another key
    with pytest.raises(DecryptionFailed):
        other.decrypt(envelope, instance_id=1, name="doc")


@pytest.mark.parametrize("field", ["ct", "n"])
def test_a_tampered_envelope_is_refused(vault: Vault, field: str) -> None:
    envelope = vault.encrypt(SECRET, instance_id=1, name="doc")
    raw = bytearray(base64.b64decode(envelope[field]))
    raw[0] ^= 1
    tampered = {**envelope, field: base64.b64encode(bytes(raw)).decode()}
    with pytest.raises(DecryptionFailed):
        vault.decrypt(tampered, instance_id=1, name="doc")


@pytest.mark.parametrize(
    "broken",
    [{"n": "not base64!"}, {"ct": 5}, {"n": base64.b64encode(b"short").decode()}, {"$enc": "v9"}],
)
def test_a_malformed_envelope_is_refused(vault: Vault, broken: dict[str, Any]) -> None:
    envelope = {**vault.encrypt(SECRET, instance_id=1, name="doc"), **broken}
    with pytest.raises(DecryptionFailed):
        vault.decrypt(envelope, instance_id=1, name="doc")


def test_an_envelope_moved_to_another_instance_or_variable_does_not_decrypt(vault: Vault) -> None:
    envelope = vault.encrypt(SECRET, instance_id=1, name="doc")
    with pytest.raises(DecryptionFailed, match="another instance or variable"):
        vault.decrypt(envelope, instance_id=2, name="doc")
    with pytest.raises(DecryptionFailed):
        vault.decrypt(envelope, instance_id=1, name="other")
    # "1" + ":1x" and "11" + "x" must not share associated data
    with pytest.raises(DecryptionFailed):
        vault.decrypt(vault.encrypt(SECRET, instance_id=1, name="1x"), instance_id=11, name="x")


def test_rotation_old_keys_still_decrypt_and_new_writes_use_the_active_key() -> None:
    old, new = key(), key()
    before = Vault({"2025": old})
    sealed = before.encrypt(SECRET, instance_id=3, name="doc")
    after = Vault({"2026": new, "2025": old})  # the first is the active one
    assert after.active == "2026"
    assert after.decrypt(sealed, instance_id=3, name="doc") == SECRET
    assert after.encrypt(SECRET, instance_id=3, name="doc")["kid"] == "2026"
    retired = Vault({"2026": new})
    with pytest.raises(KeyUnavailable):
        retired.decrypt(sealed, instance_id=3, name="doc")


def test_a_vault_without_keys_refuses_to_seal_but_passes_plain_values() -> None:
    empty = Vault()
    assert not empty.enabled
    with pytest.raises(KeyUnavailable, match="ENCRYPTION_KEYS"):
        empty.encrypt(SECRET, instance_id=1, name="doc")
    assert empty.seal(1, {"a": 1}, {"doc"}) == {"a": 1}  # nothing sensitive to seal
    assert empty.open(1, {"a": 1}) == {"a": 1}


def test_seal_and_open_a_dict_by_name(vault: Vault) -> None:
    values = {"name": "Chen", "doc": SECRET, "pin": None}
    sealed = vault.seal(5, values, {"doc", "pin", "absent"})
    assert sealed["name"] == "Chen" and sealed["pin"] is None and "absent" not in sealed
    assert is_envelope(sealed["doc"])
    assert vault.seal(5, sealed, {"doc"})["doc"] == sealed["doc"]  # never sealed twice
    assert vault.open(5, sealed) == values
    assert masked(sealed) == {"name": "Chen", "doc": MASK, "pin": None}
    assert values["doc"] == SECRET  # the input is not changed


def test_the_engine_state_is_sealed_where_it_keeps_variables(vault: Vault) -> None:
    state = {
        "format": 1,
        "variables": {"doc": SECRET, "n": 1},
        "tokens": [
            {"id": "tok-1", "step": "a", "locals": {"doc": SECRET, "item": 2}},
            {"id": "tok-2", "step": "b", "pending": {"doc": SECRET}},
            {"id": "tok-3", "step": "c"},
        ],
        "scopes": [],
    }
    sealed = vault.seal_state(9, state, frozenset({"doc"}))
    assert SECRET not in json.dumps(sealed)
    assert sealed["tokens"][2] == {"id": "tok-3", "step": "c"}
    assert vault.open_state(9, sealed) == state
    assert SECRET in json.dumps(state)  # the input is not changed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no key given"),
        ("k1", "kid:base64key"),
        ("k1:!!!", "not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "32"),
        ("bad id:" + base64.b64encode(bytes(32)).decode(), "key id"),
        ("a:{k},a:{k}".format(k=base64.b64encode(bytes(32)).decode()), "twice"),
    ],
)
def test_bad_key_configurations_are_refused_clearly(spec: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message):
        Vault.parse(spec)


def test_parse_reads_several_keys_the_first_active() -> None:
    spec = f"{Vault.new_key_spec('new')}, {Vault.new_key_spec('old')}"
    vault = Vault.parse(spec)
    assert vault.active == "new" and vault.key_ids == ["new", "old"]


def test_settings_keys_win_and_production_without_keys_gets_an_empty_vault(
    tmp_path: Path,
) -> None:
    spec = Vault.new_key_spec("prod1")
    production = Settings(encryption_keys=SecretStr(spec), database_url="postgres://x/y")
    vault = vault_from_settings(production)
    assert vault.active == "prod1"
    keyfile = tmp_path / "keys"
    keyfile.write_text(Vault.new_key_spec("file1"))
    assert vault_from_settings(Settings(encryption_key_file=keyfile)).active == "file1"
    assert not vault_from_settings(Settings(database_url="postgres://x/y")).enabled
    assert not (tmp_path / "workflow-engine.db.keys").exists()


def test_the_embedded_default_generates_a_key_file_once_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(sqlite_path=tmp_path / "data" / "engine.db")
    with caplog.at_level(logging.WARNING, logger="server.keys"):
        first = vault_from_settings(settings)
    path = embedded_key_file(settings)
    assert path == tmp_path / "data" / "engine.db.keys"
    assert "GENERATED an encryption key" in caplog.text
    assert path.stat().st_mode & 0o777 == 0o600
    sealed = first.encrypt(SECRET, instance_id=1, name="doc")
    again = vault_from_settings(settings)  # a restart reads the same key
    assert again.decrypt(sealed, instance_id=1, name="doc") == SECRET
    assert [p.name for p in path.parent.iterdir()] == ["engine.db.keys"]  # no temporary left
