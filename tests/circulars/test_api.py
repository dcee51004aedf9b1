"""POST/GET /api/v1/circulars against the real app, PostgreSQL and Kafka."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from circulars.conftest import author
from skyalert.broker.archive.store import Alert
from skyalert.broker.circulars.models import Circular
from skyalert.broker.core.settings import Settings
from support.ingest import find_messages

pytestmark = pytest.mark.usefixtures("topics")
PROBLEM = "application/problem+json"


def post(app_url: str, token: str, **body: object) -> httpx.Response:
    return httpx.post(
        f"{app_url}/api/v1/circulars",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def circular_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Circular)) or 0


def test_submit_numbers_publishes_and_serves(
    settings: Settings, app_url: str, sessions: sessionmaker[Session]
) -> None:
    ada = author(settings, app_url)
    first = post(
        app_url,
        ada.token,
        subject="GRB 251203A: Swift-XRT afterglow detection",
        body="The XRT found a *fading* source.",
        format="text/markdown",
    )
    assert first.status_code == 201, first.text
    number = first.json()["circularId"]
    assert first.json()["published"] is True
    assert first.headers["location"] == f"/api/v1/circulars/{number}"
    second = post(app_url, ada.token, subject="GRB 251203A: optical counterpart", body="Found.")
    assert second.json()["circularId"] == number + 1

    got = httpx.get(f"{app_url}/api/v1/circulars/{number}").json()
    assert got["subject"] == "GRB 251203A: Swift-XRT afterglow detection"
    assert got["eventId"] == "GRB 251203A"
    assert got["submitter"] == f"Ada Observer at Example Observatory <{ada.email}>"
    assert got["format"] == "text/markdown"
    assert got["submittedHow"] == "api"
    assert got["version"] == 1

    assert settings.kafka_bootstrap is not None
    for topic in ("gcn.circulars", "gcn.circulars.grb"):
        [message] = find_messages(
            settings,
            topic,
            lambda m: json.loads(m.value() or b"{}").get("circularId") == number,
        )
        assert json.loads(message.value() or b"") == got
    with sessions() as session:
        archived = session.scalars(
            select(Alert).where(Alert.topic == "gcn.circulars", Alert.published_at.is_not(None))
        ).all()
    assert any(a.document["circularId"] == number for a in archived)

    found = httpx.get(
        f"{app_url}/api/v1/circulars", params={"query": 'subject:"251203A" body:fading'}
    ).json()
    assert [c["circularId"] for c in found["circulars"]] == [number]


def test_refusals_are_problem_json_and_change_nothing(
    settings: Settings, app_url: str, sessions: sessionmaker[Session]
) -> None:
    before = circular_count(sessions)
    stranger = author(settings, app_url, groups=())
    refused = post(app_url, stranger.token, subject="GRB 251203A: note", body="Hi")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert "circular:submit" in refused.json()["detail"]

    ada = author(settings, app_url)
    cases = [
        ({"subject": "RE: GRB 251203A: note", "body": "Hi"}, 422, "reply"),
        ({"subject": "Hello", "body": "Hi"}, 422, "names no event"),
        ({"subject": "GRB 251203A: note"}, 422, "subject and body"),
        ({"subject": "GRB 251203A: note", "body": "Hi", "format": "text/html"}, 422, "subject"),
        ({"subject": "GRB 251203A: note", "body": "x" * (10 * 1024 * 1024)}, 413, "bytes"),
    ]
    for body, status, words in cases:
        response = post(app_url, ada.token, **body)
        assert response.status_code == status, (body.get("subject"), response.text[:300])
        assert response.headers["content-type"] == PROBLEM
        assert words in response.text
    unauthenticated = httpx.post(f"{app_url}/api/v1/circulars", json={}, timeout=10)
    assert unauthenticated.status_code == 401
    assert circular_count(sessions) == before


def test_rate_limit_answers_429_and_numbers_nothing(
    settings: Settings, app_url: str, sessions: sessionmaker[Session]
) -> None:
    ada = author(settings, app_url)
    limit = settings.rate_limit_circulars.count
    statuses = [
        post(app_url, ada.token, subject="Hello", body="refused, but counted").status_code
        for _ in range(limit)
    ]
    assert statuses == [422] * limit
    before = circular_count(sessions)
    over = post(app_url, ada.token, subject="GRB 251203A: fine", body="but too many")
    assert over.status_code == 429
    assert over.headers["content-type"] == PROBLEM
    assert int(over.headers["retry-after"]) > 0
    assert circular_count(sessions) == before


def test_get_unknown_and_bad_search(app_url: str) -> None:
    missing = httpx.get(f"{app_url}/api/v1/circulars/999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    bad = httpx.get(f"{app_url}/api/v1/circulars", params={"query": "NOT everything"})
    assert bad.status_code == 400
    assert "not excluded" in bad.json()["detail"]
