"""Publishing over HTTP against the real app, Kafka and PostgreSQL, with real tokens."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from conftest import serving
from skyalert.broker.archive.store import Alert
from skyalert.broker.core.db import make_engine
from skyalert.broker.core.rates import Rate
from skyalert.broker.core.settings import Settings
from skyalert.schemas.catalog import load_catalog
from support.auth import token_for
from support.gcn_examples import guano, guano_document
from support.ingest import (
    BAT_DEC,
    BAT_ERROR,
    BAT_RA,
    BAT_TIME,
    BAT_TOPIC,
    GUANO_TOPIC,
    count_messages,
    find_messages,
    has_header,
    header,
    packet,
    unique_bat,
)

pytestmark = pytest.mark.usefixtures("catalog_topics")
VOEVENT = {"Content-Type": "application/x-voevent+xml"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def gcn_token(settings: Settings, app_url: str) -> str:
    return token_for(settings, app_url, groups=["producers.gcn"])


@pytest.fixture(scope="module")
def consumer_token(settings: Settings, app_url: str) -> str:
    return token_for(settings, app_url)


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def subject_of(token: str) -> str:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return str(claims["sub"])


def post(app_url: str, topic: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{app_url}/api/v1/topics/{topic}/alerts", content=body, headers=headers, timeout=60
    )


def test_swift_bat_voevent_arrives_on_kafka_once(
    app_url: str, settings: Settings, gcn_token: str
) -> None:
    raw = unique_bat()
    response = post(app_url, BAT_TOPIC, raw, bearer(gcn_token, **VOEVENT))
    assert response.status_code == 201, response.text
    body = response.json()
    alert_id = body["id"]
    assert body == {
        "id": alert_id,
        "topic": BAT_TOPIC,
        "created": True,
        "published": True,
        "url": f"/api/v1/alerts/{alert_id}",
    }
    assert response.headers["location"] == f"/api/v1/alerts/{alert_id}"

    # A plain confluent-kafka consumer sees it with the contract's headers.
    (message,) = find_messages(settings, BAT_TOPIC, has_header("alert-id", alert_id.encode()))
    assert message.value() == raw
    assert dict(message.headers() or []) == {
        "alert-id": alert_id.encode(),
        "content-type": b"application/x-voevent+xml",
        "schema": b"",
        "sender": subject_of(gcn_token).encode(),
        "test": b"0",
    }

    # Its JSON form has the packet's position and time.
    alert = httpx.get(f"{app_url}/api/v1/alerts/{alert_id}", timeout=10).json()["alert"]
    assert (alert["ra"], alert["dec"], alert["ra_dec_error"]) == (BAT_RA, BAT_DEC, BAT_ERROR)
    assert alert["event_time"] == BAT_TIME

    # Publishing it again creates no second alert.
    again = post(app_url, BAT_TOPIC, raw, bearer(gcn_token, **VOEVENT))
    assert again.status_code == 200
    assert again.json()["id"] == alert_id
    assert again.json()["created"] is False
    assert count_messages(settings, BAT_TOPIC, lambda m: m.value() == raw) == 1


def test_an_alert_gets_in_after_the_database_dropped_every_connection(
    app_url: str, settings: Settings, gcn_token: str
) -> None:
    """The archive writer's connection is not pinged before each batch: one found dropped (a
    database restart) is replaced and the alert archived, not refused."""
    assert post(app_url, BAT_TOPIC, unique_bat(), bearer(gcn_token, **VOEVENT)).status_code == 201
    engine = make_engine(settings)
    with engine.begin() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    engine.dispose()
    response = post(app_url, BAT_TOPIC, unique_bat(), bearer(gcn_token, **VOEVENT))
    assert response.status_code == 201, response.text
    assert response.json()["published"] is True


def test_idempotency_key_for_json_alerts(app_url: str, settings: Settings, gcn_token: str) -> None:
    raw = guano()
    key = uuid.uuid4().hex
    first = post(app_url, GUANO_TOPIC, raw, bearer(gcn_token, **JSON, **{"Idempotency-Key": key}))
    assert first.status_code == 201, first.text
    (message,) = find_messages(
        settings,
        GUANO_TOPIC,
        has_header("alert-id", first.json()["id"].encode()),
    )
    assert header(message, "idempotency-key") == key.encode()
    assert header(message, "schema") == json.loads(raw)["$schema"].encode()
    again = post(app_url, GUANO_TOPIC, raw, bearer(gcn_token, **JSON, **{"Idempotency-Key": key}))
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    other = post(
        app_url, GUANO_TOPIC, guano(), bearer(gcn_token, **JSON, **{"Idempotency-Key": key})
    )
    assert other.status_code == 409
    assert other.json()["reason"] == "idempotency_conflict"


def test_every_schema_violation_is_listed(app_url: str, gcn_token: str) -> None:
    response = post(
        app_url,
        GUANO_TOPIC,
        guano(ra="east", dec="south", mission=5, rate_snr="high"),
        bearer(gcn_token, **JSON),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["reason"] == "schema_violation"
    assert problem["topic"] == GUANO_TOPIC
    paths = {v["path"] for v in problem["violations"]}
    assert paths == {"", "/ra", "/dec", "/mission", "/rate_snr"}
    assert all(v["message"] for v in problem["violations"])


@pytest.mark.parametrize(
    ("topic", "body", "content_type", "status", "reason"),
    [
        (
            BAT_TOPIC,
            packet("swift_bat")[:900],
            "application/x-voevent+xml",
            400,
            "malformed_voevent",
        ),
        (BAT_TOPIC, packet("no_namespace"), "application/xml", 422, "invalid_voevent"),
        (GUANO_TOPIC, b'{"mission": "Sw\xffift"}', "application/json", 400, "malformed_json"),
        (GUANO_TOPIC, b'{"a": 1, "a": 2}', "application/json", 400, "malformed_json"),
        (GUANO_TOPIC, b'{"rate_snr": 1e999999}', "application/json", 400, "malformed_json"),
        (GUANO_TOPIC, b'{"id": ["\\ud800"]}', "application/json", 400, "malformed_json"),
        (GUANO_TOPIC, b"{}", "application/x-voevent+xml", 415, "unsupported_content_type"),
    ],
    ids=[
        "truncated-xml",
        "wrong-namespace",
        "invalid-utf8",
        "duplicate-keys",
        "overflow-to-infinity",
        "lone-surrogate",
        "wrong-type",
    ],
)
def test_refusals_are_problem_documents(
    app_url: str,
    gcn_token: str,
    topic: str,
    body: bytes,
    content_type: str,
    status: int,
    reason: str,
) -> None:
    response = post(app_url, topic, body, bearer(gcn_token, **{"Content-Type": content_type}))
    assert response.status_code == status, response.text
    problem = response.json()
    assert (problem["status"], problem["reason"], problem["title"]) == (
        status,
        reason,
        "Alert refused",
    )
    if reason.startswith("malformed"):
        assert problem["errors"][0]["message"]
        # A syntax error has a line; a strict-JSON one (duplicate key, overflow) is semantic.
        assert problem["errors"][0]["line"] is not None or "strict JSON" in problem["detail"]


def _exactly(size: int, **changes: object) -> bytes:
    """A GUANO alert of exactly ``size`` bytes (padded in its free-text field)."""
    document = guano_document(**changes)
    document["additional_info"] = ""
    room = size - len(json.dumps(document).encode())
    document["additional_info"] = "x" * room
    body = json.dumps(document).encode()
    assert len(body) == size
    return body


def test_an_alert_of_exactly_the_size_limit_reaches_kafka_and_so_does_its_refusal(
    app_url: str, settings: Settings, gcn_token: str
) -> None:
    limit = settings.ingest_max_bytes
    accepted = post(app_url, GUANO_TOPIC, _exactly(limit), bearer(gcn_token, **JSON))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["published"] is True  # Kafka acknowledged it: no endless retries
    alert_id = accepted.json()["id"]
    find_messages(settings, GUANO_TOPIC, has_header("alert-id", alert_id.encode()))
    refused = post(app_url, GUANO_TOPIC, _exactly(limit, ra="east"), bearer(gcn_token, **JSON))
    assert refused.status_code == 422
    dead = find_messages(
        settings,
        load_catalog().dead_letter.name,
        lambda m: len(m.value() or b"") > limit and has_header("reason", b"schema_violation")(m),
    )
    assert dead


def test_ten_megabytes_are_refused_and_the_next_alert_still_gets_in(
    app_url: str, gcn_token: str
) -> None:
    huge = b"<" + b"x" * (10 * 1024 * 1024)
    response = post(app_url, BAT_TOPIC, huge, bearer(gcn_token, **VOEVENT))
    assert response.status_code == 413
    assert response.json()["reason"] == "too_large"
    # Streamed, without Content-Length: cut off at the limit all the same.
    chunks = (b"x" * 65536 for _ in range(160))
    streamed = httpx.post(
        f"{app_url}/api/v1/topics/{BAT_TOPIC}/alerts",
        content=chunks,
        headers=bearer(gcn_token, **VOEVENT),
        timeout=60,
    )
    assert streamed.status_code == 413
    assert post(app_url, BAT_TOPIC, unique_bat(), bearer(gcn_token, **VOEVENT)).status_code == 201


def test_publishing_is_rate_limited_per_credential(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_publish": Rate.parse("3/hour")})
    with serving(limited) as url:
        first, second = (token_for(settings, url, groups=["producers.gcn"]) for _ in range(2))
        answers = [post(url, GUANO_TOPIC, guano(), bearer(first, **JSON)) for _ in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        refused = answers[-1]
        assert refused.headers["content-type"] == "application/problem+json"
        assert "too many alerts published (3/hour); try again in" in refused.json()["detail"]
        assert 0 < int(refused.headers["retry-after"]) <= 3600
        # Another credential has its own allowance.
        assert post(url, GUANO_TOPIC, guano(), bearer(second, **JSON)).status_code == 201
    engine = make_engine(settings)
    with engine.connect() as connection:
        stored = connection.scalar(
            select(func.count()).select_from(Alert).where(Alert.sender == subject_of(first))
        )
    engine.dispose()
    assert stored == 3


def test_who_may_publish_where(app_url: str, settings: Settings, consumer_token: str) -> None:
    igwn = token_for(settings, app_url, groups=["producers.igwn"])
    outside = post(app_url, BAT_TOPIC, unique_bat(), bearer(igwn, **VOEVENT))
    assert outside.status_code == 403
    assert "publish:gcn" in outside.json()["detail"]
    assert (
        post(app_url, BAT_TOPIC, unique_bat(), bearer(consumer_token, **VOEVENT)).status_code == 403
    )
    anonymous = post(app_url, BAT_TOPIC, unique_bat(), VOEVENT)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert (
        post(app_url, BAT_TOPIC, unique_bat(), bearer("not-a-token", **VOEVENT)).status_code == 401
    )
    admin_topic = load_catalog().dead_letter.name
    ops = token_for(settings, app_url, groups=["skyalert.operators"])
    assert post(app_url, admin_topic, b"{}", bearer(ops, **JSON)).status_code == 403
    assert post(app_url, "gcn.no.such.topic", b"{}", bearer(igwn, **JSON)).status_code == 404


def test_publishers_see_their_rejections(
    app_url: str, settings: Settings, consumer_token: str
) -> None:
    token = token_for(settings, app_url, groups=["producers.gcn"])
    key = uuid.uuid4().hex
    post(app_url, GUANO_TOPIC, guano(ra="999"), bearer(token, **JSON, **{"Idempotency-Key": key}))
    post(app_url, BAT_TOPIC, b"<oops", bearer(token, **VOEVENT))
    listed = httpx.get(f"{app_url}/api/v1/rejections", headers=bearer(token), timeout=10)
    assert listed.status_code == 200
    rows = listed.json()["rejections"]
    mine = [r for r in rows if r["sender"] == subject_of(token)]
    assert [r["reason"] for r in mine[:2]] == ["malformed_voevent", "schema_violation"]
    schema_row = mine[1]
    assert schema_row["idempotency_key"] == key
    assert schema_row["violations"][1] == {
        "path": "/ra",
        "message": "'999' is not of type 'number'",
    }
    assert schema_row["status"] == 422
    assert mine[0]["errors"][0]["line"] == 1

    only_bat = httpx.get(
        f"{app_url}/api/v1/rejections",
        params={"topic": BAT_TOPIC, "limit": 1},
        headers=bearer(token),
        timeout=10,
    ).json()
    assert [r["topic"] for r in only_bat["rejections"]] == [BAT_TOPIC]
    assert only_bat["next_before"] is not None

    # Other namespaces' publishers and plain consumers see none of it.
    igwn = token_for(settings, app_url, groups=["producers.igwn"])
    theirs = httpx.get(f"{app_url}/api/v1/rejections", headers=bearer(igwn), timeout=10).json()
    assert all(r["topic"].startswith("igwn.") for r in theirs["rejections"])
    denied = httpx.get(f"{app_url}/api/v1/rejections", headers=bearer(consumer_token), timeout=10)
    assert denied.status_code == 403
