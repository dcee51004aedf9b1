"""The server's ``/.well-known/skyalert`` document: all a client needs besides a credential.

Fetched once and cached on disk with a time to live, so a restart does not need the HTTP side;
when the server cannot be reached an expired copy still serves (with a warning).
"""

from __future__ import annotations

__all__ = ["Discovery", "cached_json", "fetch_discovery", "normalise_server"]

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from skyalert.client import http
from skyalert.client.errors import ApiError, ConfigurationError, DiscoveryError, ServerUnreachable
from skyalert.client.paths import cache_dir, write_private

log = logging.getLogger(__name__)

WELL_KNOWN = "/.well-known/skyalert"
#: Seconds a cached discovery document is used without asking the server again.
DISCOVERY_TTL = 3600.0
SASL_PROTOCOLS = ("SASL_SSL", "SASL_PLAINTEXT")


@dataclass(frozen=True)
class Discovery:
    """What ``/.well-known/skyalert`` says about a server."""

    server: str
    token_endpoint: str
    bootstrap_servers: str
    security_protocol: str
    heartbeat_topic: str
    catalog_url: str
    api_url: str
    stream_url: str
    sasl_mechanism: str | None = None
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.upper() in SASL_PROTOCOLS

    @classmethod
    def from_document(cls, server: str, document: Any) -> Discovery:
        """Check the document's shape; a wrong one is a clear error, not a KeyError later."""
        where = f"{server}{WELL_KNOWN}"
        if not isinstance(document, Mapping):
            raise DiscoveryError(f"{where} is not a JSON object; is {server} a skyalert server?")
        kafka = document.get("kafka")
        if not isinstance(kafka, Mapping):
            raise DiscoveryError(f"{where} has no 'kafka' section; is {server} a skyalert server?")

        def text(source: Mapping[str, Any], key: str, label: str) -> str:
            value = source.get(key)
            if not isinstance(value, str) or not value:
                raise DiscoveryError(f"{where} lacks {label}; is {server} a skyalert server?")
            return value

        mechanism = kafka.get("sasl_mechanism")
        return cls(
            server=server,
            token_endpoint=text(document, "token_endpoint", "'token_endpoint'"),
            bootstrap_servers=text(kafka, "bootstrap_servers", "'kafka.bootstrap_servers'"),
            security_protocol=text(kafka, "security_protocol", "'kafka.security_protocol'"),
            heartbeat_topic=text(document, "heartbeat_topic", "'heartbeat_topic'"),
            catalog_url=text(document, "catalog_url", "'catalog_url'"),
            api_url=text(document, "api_url", "'api_url'"),
            stream_url=text(document, "stream_url", "'stream_url'"),
            sasl_mechanism=mechanism if isinstance(mechanism, str) else None,
            document=dict(document),
        )


def normalise_server(server: str | None) -> str:
    """``https://host[:port][/prefix]`` without a trailing slash; anything else is refused."""
    if not server:
        raise ConfigurationError(
            "no server given: pass server='https://…' (or set SKYALERT_CLIENT_SERVER, "
            "or run `skyalert-client login`)"
        )
    parts = urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"server {server!r} is not a URL; write it as https://{server.strip('/')}"
            if "://" not in server
            else f"server {server!r} must be an http:// or https:// URL"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def fetch_discovery(server: str, *, ttl: float = DISCOVERY_TTL, refresh: bool = False) -> Discovery:
    """The server's discovery document, from the disk cache when younger than ``ttl`` seconds."""
    base = normalise_server(server)
    document = cached_json(
        f"{base}{WELL_KNOWN}",
        ttl=ttl,
        refresh=refresh,
        check=lambda fetched: Discovery.from_document(base, fetched),
    )
    return Discovery.from_document(base, document)


def cached_json(
    url: str, *, ttl: float, refresh: bool = False, check: Callable[[Any], object] | None = None
) -> Any:
    """GET a JSON document through the disk cache; a stale copy stands in when offline."""
    path = _cache_file(url)
    stored = _load(path)
    age = time.time() - stored[0] if stored else None
    if stored and not refresh and age is not None and 0 <= age < ttl:
        return stored[1]
    try:
        document = http.get_json(url)
    except ApiError as failure:
        if failure.status == 404 and url.endswith(WELL_KNOWN):
            raise DiscoveryError(
                f"{url} does not exist: is {url.removesuffix(WELL_KNOWN)} a skyalert server?"
            ) from None
        raise
    except ServerUnreachable as failure:
        if stored is None:
            raise
        log.warning("%s; using the copy cached %.0f s ago", failure, age)
        return stored[1]
    if check is not None:
        check(document)
    try:
        payload = json.dumps({"fetched_at": time.time(), "url": url, "document": document})
        write_private(path, payload.encode(), mode=0o644)
    except OSError as failure:  # a read-only home must not stop the client
        log.warning("could not cache %s in %s: %s", url, path, failure)
    return document


def _cache_file(url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:24]
    return cache_dir() / "http" / f"{digest}.json"


def _load(path: Path) -> tuple[float, Any] | None:
    try:
        saved = json.loads(path.read_text("utf-8"))
        return float(saved["fetched_at"]), saved["document"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
