"""Where the encryption keys come from: the composition roots call ``vault_from_settings``.

``ENCRYPTION_KEYS`` (``"kid1:base64key,kid2:base64key"``, the first one active) or
``ENCRYPTION_KEY_FILE`` (the same text in a file) configure them. Without either, the embedded
default (SQLite) generates a key file next to its database file and says so loudly: the key then
sits beside the data it protects, which is fine for a demo and nothing more. Production without
keys gets a vault without keys: deploying a definition with ``sensitive`` variables is refused
with a clear error (``encryption_not_configured``), everything else works.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from server.crypto import KeyConfigError, Vault
from server.settings import Settings

log = logging.getLogger(__name__)


def embedded_key_file(settings: Settings) -> Path:
    return settings.sqlite_path.with_name(settings.sqlite_path.name + ".keys")


def vault_from_settings(settings: Settings) -> Vault:
    if settings.encryption_keys is not None:
        return Vault.parse(settings.encryption_keys.get_secret_value())
    if settings.encryption_key_file is not None:
        return _read(settings.encryption_key_file)
    if not settings.embedded:
        log.warning("no ENCRYPTION_KEYS: definitions with sensitive variables cannot be deployed")
        return Vault()
    path = embedded_key_file(settings)
    if not path.exists():
        _create(path)
        log.warning(
            "GENERATED an encryption key for sensitive variables in %s, next to the "
            "database it protects: fine for a demo only. Set ENCRYPTION_KEYS in production "
            "and keep this file: without it the sensitive values stored so far are lost.",
            path,
        )
    else:
        log.warning("sensitive variables use the demo key file %s (embedded mode)", path)
    return _read(path)


def _read(path: Path) -> Vault:
    try:
        return Vault.parse(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise KeyConfigError(f"cannot read the key file {path}: {error}") from error


def _create(path: Path) -> None:
    """Write the key whole, then link it into place: a process starting at the same moment
    reads either no file or the complete one, and never overwrites a key another wrote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(Vault.new_key_spec("demo1") + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
