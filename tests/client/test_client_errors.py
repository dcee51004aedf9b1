"""librdkafka errors as the client reports them: which scope, which group, once each."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError

from skyalert.client import AuthenticationError, AuthorizationError
from skyalert.client.catalog import Catalog, TopicInfo
from skyalert.client.kafka_errors import FailureLatch, Reporter, failure_of, is_quiet_topic

CATALOG = Catalog(
    (
        TopicInfo("gcn.notices.swift.bat.guano", "GUANO", "application/json", "public", "gcn"),
        TopicInfo(
            "igwn.early_warning.gwalert",
            "EW",
            "application/json",
            "restricted",
            "igwn",
            consumer_group="restricted.lvk_early",
        ),
    )
)


def test_topic_refusals_name_the_scope() -> None:
    refused = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied")
    public = failure_of(refused, "gcn.notices.swift.bat.guano", CATALOG)
    assert isinstance(public, AuthorizationError)
    assert public.scope == "read:public"
    early = failure_of(refused, "igwn.early_warning.gwalert", CATALOG)
    assert isinstance(early, AuthorizationError)
    assert early.scope == "read:restricted.lvk_early"
    publish = failure_of(refused, "igwn.early_warning.gwalert", CATALOG, action="publish")
    assert isinstance(publish, AuthorizationError)
    assert publish.scope == "publish:igwn"
    inbox = failure_of(refused, "gcn.inbox", CATALOG, action="publish")
    assert isinstance(inbox, AuthorizationError)
    assert inbox.scope == "publish:gcn"
    watched = failure_of(
        refused, "gcn.notices.swift.bat.guano", CATALOG, heartbeat="gcn.notices.swift.bat.guano"
    )
    assert "stall_timeout=None" in str(watched)


def test_group_refusal_explains_the_naming_rule() -> None:
    refused = KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED, "denied")
    failure = failure_of(refused, None, CATALOG, group_id="mine")
    assert isinstance(failure, AuthorizationError)
    assert "'mine'" in str(failure)
    assert "start with its client id" in str(failure)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (KafkaError(KafkaError.SASL_AUTHENTICATION_FAILED, "bad token"), AuthenticationError),
        (
            KafkaError(
                KafkaError._AUTHENTICATION,
                'Failed to acquire SASL OAUTHBEARER token: {"error": "invalid_client"}',
            ),
            AuthenticationError,
        ),
        (KafkaError(KafkaError.CLUSTER_AUTHORIZATION_FAILED, "no"), AuthorizationError),
        (KafkaError(KafkaError._AUTHENTICATION, "Failed to connect to 127.0.0.1:1"), type(None)),
        (KafkaError(KafkaError._TRANSPORT, "broker down"), type(None)),
    ],
)
def test_credential_failures_and_passing_errors(error: KafkaError, kind: type) -> None:
    assert isinstance(failure_of(error, None, CATALOG), kind)


def test_quiet_topics() -> None:
    assert is_quiet_topic(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, "x"))
    assert not is_quiet_topic(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "x"))


def test_the_latch_raises_once_after_the_call() -> None:
    latch = FailureLatch()
    latch.raise_recorded()  # nothing recorded: nothing raised
    latch.record(AuthenticationError("first"))
    latch.record(AuthenticationError("second"))
    with pytest.raises(AuthenticationError, match="first"):
        latch.raise_recorded()
    latch.raise_recorded()


def test_repeated_errors_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    reporter = Reporter(logging.getLogger("skyalert.client.test"), quiet=60)
    with caplog.at_level(logging.DEBUG, logger="skyalert.client.test"):
        for _ in range(20):
            reporter.report(KafkaError(KafkaError._TRANSPORT, "Connect to 127.0.0.1:1 failed"))
        reporter.report(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["Kafka: Connect to 127.0.0.1:1 failed", "Kafka: 1/1 brokers are down"]
