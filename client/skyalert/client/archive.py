"""The server's alert archive (``GET /api/v1/alerts/{id}``): the JSON form of VOEvent alerts.

Kafka carries VOEvent alerts as the XML their authors wrote; the server normalises each one to
JSON once, on ingest, and keeps that form in its archive. Reading it from there keeps every
channel (Kafka, live feed, email) filtering on exactly the same document.
"""

from __future__ import annotations

__all__ = ["Archive"]

import dataclasses
from typing import Any
from urllib.parse import quote

from skyalert.client import http
from skyalert.client.alert import Alert
from skyalert.client.discovery import Discovery
from skyalert.client.errors import ApiError
from skyalert.client.tokens import TokenSource


class Archive:
    def __init__(
        self, discovery: Discovery, client_id: str | None, client_secret: str | None
    ) -> None:
        self.discovery = discovery
        self._tokens = (
            TokenSource(discovery.token_endpoint, client_id, client_secret)
            if client_id and client_secret
            else None
        )

    def json_form(self, alert_id: str) -> dict[str, Any]:
        url = f"{self.discovery.api_url}/alerts/{quote(alert_id, safe='')}"
        headers = {"Authorization": f"Bearer {self._tokens.get()}"} if self._tokens else {}
        body = http.get_json(url, headers=headers)
        document = body.get("alert") if isinstance(body, dict) else None
        if not isinstance(document, dict):
            raise ApiError(f"{url} answered without the alert's JSON form", 200, {})
        return document

    def with_json_form(self, alert: Alert) -> Alert:
        return dataclasses.replace(alert, payload=self.json_form(alert.id))
