"""Acceptance: 200 matching alerts in a burst to one recipient limited to 10 mails a minute:
the single mails and the digest account for every one of them, none twice."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from skyalert.broker.core.settings import Settings
from support.auth import make_user
from support.email import Api, ApiFor, Mailbox, alert_ids, email_worker
from support.ingest import GUANO_TOPIC
from support.stream import guano, mine

BURST = 200


def publish(publisher: Api, marker: str) -> str:
    answer = publisher.post(f"/topics/{GUANO_TOPIC}/alerts", guano(marker))
    assert answer.status_code == 201, answer.text
    alert_id: str = answer.json()["id"]
    return alert_id


def test_burst_beyond_the_limit_is_folded_into_a_digest(
    settings: Settings, mailbox: Mailbox, publisher: Api, api_for: ApiFor, tmp_path: Path
) -> None:
    user = make_user(settings)
    api = api_for(user)
    marker = f"burst-{uuid.uuid4().hex[:8]}"
    created = api.post("/subscriptions", {"topics": [GUANO_TOPIC], "filter": mine(marker)})
    assert created.status_code == 201, created.text
    with ThreadPoolExecutor(8) as pool:
        published = set(pool.map(lambda _: publish(publisher, marker), range(BURST)))
    assert len(published) == BURST

    with email_worker(
        settings,
        mailbox.url,
        tmp_path / "worker.log",
        email_rate_recipient="10/minute",
        email_digest_delay="2",
    ):
        mails = mailbox.wait_until(lambda mails: len(alert_ids(mails)) >= BURST, user.email, 60)

    carried = alert_ids(mails)
    assert sorted(carried) == sorted(published)  # every alert, none twice
    assert len(mails) <= 10
    digests = [m for m in mails if m.message["X-Skyalert-Alert-Id"] is None]
    assert len(digests) == 1
    assert str(digests[0].message["Subject"]) == f"[skyalert] digest of {BURST - 9} alerts"
    assert digests[0].message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert len(mails) == 10
