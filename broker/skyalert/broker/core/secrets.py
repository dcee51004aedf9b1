"""Random secrets, the server's own secrets, keyed hashes and password hashes.

Client secrets, session ids and mail-link tokens are random and high-entropy, so a fast keyed
hash (HMAC-SHA256 with the server secret) is enough and keeps the token endpoint fast; a
database dump alone cannot check a guess. Passwords are chosen by people and get argon2.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from skyalert.broker.core.errors import ConfigError
from skyalert.broker.core.settings import Settings

_passwords = PasswordHasher()
#: In the var folder: the password of the local stack's Kafka service principal.
KAFKA_SERVICES_FILE = "kafka-services.secret"


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random string with ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def random_client_id() -> str:
    """26 lowercase letters and digits: safe in Kafka principals, group ids and HTTP Basic."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def server_secret(settings: Settings) -> bytes:
    """``SKYALERT_SECRET_KEY``, or a secret generated once into the var folder."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    return _stored_secret(settings.var_dir.resolve() / "secret.key")


def kafka_services_password(settings: Settings) -> str:
    """Our services' Kafka password: ``SKYALERT_KAFKA_PASSWORD``, or one generated once into
    the var folder, which the local broker and every service of the stack read."""
    if settings.kafka_password is not None:
        return settings.kafka_password.get_secret_value()
    return _stored_secret(settings.var_dir.resolve() / KAFKA_SERVICES_FILE).decode()


@lru_cache(maxsize=8)
def _stored_secret(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when processes start together exactly one writes, the others read.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(random_token(48))
    value = path.read_text("utf-8").strip()
    if not value:
        raise ConfigError(f"{path} is empty: delete it to generate a new secret")
    return value.encode()


def keyed_hash(secret: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` as hex: what we store instead of a random secret."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def hash_password(password: str) -> str:
    return _passwords.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _passwords.hash(random_token(16))


def check_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash (an unknown address, an upstream-only
    account) never matches, after the same work as a real check so timing reveals nothing."""
    if not password_hash:
        with contextlib.suppress(VerificationError):
            _passwords.verify(_dummy_hash(), password)
        return False
    try:
        return _passwords.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _passwords.check_needs_rehash(password_hash)
