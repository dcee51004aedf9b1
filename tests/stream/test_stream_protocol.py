"""The subscribe protocol on its own: topics, wildcards, since, format, test, filters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from skyalert.broker.livefeed.protocol import (
    MAX_LAST,
    StreamRequestError,
    auth_token,
    parse_message,
    parse_since,
    parse_subscribe,
    resolve_topics,
)
from skyalert.schemas.catalog import Topic, Visibility, load_catalog

CATALOG = load_catalog()


def public_only(topic: Topic) -> bool:
    return topic.visibility is Visibility.PUBLIC


def refused(call: Callable[..., object], *args: object) -> str:
    with pytest.raises(StreamRequestError) as caught:
        call(*args)
    return str(caught.value)


def test_defaults() -> None:
    subscription = parse_subscribe(
        {"type": "subscribe", "topics": ["igwn.gwalert"]}, CATALOG, public_only
    )
    assert subscription.describe() == {
        "type": "subscribed",
        "topics": ["igwn.gwalert"],
        "filter": None,
        "format": "json",
        "test": False,
        "since": "now",
    }
    assert subscription.wants({}, test=False)
    assert not subscription.wants({}, test=True)


def test_wildcards_cover_readable_alert_topics_once() -> None:
    topics = resolve_topics(
        ["gcn.classic.voevent.*", "gcn.classic.voevent.LVC_*"], CATALOG, public_only
    )
    assert "gcn.classic.voevent.LVC_PRELIMINARY" in topics
    assert "gcn.classic.voevent.LVC_EARLY_WARNING" not in topics  # restricted
    assert len(topics) == len(set(topics))
    assert all(name.startswith("gcn.classic.voevent.") for name in topics)
    assert "skyalert.heartbeat" not in resolve_topics(["*"], CATALOG, lambda topic: True)


def test_topic_mistakes() -> None:
    assert "did you mean igwn.gwalert" in refused(
        resolve_topics, ["igwn.gwalrt"], CATALOG, public_only
    )
    assert "did you mean igwn.gwalert" in refused(
        resolve_topics, ["IGWN.GWALERT"], CATALOG, public_only
    )
    assert "did you mean gcn.classic.text.FERMI_GBM_FLT_POS" in refused(
        resolve_topics, ["gcn.classic.text.fermi_gbm_flt_pos"], CATALOG, public_only
    )
    assert "not a topic name" in refused(resolve_topics, ["igwn gwalert"], CATALOG, public_only)
    assert "not a topic name" in refused(resolve_topics, [3], CATALOG, public_only)
    assert "none you may read" in refused(resolve_topics, ["igwn.early_*"], CATALOG, public_only)
    assert "more than" in refused(resolve_topics, ["igwn.gwalert"] * 101, CATALOG, public_only)
    assert resolve_topics("igwn.gwalert", CATALOG, public_only) == ("igwn.gwalert",)


def test_since_forms() -> None:
    assert parse_since("now").kind == "now"
    assert parse_since({"last": 5}).last == 5
    assert parse_since({"time": "2026-01-02T03:04:05"}).time == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    cursor = "01JD0000000000000000000000"
    assert parse_since({"cursor": cursor}).to_json() == {"cursor": cursor}
    assert parse_since({"time": "2026-01-02T03:04:05+01:00"}).to_json() == {
        "time": "2026-01-02T02:04:05Z"
    }
    for bad in (
        {"last": MAX_LAST + 1},
        {"last": True},
        {"time": "yesterday"},
        {"cursor": "01jd"},
        {"first": 1},
        {"last": 1, "time": "x"},
        "later",
        5,
    ):
        assert '"since"' in refused(parse_since, bad)


def test_format_test_and_filter_mistakes() -> None:
    base = {"type": "subscribe", "topics": ["igwn.gwalert"]}
    assert '"format"' in refused(parse_subscribe, {**base, "format": "XML"}, CATALOG, public_only)
    assert '"test"' in refused(parse_subscribe, {**base, "test": "yes"}, CATALOG, public_only)
    message = refused(
        parse_subscribe,
        {**base, "filter": {"cone": {"ra": 1, "dec": 95, "radius": 1}}},
        CATALOG,
        public_only,
    )
    assert message.startswith("invalid filter at /cone/dec")


def test_messages_and_auth() -> None:
    assert "not valid JSON" in refused(parse_message, "{")
    assert "text frames" in refused(parse_message, None)
    assert "longer than" in refused(parse_message, " " * (256 * 1024 + 1))
    assert "authenticate first" in refused(auth_token, {"type": "subscribe"})
    assert '"token"' in refused(auth_token, {"type": "auth", "token": " "})
    assert auth_token({"type": "auth", "token": " abc "}) == "abc"
