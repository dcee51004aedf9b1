"""The server's exception hierarchy. Each edge (CLI, HTTP, pages) turns these into messages.

Every error skyalert raises on purpose is a ``SkyalertError`` whose message is meant for a
person; ``http_status`` (and ``retry_after``, when known) tell the web edge how to answer::

    SkyalertError                      503  ours: the service cannot do it right now
    ├── ConfigError, DatabaseError, KafkaUnavailable, LocalBrokerError, MailError
    ├── core.running.StackAlreadyRunning
    ├── auth.kafka_acls.AclSyncError
    ├── auth.errors.AuthError          400  the caller's doing
    │   ├── InvalidToken, NotAuthenticated 401 · Forbidden 403 · NotFound 404
    │   └── Conflict 409 · InvalidInput 422 · RateLimited 429 (+ retry_after)
    ├── emails.errors.SubscriptionError 400
    │   ├── InvalidSubscription 422 · TopicNotAllowed 403 · SubscriptionNotFound 404
    │   └── BadLink 400 · SendFailed 502 · TooManyMails 429 (+ retry_after)
    ├── ingest.reasons.Rejected        by its machine-readable reason (400, 403, 413, 422, …)
    └── livefeed.protocol.StreamRequestError   400 (a WebSocket close with the message)
"""

from __future__ import annotations


class SkyalertError(Exception):
    """Base of every error skyalert raises on purpose; its message is meant for a person."""

    #: How the web edge answers; subclasses for the caller's mistakes override it.
    http_status: int = 503
    #: Seconds until trying again makes sense, when known (sent as ``Retry-After``).
    retry_after: int | None = None


class ConfigError(SkyalertError):
    """A setting is missing or invalid; the message names the environment variable."""


class KafkaUnavailable(SkyalertError):
    """Kafka did not answer at the configured bootstrap address."""


class LocalBrokerError(SkyalertError):
    """The local Apache Kafka (or tansu) broker could not be fetched or started."""


class DatabaseError(SkyalertError):
    """The database could not be reached or migrated."""


class MailError(SkyalertError):
    """A mail could not be handed to the SMTP server (or written to the outbox)."""


class SetupFetchError(SkyalertError):
    """Something fetched once at set-up (a schema package) could not be fetched or verified."""
