"""Acceptance: a new user, API only: confirm an address, subscribe with JSON and a filter,
publish a matching and a non-matching alert: exactly one mail, with the JSON, the RFC 8058
headers and a working unsubscribe link."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
from confluent_kafka import Producer

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import base_config
from support.auth import make_user
from support.email import (
    Api,
    ApiFor,
    Mailbox,
    email_worker,
    link_in,
    link_path,
    text_of,
    wait_consumed,
)
from support.ingest import GUANO_TOPIC, find_messages, has_header
from support.stream import guano, mine


def test_subscribe_receive_once_and_unsubscribe(
    settings: Settings,
    mail_app: str,
    mailbox: Mailbox,
    publisher: Api,
    api_for: ApiFor,
    tmp_path: Path,
) -> None:
    user = make_user(settings)
    api = api_for(user)
    address = f"pipeline-{uuid.uuid4().hex[:8]}@example.net"
    marker = f"journey-{uuid.uuid4().hex[:8]}"
    wanted = {
        "name": "Swift GRBs",
        "recipient": address,
        "topics": [GUANO_TOPIC],
        "format": "json",
        "filter": mine(marker),
    }

    # Another address than the account's must be confirmed first.
    refused = api.post("/subscriptions", wanted)
    assert refused.status_code == 422
    assert "not verified" in refused.json()["detail"]
    asked = api.post("/email-recipients", {"address": address})
    assert asked.status_code == 202, asked.text
    assert asked.json() == {"address": address, "verified": False, "confirmation_sent": True}
    (confirmation,) = mailbox.wait_until(lambda mails: len(mails) == 1, address)
    link = link_in(text_of(confirmation.message), "/email/confirm")
    with httpx.Client(base_url=mail_app, timeout=20) as browser:
        page = browser.get(link)
        assert page.status_code == 200
        assert address in page.text
        assert user.email in page.text
        token = link.split("token=", 1)[1]
        done = browser.post("/email/confirm", data={"token": token})
        assert done.status_code == 200
        assert "Address confirmed" in done.text
        again = browser.post("/email/confirm", data={"token": token})
        assert again.status_code == 400  # one use only
    listed = api.get("/email-recipients").json()["recipients"]
    assert {"address": address, "verified": True, "account": False} in listed

    created = api.post("/subscriptions", wanted)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["format"] == "json"
    assert sub["include_tests"] is False
    assert sub["filter"] == mine(marker)
    assert created.headers["location"].endswith(f"/api/v1/subscriptions/{sub['id']}")

    group = f"test-email-{uuid.uuid4().hex[:8]}"
    with email_worker(settings, mailbox.url, tmp_path / "worker.log", group, public_url=mail_app):
        # Bad messages on the topic (written past ingest) are skipped; the rest flows on.
        producer = Producer(base_config(settings))
        producer.produce(GUANO_TOPIC, b"{not json", headers={"alert-id": b"\xff\xfe"})
        producer.produce(GUANO_TOPIC, b"[1, 2]")
        assert producer.flush(10) == 0
        match = guano(marker)
        match_id = publisher.post(f"/topics/{GUANO_TOPIC}/alerts", match).json()["id"]
        other_id = publisher.post(f"/topics/{GUANO_TOPIC}/alerts", guano("elsewhere")).json()["id"]
        test_id = publisher.post(f"/topics/{GUANO_TOPIC}/alerts", guano(marker, test=True)).json()[
            "id"
        ]

        (mail,) = mailbox.wait_until(lambda mails: len(mails) == 2, address)[1:]
        for alert_id in (match_id, other_id, test_id):
            (sent,) = find_messages(
                settings,
                GUANO_TOPIC,
                has_header("alert-id", alert_id.encode()),
            )
            wait_consumed(settings, group, sent)
        assert len(mailbox.to(address)) == 2  # the confirmation and exactly one alert

    message = mail.message
    assert message["X-Skyalert-Alert-Id"] == match_id
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(message["List-Unsubscribe"]).strip("<>")
    assert unsubscribe.startswith(f"{mail_app}/email/unsubscribe?token=")
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/json"
    assert json.loads(attachment.get_content()) == match
    text = text_of(message)
    assert unsubscribe in text  # the footer link
    assert "RA 212.4430°, Dec -31.0820°" in text
    assert match["trigger_time"] in text
    assert f'"additional_info": "{match["additional_info"]}"' in text

    with httpx.Client(base_url=mail_app, timeout=20) as browser:
        page = browser.get(link_path(unsubscribe))
        assert page.status_code == 200
        assert "Swift GRBs" in page.text
        assert (
            api.get(f"/subscriptions/{sub['id']}").json()["active"] is True
        )  # GET changes nothing
        stopped = browser.post(link_path(unsubscribe), data={"List-Unsubscribe": "One-Click"})
        assert stopped.status_code == 200
        assert "Unsubscribed" in stopped.text
        assert "Swift GRBs" in stopped.text
        assert GUANO_TOPIC in stopped.text
        assert address in stopped.text
    shown = api.get(f"/subscriptions/{sub['id']}").json()
    assert shown["active"] is False
    assert shown["unsubscribed_at"] is not None
    assert shown["deliveries"]["sent"] == 1
    assert shown["last_failure"] is None
