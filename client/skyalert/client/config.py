"""librdkafka configuration from a server's discovery document, a credential and your options.

The spirit of gcn-kafka: fill in what people forget, leave every librdkafka option open. What you
pass (``config`` then keyword arguments, ``linger_ms=5`` meaning ``linger.ms``) wins over every
default.
"""

from __future__ import annotations

__all__ = [
    "ENV_PREFIX",
    "Resolved",
    "config_from_env",
    "default_group_id",
    "dotted",
    "kafka_config",
    "resolve",
    "split_own",
]

import getpass
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from skyalert.client.discovery import Discovery, fetch_discovery
from skyalert.client.errors import ConfigurationError
from skyalert.client.version import __version__

Kind = Literal["consumer", "producer"]

ENV_PREFIX = "SKYALERT_CLIENT_"
#: Keys of ``config`` (and ``config_from_env()``) that are ours, not librdkafka's.
OWN_KEYS = ("client_id", "client_secret", "server")
#: Options whose real names have underscores: confluent-kafka's Python ones and log_level.
UNDERSCORED = frozenset(
    {
        "error_cb",
        "throttle_cb",
        "stats_cb",
        "oauth_cb",
        "on_delivery",
        "on_commit",
        "logger",
        "log_level",
    }
)
_ENV_SEPARATORS = re.compile(r"_+")
_ENV_REPLACEMENTS = {"_": ".", "__": "-", "___": "_"}


def dotted(options: Mapping[str, Any]) -> dict[str, Any]:
    """``linger_ms=5`` as a Python spelling of ``linger.ms``."""
    return {
        key if key in UNDERSCORED else key.replace("_", "."): value
        for key, value in options.items()
    }


def split_own(config: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate our keys (client_id, client_secret, server) from librdkafka's."""
    own: dict[str, Any] = {}
    kafka: dict[str, Any] = {}
    for key, value in (config or {}).items():
        (own if key in OWN_KEYS else kafka)[key] = value
    return own, kafka


def default_group_id(client_id: str | None, program: str | None = None) -> str:
    """Stable, so a restart resumes where it stopped; the server only allows groups that
    start with the credential's client id. ``program`` ("cli", a quickstart snippet's name)
    gives each program its own group, so each gets every alert."""
    base = client_id or f"skyalert-client.{_user()}"
    return f"{base}.{program}" if program else base


def _user() -> str:
    try:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", getpass.getuser()) or "user"
    except (OSError, KeyError):  # no login name in some containers
        return "user"


@dataclass(frozen=True)
class Resolved:
    """A client's credential, server description and full librdkafka configuration."""

    client_id: str | None
    client_secret: str | None
    discovery: Discovery
    config: dict[str, Any]


def resolve(
    kind: Kind,
    *,
    client_id: str | None,
    client_secret: str | None,
    server: str | None,
    config: Mapping[str, Any] | None,
    discovery: Discovery | None,
    kwargs: Mapping[str, Any],
    error_cb: Callable[[Any], None],
) -> Resolved:
    """What Consumer and Producer share: arguments beat ``config``'s own keys, discovery is
    fetched unless given, keyword options are dotted, and ``error_cb`` is ours unless set."""
    own, options = split_own(config)
    client_id = client_id or own.get("client_id")
    client_secret = client_secret or own.get("client_secret")
    server = server or own.get("server")
    found = discovery if discovery is not None else fetch_discovery(server or "")
    options |= dotted(kwargs)
    options.setdefault("error_cb", error_cb)
    full = kafka_config(kind, found, client_id, client_secret, options)
    return Resolved(client_id, client_secret, found, full)


def kafka_config(
    kind: Kind,
    discovery: Discovery,
    client_id: str | None,
    client_secret: str | None,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """The full librdkafka configuration; ``options`` (already dotted) win over defaults."""
    config: dict[str, Any] = {
        "bootstrap.servers": discovery.bootstrap_servers,
        "security.protocol": discovery.security_protocol,
        "client.id": f"skyalert-client/{__version__}",
        "logger": logging.getLogger("skyalert.client.librdkafka"),
        # Errors reach error_cb (summarised there); librdkafka's own log only when critical.
        "log_level": 2,
    }
    protocol = str(options.get("security.protocol", discovery.security_protocol)).upper()
    client_id = client_id or options.get("sasl.oauthbearer.client.id")
    if protocol.startswith("SASL") and "oauth_cb" not in options:
        config |= _oidc(discovery, client_id, client_secret, options)
    if kind == "consumer":
        config |= {
            "group.id": default_group_id(client_id),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    else:
        config |= {"compression.type": "zstd", "enable.idempotence": True}
    config |= options
    if kind == "consumer" and protocol.startswith("SASL"):
        _check_group(str(config["group.id"]), client_id)
    return config


def _oidc(
    discovery: Discovery,
    client_id: str | None,
    client_secret: str | None,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """OAUTHBEARER through librdkafka's own OIDC client: it fetches and renews the tokens."""
    secret = client_secret or options.get("sasl.oauthbearer.client.secret")
    if not client_id or not secret:
        raise ConfigurationError(
            f"{discovery.server} needs a credential: pass client_id and client_secret "
            "(create them on the portal), or set SKYALERT_CLIENT_ID and "
            "SKYALERT_CLIENT_SECRET, or run `skyalert-client login`"
        )
    return {
        "sasl.mechanisms": discovery.sasl_mechanism or "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": client_id,
        "sasl.oauthbearer.client.secret": secret,
        "sasl.oauthbearer.token.endpoint.url": discovery.token_endpoint,
    }


def _check_group(group_id: str, client_id: str | None) -> None:
    if client_id and not group_id.startswith(client_id):
        raise ConfigurationError(
            f"group id {group_id!r} must start with your client id {client_id!r}: the server "
            "lets each credential use only its own consumer groups; "
            f"use for example group_id={client_id + '.' + group_id!r}"
        )


def config_from_env(
    env: Mapping[str, str] | None = None, prefix: str = ENV_PREFIX
) -> dict[str, Any]:
    """A ``config`` for :class:`Consumer` / :class:`Producer` from environment variables.

    ``SKYALERT_CLIENT_SERVER``, ``SKYALERT_CLIENT_ID`` and ``SKYALERT_CLIENT_SECRET`` give the
    server and credential; ``SKYALERT_CLIENT_KAFKA_<OPTION>`` sets any librdkafka option, named as
    Confluent's images do: ``.`` is ``_``, ``-`` is ``__``, ``_`` is ``___`` (so
    ``SKYALERT_CLIENT_KAFKA_GROUP_ID`` is ``group.id``).
    """
    source = os.environ if env is None else env
    own = {
        f"{prefix}SERVER": "server",
        f"{prefix}ID": "client_id",
        f"{prefix}SECRET": "client_secret",
    }
    kafka_prefix = f"{prefix}KAFKA_"
    config: dict[str, Any] = {}
    for key, value in source.items():
        if key in own:
            config[own[key]] = value
        elif key.startswith(kafka_prefix) and len(key) > len(kafka_prefix):
            name = _ENV_SEPARATORS.sub(
                lambda match: _ENV_REPLACEMENTS.get(match[0], match[0]),
                key.removeprefix(kafka_prefix),
            )
            config[name.lower()] = value
    return config
