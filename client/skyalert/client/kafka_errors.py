"""librdkafka errors turned into skyalert-client exceptions that say what to do."""

from __future__ import annotations

__all__ = [
    "FailureLatch",
    "Reporter",
    "failure_of",
    "is_quiet_topic",
    "refused_config",
]

import logging
import time
from typing import Literal

from confluent_kafka import KafkaError, KafkaException

from skyalert.client.catalog import Catalog
from skyalert.client.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    SkyalertClientError,
)

Action = Literal["read", "publish"]

_QUIET = frozenset(
    {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_ID}
)


def refused_config(exc: KafkaException) -> ConfigurationError:
    """librdkafka refused the options it was started with (a misspelt name, a bad value)."""
    error = exc.args[0] if exc.args else exc
    reason = error.str() if isinstance(error, KafkaError) else str(error)
    return ConfigurationError(
        f"librdkafka refused the Kafka options: {reason}. Options (-X, SKYALERT_CLIENT_KAFKA_* "
        "variables, keyword arguments) are librdkafka properties: check the spelling in "
        "https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md"
    )


class FailureLatch:
    """Callbacks record a failure; the caller raises it once librdkafka's call has returned.

    An exception raised inside a confluent-kafka callback breaks the callbacks served after it
    in the same call, so nothing is raised from inside one.
    """

    def __init__(self) -> None:
        self._failure: SkyalertClientError | None = None

    def record(self, failure: SkyalertClientError) -> None:
        if self._failure is None:
            self._failure = failure

    def raise_recorded(self) -> None:
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure


class Reporter:
    """Logs passing Kafka errors (broker down, connection refused…) without flooding: the same
    message again is logged at debug level for ``quiet`` seconds."""

    def __init__(self, log: logging.Logger, quiet: float = 30.0) -> None:
        self._log = log
        self._quiet = quiet
        self._last: tuple[str, float] = ("", 0.0)

    def report(self, error: KafkaError) -> None:
        text, now = error.str(), time.monotonic()
        said, when = self._last
        if text == said and now - when < self._quiet:
            self._log.debug("Kafka: %s", text)
            return
        self._last = (text, now)
        self._log.warning("Kafka: %s", text)


def is_quiet_topic(error: KafkaError) -> bool:
    """A catalog topic Kafka does not know yet: nothing was published there. Not an error."""
    return error.code() in _QUIET


def failure_of(
    error: KafkaError,
    topic: str | None,
    catalog: Catalog | None,
    *,
    group_id: str | None = None,
    heartbeat: str | None = None,
    action: Action = "read",
) -> SkyalertClientError | None:
    """The exception for a credential problem, or None when the error is something else."""
    code = error.code()
    if code == KafkaError.TOPIC_AUTHORIZATION_FAILED:
        return _topic_refused(error, topic, catalog, heartbeat, action)
    if code == KafkaError.GROUP_AUTHORIZATION_FAILED:
        return AuthorizationError(
            f"Kafka refused consumer group {group_id!r}: a credential may only use groups whose "
            "names start with its client id (the default group id is the client id itself)"
        )
    if code == KafkaError.CLUSTER_AUTHORIZATION_FAILED:
        return _cluster_refused(error, action)
    if code in (KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._AUTHENTICATION):
        return _authentication_refused(error)
    return None


def _cluster_refused(error: KafkaError, action: Action) -> AuthorizationError:
    if action == "publish":
        return AuthorizationError(
            "Kafka refused to let this credential write anywhere: producing needs a "
            f"publish:<namespace> scope ({error.str()})"
        )
    return AuthorizationError(f"Kafka refused the request: {error.str()}")


def _authentication_refused(error: KafkaError) -> AuthenticationError | None:
    if error.code() == KafkaError.SASL_AUTHENTICATION_FAILED:
        return AuthenticationError(
            f"Kafka refused the access token ({error.str()}); if the credential was just "
            "deleted or its scopes changed, create a new one"
        )
    if '"error"' in error.str():
        # librdkafka got an OAuth error document back: the credential itself was refused.
        return AuthenticationError(
            f"the server refused the credential ({error.str()}): it was deleted or mistyped; "
            "create one on the portal and pass its client id and secret"
        )
    return None  # the token endpoint could not be reached: librdkafka tries again


def _topic_refused(
    error: KafkaError,
    topic: str | None,
    catalog: Catalog | None,
    heartbeat: str | None,
    action: Action,
) -> AuthorizationError:
    info = catalog.get(topic) if catalog is not None and topic else None
    if info is None and topic and action == "publish":  # an inbox: <namespace>.inbox
        scope = f"publish:{topic.split('.', 1)[0]}"
        text = f"your credential may not publish to {topic}: it needs the scope {scope!r}."
        return AuthorizationError(text, scope=scope, topic=topic)
    if info is None:
        return AuthorizationError(f"Kafka refused a topic: {error.str()}", topic=topic)
    scope = info.publish_scope if action == "publish" else info.read_scope
    verb = "publish to" if action == "publish" else "read"
    text = f"your credential may not {verb} {topic}: it needs the scope {scope!r}."
    if topic == heartbeat:
        text += (
            " The client reads this heartbeat topic to notice stalls; pass stall_timeout=None "
            "to do without."
        )
    elif scope.startswith("read:") and scope != "read:public":
        text += f" Ask the operators for membership of {info.consumer_group!r}, then create"
        text += f" a credential with {scope!r}."
    else:
        text += f" Create a credential that holds {scope!r}."
    return AuthorizationError(text, scope=scope, topic=topic)
