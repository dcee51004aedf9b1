"""GCN Classic notices published over HTTP and the Kafka inbox: VOEvent, text and binary."""

from __future__ import annotations

import uuid

import httpx
import pytest

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.inboxes import inbox_name
from skyalert.schemas.catalog import Catalog
from support.auth import token_for
from support.classic import (
    PACKET_TIME,
    TEXT_DEC,
    TEXT_ERROR,
    TEXT_RA,
    TEXT_TIME,
    bat_packet,
    text_notice,
)
from support.ingest import (
    BAT_DEC,
    BAT_ERROR,
    BAT_RA,
    BAT_TIME,
    find_messages,
    has_header,
    header,
    isolated_catalog,
    running_worker,
    send,
    sync_catalog,
    topic_ending,
    unique_bat,
)

pytestmark = pytest.mark.usefixtures("catalog_topics")
TYPE = "SWIFT_BAT_GRB_POS_ACK"
TEXT, BINARY = "text/plain", "application/octet-stream"


@pytest.fixture(scope="module")
def gcn_token(settings: Settings, app_url: str) -> str:
    return token_for(settings, app_url, groups=["producers.gcn"])


def post(app_url: str, token: str, topic: str, body: bytes, content_type: str) -> httpx.Response:
    return httpx.post(
        f"{app_url}/api/v1/topics/{topic}/alerts",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        timeout=60,
    )


def serial() -> int:
    return uuid.uuid4().int % 2**31


@pytest.mark.parametrize(
    ("flavor", "content_type", "raw", "position", "time"),
    [
        (
            "voevent",
            "application/x-voevent+xml",
            unique_bat,
            (BAT_RA, BAT_DEC, BAT_ERROR),
            BAT_TIME,
        ),
        (
            "text",
            TEXT,
            lambda: text_notice(serial()),
            (TEXT_RA, TEXT_DEC, pytest.approx(TEXT_ERROR)),
            TEXT_TIME,
        ),
        (
            "binary",
            BINARY,
            lambda: bat_packet(serial=serial()),
            (336.6645, 8.5135, 0.05),
            PACKET_TIME,
        ),
    ],
)
def test_each_flavor_arrives_on_its_topic_and_in_the_archive(
    app_url: str,
    settings: Settings,
    gcn_token: str,
    flavor: str,
    content_type: str,
    raw: object,
    position: tuple[object, object, object],
    time: str,
) -> None:
    assert callable(raw)
    body: bytes = raw()
    topic = f"gcn.classic.{flavor}.{TYPE}"
    response = post(app_url, gcn_token, topic, body, content_type)
    assert response.status_code == 201, response.text
    alert_id = response.json()["id"]

    (message,) = find_messages(settings, topic, has_header("alert-id", alert_id.encode()))
    assert message.value() == body
    assert header(message, "content-type") == content_type.encode()

    summary = httpx.get(f"{app_url}/api/v1/alerts/{alert_id}", timeout=10).json()
    assert (summary["ra"], summary["dec"], summary["ra_dec_error"]) == position
    assert summary["event_time"].replace("+00:00", "Z").startswith(time[:19])
    assert summary["content_type"] == content_type
    assert summary["alert"]["event_time"] == time

    # The original, byte for byte, in its own media type; another format's is refused.
    original = httpx.get(
        f"{app_url}/api/v1/alerts/{alert_id}", headers={"Accept": content_type}, timeout=10
    )
    assert original.status_code == 200
    assert original.headers["content-type"].startswith(content_type)
    assert original.content == body
    other = TEXT if flavor != "text" else BINARY
    refused = httpx.get(
        f"{app_url}/api/v1/alerts/{alert_id}", headers={"Accept": other}, timeout=10
    )
    assert refused.status_code == 406
    assert content_type in refused.json()["detail"]


