"""A new circular on the WebSocket live feed, as subscribers of gcn.circulars see it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from circulars.conftest import author
from skyalert.broker.core.settings import Settings
from support.stream import alerts, open_feed, own_loop, subscribe

pytestmark = pytest.mark.usefixtures("topics")


@own_loop
async def test_circular_on_the_live_feed(settings: Settings, app_url: str) -> None:
    ada = author(settings, app_url)
    subject = f"EP251211a: fast X-ray transient {uuid.uuid4().hex[:8]}"
    async with open_feed(app_url, ada.token) as ws:
        answer = await subscribe(
            ws,
            topics=["gcn.circulars.*"],
            filter={"field": "subject", "op": "eq", "value": subject},
        )
        assert "gcn.circulars.ep" in answer["topics"]
        async with httpx.AsyncClient(timeout=30) as client:
            posted = await client.post(
                f"{app_url}/api/v1/circulars",
                json={"subject": subject, "body": "Seen by WXT."},
                headers={"Authorization": f"Bearer {ada.token}"},
            )
        assert posted.status_code == 201, posted.text
        (message,) = await alerts(ws, 1)
    assert message["topic"] == "gcn.circulars.ep"
    assert message["alert"]["circularId"] == posted.json()["circularId"]
    assert message["alert"]["eventId"] == "EP251211a"
