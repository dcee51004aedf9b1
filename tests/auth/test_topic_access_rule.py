"""One read rule and one publish rule: tokens, Kafka ACLs, mail and the archive agree on it."""

from __future__ import annotations

import pytest

from skyalert.auth.kafka_acls import credential_bindings
from skyalert.auth.principal import Principal, may_view
from skyalert.auth.scopes import (
    ADMIN,
    READ_PUBLIC,
    may_publish,
    may_read,
    publish_scope,
    topic_read_scope,
)
from skyalert.client import TopicInfo
from skyalert.schemas.catalog import Topic, Visibility, load_catalog
from skyalert.schemas.formats import format_of

CATALOG = load_catalog()
RESTRICTED = [t for t in CATALOG.topics if t.visibility is Visibility.RESTRICTED]
PUBLIC = [t for t in CATALOG.topics if t.visibility is Visibility.PUBLIC]


def _principal(*scopes: str) -> Principal:
    return Principal("s", 1, "a@example.org", "c", frozenset(scopes), None, None)


def test_the_catalog_has_both_kinds_of_topic() -> None:
    assert RESTRICTED
    assert PUBLIC


@pytest.mark.parametrize("topic", CATALOG.topics, ids=lambda t: t.name)
def test_a_topic_is_read_with_its_own_scope_or_admin(topic: Topic) -> None:
    assert may_read({topic_read_scope(topic)}, topic)
    assert may_read({ADMIN}, topic)
    assert not may_read(set(), topic)
    assert may_publish({f"publish:{topic.namespace}"}, topic)
    assert not may_publish({ADMIN, topic_read_scope(topic)}, topic)


@pytest.mark.parametrize("topic", RESTRICTED, ids=lambda t: t.name)
def test_read_public_does_not_open_a_restricted_topic(topic: Topic) -> None:
    assert not may_read({READ_PUBLIC}, topic)
    assert not may_view(None, topic)
    assert not may_view(_principal(READ_PUBLIC), topic)
    assert may_view(_principal(topic_read_scope(topic)), topic)


@pytest.mark.parametrize("topic", PUBLIC, ids=lambda t: t.name)
def test_public_topics_are_open_data_in_the_archive_but_tokens_keep_their_scopes(
    topic: Topic,
) -> None:
    assert may_view(None, topic)
    assert may_view(_principal("publish:gcn"), topic)
    assert not _principal("publish:gcn").may_read(topic)  # a token reads what it was given
    assert _principal(READ_PUBLIC).may_read(topic)


def test_kafka_acls_follow_the_same_rule() -> None:
    group = RESTRICTED[0].consumer_group
    assert group is not None
    bindings = credential_bindings("c1", {f"read:{group}"}, CATALOG)
    named = {b.name for b in bindings}
    assert {t.name for t in RESTRICTED if may_read({f"read:{group}"}, t)} <= named
    assert not {t.name for t in RESTRICTED if not may_read({f"read:{group}"}, t)} & named


@pytest.mark.parametrize("topic", CATALOG.topics, ids=lambda t: t.name)
def test_the_clients_copy_of_the_rule_agrees(topic: Topic) -> None:
    """The client cannot import the server; its scope names must still be the server's."""
    entry = {**topic.model_dump(mode="json"), "namespace": topic.namespace}
    info = TopicInfo.from_json(entry)
    assert info.read_scope == topic_read_scope(topic)
    assert info.publish_scope == publish_scope(topic.namespace)
    assert info.format == format_of(topic.content_type).name
