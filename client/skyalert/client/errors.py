"""Every error skyalert-client raises on purpose derives from :class:`SkyalertClientError`.

Messages are meant for a person: they say what happened and what to do next.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "AuthenticationError",
    "AuthorizationError",
    "ConfigurationError",
    "DiscoveryError",
    "FilterError",
    "KafkaClientError",
    "ServerUnreachable",
    "SkyalertClientError",
    "StallError",
    "UnknownTopicError",
]

from collections.abc import Mapping, Sequence
from typing import Any


class SkyalertClientError(Exception):
    """Base of every error skyalert-client raises on purpose."""


class ConfigurationError(SkyalertClientError):
    """Something the client needs is missing or invalid (server URL, credentials, an option)."""


class ServerUnreachable(SkyalertClientError):
    """The server's HTTP side could not be reached, or did not answer with JSON."""


class DiscoveryError(SkyalertClientError):
    """The server answered, but not with a usable skyalert discovery document."""


class ApiError(SkyalertClientError):
    """The server's HTTP API refused a request; ``problem`` is its RFC 9457 problem document."""

    def __init__(self, message: str, status: int, problem: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problem: Mapping[str, Any] = problem or {}


class AuthenticationError(SkyalertClientError):
    """The server refused the client id and secret, or a token could not be obtained."""


class AuthorizationError(SkyalertClientError):
    """The credential lacks a scope; ``scope`` names the one that is missing (when known)."""

    def __init__(self, message: str, scope: str | None = None, topic: str | None = None) -> None:
        super().__init__(message)
        self.scope = scope
        self.topic = topic


class UnknownTopicError(SkyalertClientError):
    """A topic name is not in the server's catalog; ``suggestions`` are the closest names."""

    def __init__(self, message: str, topic: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.topic = topic
        self.suggestions = tuple(suggestions)


class StallError(SkyalertClientError):
    """Nothing arrived from Kafka, not even the server's heartbeat, for too long."""


class KafkaClientError(SkyalertClientError):
    """Kafka reported an error the client cannot recover from; ``code`` is librdkafka's name."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class FilterError(SkyalertClientError, ValueError):
    """A filter is malformed; ``path`` is a JSON pointer to the mistake ("" is the whole filter)."""

    def __init__(self, path: str, reason: str) -> None:
        where = f"at {path}" if path else "at the top"
        super().__init__(f"invalid filter {where}: {reason}")
        self.path = path
        self.reason = reason
