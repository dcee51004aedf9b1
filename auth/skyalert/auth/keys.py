"""Token signing keys: kept in the database, rotated by ``skyalert keys rotate``.

The private half is stored encrypted with the server secret. A retired key stays in the JWKS
until every token it signed has expired. The public JWKS is also written to a file in the var
folder, which a local Apache Kafka reads through a ``file:`` URL (it reloads it on change).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, Key, RSAKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.models import SigningKey
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.secrets import server_secret
from skyalert.broker.core.settings import Settings

log = logging.getLogger(__name__)

#: How long a process trusts its cached view of the keys table (rotation shows up this fast).
CACHE_SECONDS = 5.0
#: Kid lookups that miss may reload the table at most this often (forged kids cost nothing).
MISS_RELOAD_SECONDS = 1.0
#: Extra time a retired key stays published, for clock differences.
GRACE = timedelta(minutes=5)
#: A new key is published this long before it signs, so every replica (and Kafka) knows it
#: before the first token it signed arrives.
PUBLISH_AHEAD = timedelta(seconds=2 * CACHE_SECONDS)


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    alg: str
    private: Key
    public_jwk: dict[str, Any]
    created_at: datetime
    retired_at: datetime | None


def jwks_path(settings: Settings) -> Path:
    """Where the public JWKS is written for a local Kafka's ``file:`` JWKS URL."""
    return settings.var_dir.resolve() / "oauth" / "jwks.json"


def write_jwks_file(path: Path, jwks: dict[str, Any]) -> None:
    """Replace the file atomically so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(jwks, indent=1, sort_keys=True)
    if path.exists() and path.read_text("utf-8") == text:
        return
    staging = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    staging.write_text(text, "utf-8")
    staging.replace(path)


def prepare_jwks_file(settings: Settings) -> Path:
    """Make sure the file exists (Kafka checks it at start, before our app has made keys)."""
    path = jwks_path(settings)
    if not path.exists():
        write_jwks_file(path, {"keys": []})
    return path


def _generate(alg: str) -> RSAKey | ECKey:
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    return RSAKey.generate_key(2048)


def create_key(session: Session, settings: Settings) -> SigningKey:
    """Add a new key; it signs from now on and the ones before it retire."""
    alg = settings.token_signing_alg
    key = _generate(alg)
    kid = key.thumbprint()[:22]
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    password = server_secret(settings).decode()
    now = utcnow()
    session.execute(
        update(SigningKey).where(SigningKey.retired_at.is_(None)).values(retired_at=now)
    )
    row = SigningKey(
        kid=kid,
        alg=alg,
        private_pem=key.as_pem(private=True, password=password).decode(),
        public_jwk=json.dumps(public, sort_keys=True),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def ensure_key(session: Session, settings: Settings) -> None:
    """Create the first key if there is none in use."""
    active = session.scalar(select(SigningKey.id).where(SigningKey.retired_at.is_(None)))
    if active is None:
        create_key(session, settings)


def prune_keys(session: Session, settings: Settings) -> int:
    """Delete retired keys whose tokens have all expired; returns how many."""
    cutoff = utcnow() - timedelta(seconds=settings.token_lifetime) - GRACE
    old = session.scalars(
        select(SigningKey).where(SigningKey.retired_at.is_not(None), SigningKey.retired_at < cutoff)
    ).all()
    for row in old:
        session.delete(row)
    return len(old)


class KeyRing:
    """A process's cached view of the signing keys: the one to sign with, the ones to trust."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._lock = threading.Lock()
        self._keys: dict[str, LoadedKey] = {}
        self._loaded_at = -1e9
        self._missed_at = -1e9
        self._file_warned = False

    def _load(self) -> None:
        with self._sessions.begin() as session:
            ensure_key(session, self._settings)
            rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at)).all()
            password = server_secret(self._settings).decode()
            keys: dict[str, LoadedKey] = {}
            for row in rows:
                known = self._keys.get(row.kid)
                private = (
                    known.private
                    if known is not None
                    else _import_private(row.alg, row.private_pem, password)
                )
                keys[row.kid] = LoadedKey(
                    row.kid,
                    row.alg,
                    private,
                    json.loads(row.public_jwk),
                    row.created_at,
                    row.retired_at,
                )
        self._keys = keys
        self._loaded_at = time.monotonic()
        try:
            write_jwks_file(jwks_path(self._settings), self._jwks_of(keys))
        except OSError as exc:  # a read-only var folder: only a local Kafka needs the file
            if not self._file_warned:
                log.warning(
                    "could not write %s (only a local Kafka reads it): %s",
                    jwks_path(self._settings),
                    exc,
                )
                self._file_warned = True

    def _fresh(self) -> dict[str, LoadedKey]:
        with self._lock:
            if time.monotonic() - self._loaded_at > CACHE_SECONDS:
                self._load()
            return self._keys

    def reload(self) -> None:
        with self._lock:
            self._load()

    def signing_key(self) -> LoadedKey:
        """The newest key published long enough (else the oldest: the very first key signs
        at once)."""
        keys = sorted(self._fresh().values(), key=lambda k: k.created_at, reverse=True)
        ready = utcnow() - PUBLISH_AHEAD
        return next((k for k in keys if k.created_at <= ready), keys[-1])

    def verification_key(self, kid: str) -> LoadedKey | None:
        """The key named ``kid`` if it is still published; reloads once for a new kid."""
        keys = self._fresh()
        if kid not in keys:
            with self._lock:
                if time.monotonic() - self._missed_at > MISS_RELOAD_SECONDS:
                    self._missed_at = time.monotonic()
                    self._load()
                keys = self._keys
        found = keys.get(kid)
        if found is None or not self._published(found):
            return None
        return found

    def _published(self, key: LoadedKey) -> bool:
        if key.retired_at is None:
            return True
        lifetime = timedelta(seconds=self._settings.token_lifetime)
        return key.retired_at + lifetime + GRACE > utcnow()

    def _jwks_of(self, keys: dict[str, LoadedKey]) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in keys.values() if self._published(k)]}

    def jwks(self) -> dict[str, Any]:
        return self._jwks_of(self._fresh())


def _import_private(alg: str, pem: str, password: str) -> Key:
    if alg == "ES256":
        return ECKey.import_key(pem, password=password)
    return RSAKey.import_key(pem, password=password)
