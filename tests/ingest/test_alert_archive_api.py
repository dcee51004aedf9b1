"""The archive API: by id (JSON or the original XML), citations, cone search, filters, access."""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from skyalert.broker.core.settings import Settings
from support.auth import token_for
from support.gcn_examples import guano_document
from support.ingest import BAT_TOPIC, GUANO_TOPIC, XRT_TOPIC, ivorn_of, unique_bat, xrt_as_v2

pytestmark = pytest.mark.usefixtures("catalog_topics")
RESTRICTED_TOPIC = "gcn.classic.voevent.LVC_EARLY_WARNING"


@pytest.fixture(scope="module")
def gcn_token(settings: Settings, app_url: str) -> str:
    return token_for(settings, app_url, groups=["producers.gcn"])


def publish(app_url: str, token: str, topic: str, raw: bytes, kind: str = "xml") -> str:
    content_type = "application/x-voevent+xml" if kind == "xml" else "application/json"
    response = httpx.post(
        f"{app_url}/api/v1/topics/{topic}/alerts",
        content=raw,
        timeout=30,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    assert response.status_code == 201, response.text
    alert_id: str = response.json()["id"]
    return alert_id


def bat_at(ra: float, dec: float, error: float = 0.05) -> bytes:
    """The BAT packet with a fresh IVORN, moved to (ra, dec) with another error radius."""
    raw = unique_bat()
    raw = raw.replace(b"<C1>74.741200</C1>", f"<C1>{ra}</C1>".encode())
    raw = raw.replace(b"<C2>-9.313700</C2>", f"<C2>{dec}</C2>".encode())
    return raw.replace(
        b"<Error2Radius>0.050000</Error2Radius>", f"<Error2Radius>{error}</Error2Radius>".encode()
    )


def search(app_url: str, token: str | None = None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{app_url}/api/v1/alerts", params=params, headers=headers, timeout=30)


def found_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [a["id"] for a in response.json()["alerts"]]


def test_alert_by_id_as_json_and_as_the_original_xml(app_url: str, gcn_token: str) -> None:
    raw = unique_bat()
    alert_id = publish(app_url, gcn_token, BAT_TOPIC, raw)
    # published_at is marked in batches off the request path (every 0.2 s).
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(f"{app_url}/api/v1/alerts/{alert_id}", timeout=10)
        assert response.status_code == 200
        body = response.json()
        if body["published"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert body["id"] == alert_id
    assert body["topic"] == BAT_TOPIC
    assert body["ivorn"] == ivorn_of(raw)
    assert body["published"] is True
    assert body["test"] is False
    assert body["alert"]["position"]["frame"] == "FK5"
    assert body["event_time"] == "2012-09-07T00:24:23.080Z"
    assert body["citations"] == []
    assert body["cited_by"] == []

    for accept, media in [
        ("application/x-voevent+xml", "application/x-voevent+xml"),
        ("application/xml", "application/xml"),
        ("application/json;q=0.5, text/xml", "text/xml"),
    ]:
        xml = httpx.get(
            f"{app_url}/api/v1/alerts/{alert_id}", headers={"Accept": accept}, timeout=10
        )
        assert xml.status_code == 200
        assert xml.content == raw
        assert xml.headers["content-type"].startswith(media)


def test_json_alert_has_no_xml_form(app_url: str, gcn_token: str) -> None:
    document = guano_document()
    alert_id = publish(app_url, gcn_token, GUANO_TOPIC, json.dumps(document).encode(), "json")
    body = httpx.get(f"{app_url}/api/v1/alerts/{alert_id}", timeout=10).json()
    assert body["alert"] == document
    assert body["schema"] == document["$schema"]
    xml = httpx.get(
        f"{app_url}/api/v1/alerts/{alert_id}",
        headers={"Accept": "application/x-voevent+xml"},
        timeout=10,
    )
    assert xml.status_code == 406


def test_unknown_alerts(app_url: str) -> None:
    assert (
        httpx.get(f"{app_url}/api/v1/alerts/01ARZ3NDEKTSV4RRFFQ69G5FAV", timeout=10).status_code
        == 404
    )
    assert httpx.get(f"{app_url}/api/v1/alerts/nope", timeout=10).status_code == 404


def test_citations_are_resolved_both_ways(app_url: str, gcn_token: str) -> None:
    bat = unique_bat()
    bat_id = publish(app_url, gcn_token, BAT_TOPIC, bat)
    xrt = xrt_as_v2().replace(
        b"ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_644259-771", ivorn_of(bat).encode()
    )
    xrt = xrt.replace(b"SWIFT#XRT_Pos_644259-941", f"SWIFT#XRT_Pos_{uuid.uuid4().hex}".encode())
    xrt_id = publish(app_url, gcn_token, XRT_TOPIC, xrt)

    followup = httpx.get(f"{app_url}/api/v1/alerts/{xrt_id}", timeout=10).json()
    assert followup["citations"] == [
        {
            "ivorn": ivorn_of(bat),
            "cite": "followup",
            "alert_id": bat_id,
            "topic": BAT_TOPIC,
            "url": f"/api/v1/alerts/{bat_id}",
        }
    ]
    original = httpx.get(f"{app_url}/api/v1/alerts/{bat_id}", timeout=10).json()
    assert original["cited_by"] == [
        {
            "ivorn": ivorn_of(xrt),
            "cite": "followup",
            "alert_id": xrt_id,
            "topic": XRT_TOPIC,
            "url": f"/api/v1/alerts/{xrt_id}",
        }
    ]


def test_cone_search_finds_near_and_not_elsewhere(app_url: str, gcn_token: str) -> None:
    since = datetime.now(UTC).isoformat()
    rng = random.Random()
    ra, dec = rng.uniform(20, 340), rng.uniform(-60, 60)
    near = publish(app_url, gcn_token, BAT_TOPIC, bat_at(ra, dec))
    wide = publish(app_url, gcn_token, BAT_TOPIC, bat_at((ra + 8) % 360, dec, error=10.0))
    params = {"topic": BAT_TOPIC, "since": since}

    assert set(found_ids(search(app_url, ra=ra, dec=dec, radius=0.1, **params))) == {near, wide}
    assert found_ids(search(app_url, ra=(ra + 8) % 360, dec=dec, radius=0.01, **params)) == [wide]
    assert found_ids(search(app_url, ra=(ra + 180) % 360, dec=-dec, radius=5, **params)) == []
    # Just outside the small error circle, inside the wide one:
    far = (ra - 1.5) % 360
    assert found_ids(search(app_url, ra=far, dec=dec, radius=0.2, **params)) == [wide]


def test_cone_search_across_ra_zero(app_url: str, gcn_token: str) -> None:
    since = datetime.now(UTC).isoformat()
    dec = random.uniform(-30, 30)
    alert_id = publish(app_url, gcn_token, BAT_TOPIC, bat_at(359.95, dec, error=0.01))
    hits = found_ids(search(app_url, topic=BAT_TOPIC, since=since, ra=0.05, dec=dec, radius=0.2))
    assert hits == [alert_id]


def test_time_range_test_flag_and_paging(app_url: str, gcn_token: str) -> None:
    since = datetime.now(UTC)
    ids = [
        publish(
            app_url,
            gcn_token,
            XRT_TOPIC,
            xrt_as_v2().replace(
                b"SWIFT#XRT_Pos_644259-941", f"SWIFT#XRT_Pos_{uuid.uuid4().hex}".encode()
            ),
        )
        for _ in range(3)
    ]
    test_raw = (
        xrt_as_v2()
        .replace(b'role="observation"', b'role="test"')
        .replace(b"SWIFT#XRT_Pos_644259-941", f"SWIFT#XRT_Pos_{uuid.uuid4().hex}".encode())
    )
    test_id = publish(app_url, gcn_token, XRT_TOPIC, test_raw)
    window = {"topic": XRT_TOPIC, "since": since.isoformat()}

    assert found_ids(search(app_url, **window)) == [test_id, *reversed(ids)]
    assert found_ids(search(app_url, test="true", **window)) == [test_id]
    assert found_ids(search(app_url, test="false", **window)) == list(reversed(ids))
    assert found_ids(search(app_url, until=since.isoformat(), **window)) == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert found_ids(search(app_url, topic=XRT_TOPIC, since=future)) == []

    first = search(app_url, limit=2, order="asc", **window).json()
    assert [a["id"] for a in first["alerts"]] == ids[:2]
    second = search(app_url, limit=2, order="asc", cursor=first["next_cursor"], **window).json()
    assert [a["id"] for a in second["alerts"]] == [ids[2], test_id]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"ra": 10, "dec": 10}, 422),
        ({"ra": 400, "dec": 0, "radius": 1}, 422),
        ({"cursor": "nope"}, 422),
        ({"topic": "no.such.topic"}, 404),
        ({"limit": 0}, 422),
    ],
)
def test_bad_searches(app_url: str, params: dict[str, Any], status: int) -> None:
    response = search(app_url, **params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_restricted_topics_need_their_group(
    app_url: str, settings: Settings, gcn_token: str
) -> None:
    # A VOEvent on a GCN Classic topic must be of its packet type: LVC_EARLY_WARNING is 163.
    early = unique_bat().replace(
        b'"Packet_Type" dataType="string" value="61"', b'"Packet_Type" value="163"'
    )
    alert_id = publish(app_url, gcn_token, RESTRICTED_TOPIC, early)
    url = f"{app_url}/api/v1/alerts/{alert_id}"
    consumer = token_for(settings, app_url)
    partner = token_for(settings, app_url, groups=["restricted.lvk_early"])

    assert httpx.get(url, timeout=10).status_code == 401
    assert (
        httpx.get(url, headers={"Authorization": f"Bearer {consumer}"}, timeout=10).status_code
        == 403
    )
    assert (
        httpx.get(url, headers={"Authorization": f"Bearer {partner}"}, timeout=10).status_code
        == 200
    )
    assert httpx.get(url, headers={"Authorization": "Bearer junk"}, timeout=10).status_code == 401

    assert alert_id not in found_ids(search(app_url))
    assert alert_id not in found_ids(search(app_url, consumer))
    assert alert_id in found_ids(search(app_url, partner))
    assert search(app_url, topic=RESTRICTED_TOPIC).status_code == 401
    assert search(app_url, consumer, topic=RESTRICTED_TOPIC).status_code == 403
    assert found_ids(search(app_url, partner, topic=RESTRICTED_TOPIC))[0] == alert_id