@pytest.mark.parametrize(
    ("topic", "content_type", "body", "status", "reason", "says"),
    [
        (
            f"gcn.classic.binary.{TYPE}",
            BINARY,
            bat_packet(110),
            422,
            "wrong_packet_type",
            "gcn.classic.binary.FERMI_GBM_ALERT",
        ),
        (
            f"gcn.classic.binary.{TYPE}",
            BINARY,
            bat_packet()[:100],
            422,
            "invalid_packet",
            "this one has 100 bytes",
        ),
        (
            f"gcn.classic.binary.{TYPE}",
            BINARY,
            bat_packet(5000),
            422,
            "unknown_packet_type",
            "packet type 5000",
        ),
        (
            f"gcn.classic.binary.{TYPE}",
            TEXT,
            text_notice(),
            415,
            "unsupported_content_type",
            "takes GCN Classic 160-byte binary packet (application/octet-stream)",
        ),
        (
            f"gcn.classic.text.{TYPE}",
            TEXT,
            b"\x00\x01garbage",
            400,
            "malformed_text",
            "not a KEY: value line",
        ),
        (f"gcn.classic.text.{TYPE}", TEXT, b"TITLE: x\n", 422, "invalid_text", "NOTICE_TYPE"),
        (
            f"gcn.classic.voevent.{TYPE}",
            TEXT,
            text_notice(),
            415,
            "unsupported_content_type",
            "takes VOEvent 2.0 XML",
        ),
    ],
)
def test_bad_notices_are_refused_with_the_reason(
    app_url: str,
    gcn_token: str,
    topic: str,
    content_type: str,
    body: bytes,
    status: int,
    reason: str,
    says: str,
) -> None:
    response = post(app_url, gcn_token, topic, body, content_type)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["reason"] == reason
    assert says in problem["detail"]


def test_restricted_classic_topics_stay_restricted(app_url: str, gcn_token: str) -> None:
    topic = "gcn.classic.text.LVC_EARLY_WARNING"
    notice = b"TITLE: GCN/LVC NOTICE\nNOTICE_TYPE: LVC Early Warning\nTRIGGER_NUM: S1\n"
    created = post(app_url, gcn_token, topic, notice + str(serial()).encode() + b"\n", TEXT)
    assert created.status_code == 201, created.text
    url = f"{app_url}/api/v1/alerts/{created.json()['id']}"
    assert httpx.get(url, timeout=10).status_code == 401
    listed = httpx.get(f"{app_url}/api/v1/alerts", params={"topic": topic}, timeout=10)
    assert listed.status_code == 401


@pytest.fixture
def catalog(settings: Settings) -> Catalog:
    isolated = isolated_catalog()
    sync_catalog(settings, isolated)
    return isolated


def test_text_and_binary_through_the_kafka_inbox(
    settings: Settings, catalog: Catalog, unique_name: str
) -> None:
    text_topic = topic_ending(catalog, f"text.{TYPE}")
    binary_topic = topic_ending(catalog, f"binary.{TYPE}")
    inbox = inbox_name(catalog.by_name[text_topic].namespace)
    text, packet = text_notice(serial()), bat_packet(serial=serial())
    with running_worker(settings, catalog, unique_name) as stats:
        send(
            settings,
            inbox,
            [
                (text, {"topic": text_topic, "content-type": TEXT}),
                (packet, {"topic": binary_topic}),  # no content type: the topic says it
                (bat_packet(110), {"topic": binary_topic}),
            ],
        )
        (got_text,) = find_messages(settings, text_topic, lambda m: m.value() == text)
        (got_packet,) = find_messages(settings, binary_topic, lambda m: m.value() == packet)
        (dead,) = find_messages(settings, catalog.dead_letter.name, lambda m: True)
    assert header(got_text, "content-type") == TEXT.encode()
    assert header(got_packet, "content-type") == BINARY.encode()
    assert header(dead, "reason") == b"wrong_packet_type"
    assert (stats.accepted, stats.refused) == (2, 1)
