"""Encryption at rest of the variables a definition marks ``sensitive``.

A sensitive value is stored as an envelope inside the row's JSON, in place of the value::

    {"$enc": "v1", "kid": "k2", "n": "<base64 nonce>", "ct": "<base64 ciphertext + tag>"}

AES-256-GCM with a random 96-bit nonce per value; the associated data binds the ciphertext to
its instance and variable name, so an envelope copied to another instance or variable does not
decrypt. ``kid`` names the key that sealed it: a vault holds several keys (all decrypt) and one
active key (new writes use it), which is how keys rotate. Every transition seals the state
again, so instances that move are re-encrypted with the active key as they go.

This module is pure (no settings, no I/O) and sits in the lowest layer: the services seal what
they write and open what they run; where the keys come from is ``server.keys``'s business.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENVELOPE = "$enc"
FORMAT = "v1"
MASK = "***"  # what a reader without the right to see a sensitive value gets
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits: GCM's native nonce size
KID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class CryptoError(Exception):
    """Base of the vault's errors."""


class KeyConfigError(CryptoError, ValueError):
    """The key configuration (ENCRYPTION_KEYS or the key file) cannot be used."""


class KeyUnavailable(CryptoError):
    """No key to seal with (none configured), or the key an envelope names is not known."""


class DecryptionFailed(CryptoError):
    """An envelope does not decrypt: tampered with, malformed, or moved to another instance
    or variable than the one it was sealed for."""


def is_envelope(value: object) -> bool:
    return isinstance(value, dict) and value.get(ENVELOPE) is not None


def masked(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as readers without the right to see sensitive values get them: each sealed
    value is ``***`` (no key is needed to know which ones are sealed)."""
    return {k: MASK if is_envelope(v) else v for k, v in values.items()}


def _b64decode(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise DecryptionFailed(f"envelope field {what!r} is not a string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise DecryptionFailed(f"envelope field {what!r} is not base64") from error


class Vault:
    """Keys by key id: ``active`` seals, all of them open."""

    def __init__(self, keys: Mapping[str, bytes] | None = None, active: str | None = None) -> None:
        keys = dict(keys or {})
        for kid, key in keys.items():
            if not KID.match(kid):
                raise KeyConfigError(f"key id {kid!r}: use 1-32 of A-Z a-z 0-9 _ . -")
            if len(key) != KEY_BYTES:
                raise KeyConfigError(f"key {kid!r} has {len(key)} bytes; AES-256 needs 32")
        if active is None and keys:
            active = next(iter(keys))
        if active is not None and active not in keys:
            raise KeyConfigError(f"the active key {active!r} is not among the keys")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active = active

    @classmethod
    def parse(cls, spec: str) -> Vault:
        """``"kid1:base64key,kid2:base64key"``: the first key is the active one."""
        keys: dict[str, bytes] = {}
        for part in (p.strip() for p in spec.replace("\n", ",").split(",")):
            if not part:
                continue
            kid, sep, encoded = part.partition(":")
            if not sep:
                raise KeyConfigError("each key is written kid:base64key")
            if kid.strip() in keys:
                raise KeyConfigError(f"key id {kid.strip()!r} appears twice")
            try:
                keys[kid.strip()] = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError) as error:
                raise KeyConfigError(f"key {kid.strip()!r} is not base64") from error
        if not keys:
            raise KeyConfigError("no key given")
        return cls(keys)

    @staticmethod
    def new_key_spec(kid: str) -> str:
        """A fresh random key, written as ``parse`` reads it."""
        return f"{kid}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"

    @property
    def enabled(self) -> bool:
        """True when there is a key to seal with."""
        return self.active is not None

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    # --- one value ----------------------------------------------------------------------

    @staticmethod
    def _context(instance_id: int, name: str) -> bytes:
        # the id is digits, so the first ':' ends it: no two (id, name) pairs collide
        return f"{FORMAT}:{instance_id}:{name}".encode()

    def encrypt(self, value: Any, *, instance_id: int, name: str) -> dict[str, str]:
        if self.active is None:
            raise KeyUnavailable("no encryption key is configured (ENCRYPTION_KEYS)")
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        sealed = self._ciphers[self.active].encrypt(nonce, plain, self._context(instance_id, name))
        return {
            ENVELOPE: FORMAT,
            "kid": self.active,
            "n": base64.b64encode(nonce).decode(),
            "ct": base64.b64encode(sealed).decode(),
        }

    def decrypt(self, envelope: Mapping[str, Any], *, instance_id: int, name: str) -> Any:
        if envelope.get(ENVELOPE) != FORMAT:
            raise DecryptionFailed(f"unknown envelope format {envelope.get(ENVELOPE)!r}")
        kid = envelope.get("kid")
        cipher = self._ciphers.get(kid) if isinstance(kid, str) else None
        if cipher is None:
            raise KeyUnavailable(f"no key {kid!r} to decrypt {name!r} of instance {instance_id}")
        nonce, sealed = _b64decode(envelope.get("n"), "n"), _b64decode(envelope.get("ct"), "ct")
        if len(nonce) != NONCE_BYTES:
            raise DecryptionFailed("envelope nonce has the wrong size")
        try:
            plain = cipher.decrypt(nonce, sealed, self._context(instance_id, name))
        except InvalidTag as error:
            raise DecryptionFailed(
                f"{name!r} of instance {instance_id} does not decrypt (tampered, or sealed "
                "for another instance or variable)"
            ) from error
        return json.loads(plain)

    # --- a dict of variables ------------------------------------------------------------

    def seal(
        self, instance_id: int, values: Mapping[str, Any], names: Iterable[str]
    ) -> dict[str, Any]:
        """A copy of ``values`` with those of ``names`` sealed (None stays None: that a value
        is absent is not a secret, and the engine's history shows it alike)."""
        out = dict(values)
        for name in names:
            value = out.get(name)
            if value is not None and not is_envelope(value):
                out[name] = self.encrypt(value, instance_id=instance_id, name=name)
        return out

    def open(self, instance_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``values`` with every envelope decrypted (envelopes say what they are:
        no definition is needed to open them)."""
        return {
            k: self.decrypt(v, instance_id=instance_id, name=k) if is_envelope(v) else v
            for k, v in values.items()
        }

    # --- the engine's state JSON --------------------------------------------------------

    def seal_state(
        self, instance_id: int, state: Mapping[str, Any], names: frozenset[str]
    ) -> dict[str, Any]:
        """The state with sensitive values sealed where the engine keeps variables by name:
        the instance's variables, tokens' locals and a result held while in incident."""
        return _map_state(state, lambda values: self.seal(instance_id, values, names))

    def open_state(self, instance_id: int, state: Mapping[str, Any]) -> dict[str, Any]:
        return _map_state(state, lambda values: self.open(instance_id, values))


def _map_state(state: Mapping[str, Any], change: Any) -> dict[str, Any]:
    out = dict(state)
    if isinstance(out.get("variables"), dict):
        out["variables"] = change(out["variables"])
    tokens = out.get("tokens")
    if isinstance(tokens, list):
        copied = []
        for token in tokens:
            if isinstance(token, dict) and (token.get("locals") or token.get("pending")):
                token = dict(token)
                for field in ("locals", "pending"):
                    if isinstance(token.get(field), dict):
                        token[field] = change(token[field])
            copied.append(token)
        out["tokens"] = copied
    return out
