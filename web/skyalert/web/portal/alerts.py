"""``/alerts``: the archive browser (topic, time and cone filters, pages) and one alert's page."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from skyalert.auth.principal import Principal, may_view
from skyalert.broker.archive import store as archive
from skyalert.broker.archive.alert_ids import is_alert_id
from skyalert.broker.archive.cone import Cone
from skyalert.broker.archive.store import Alert, AlertQuery, CitationLink
from skyalert.schemas.catalog import Topic
from skyalert.schemas.formats import FORMATS, ContentType, format_of
from skyalert.web.portal.archive_views import readable_topics
from skyalert.web.portal.pages import Viewer, render
from skyalert.web.portal.skymap import graticule, marker
from skyalert.web.state import AppState, State

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25


def _utc(text: str, name: str, errors: list[str]) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors.append(f"{name}: {text!r} is not a date and time like 2025-01-31T12:00 (UTC)")
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _number(text: str, name: str, errors: list[str]) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        errors.append(f"{name}: {text!r} is not a number of degrees")
        return None


@dataclass
class ArchiveForm:
    """The archive browser's filters as typed in, and what they mean once checked."""

    topic: str = ""
    since: str = ""
    until: str = ""
    ra: str = ""
    dec: str = ""
    radius: str = ""
    test: bool = False
    cursor: str = ""
    errors: list[str] = field(default_factory=list)

    def query(self, state: AppState, viewer: Principal | None) -> AlertQuery | None:
        """The archive query, or None with ``errors`` saying what to fix."""
        readable = readable_topics(state, viewer)
        if self.topic:
            found = state.catalog.get(self.topic)
            if found is None or found not in readable:
                self.errors.append(f"topic: {self.topic!r} is not a topic you may read")
            readable = [] if found is None else [found]
        since = _utc(self.since, "from", self.errors)
        until = _utc(self.until, "until", self.errors)
        if since and until and since > until:
            self.errors.append("from: the start is after the end")
        cone = None
        centre = (self.ra, self.dec, self.radius)
        if any(centre):
            values = [
                _number(v, n, self.errors)
                for v, n in zip(centre, ("RA", "Dec", "radius"), strict=True)
            ]
            ra, dec, radius = values
            if ra is None or dec is None or radius is None:
                if not self.errors:
                    self.errors.append("cone: give all of RA, Dec and radius (degrees)")
            else:
                try:
                    cone = Cone(ra, dec, radius)
                except ValueError as exc:
                    self.errors.append(f"cone: {exc}")
        if self.cursor and not is_alert_id(self.cursor):
            self.errors.append("page: the page link is damaged; start again from the first page")
        if self.errors:
            return None
        return AlertQuery(
            topics=[t.name for t in readable],
            since=since,
            until=until,
            cone=cone,
            test=None if self.test else False,
            cursor=self.cursor or None,
            limit=PAGE_SIZE,
        )

    def link(self, cursor: str | None) -> str:
        params = {
            k: v
            for k, v in (
                ("topic", self.topic),
                ("since", self.since),
                ("until", self.until),
                ("ra", self.ra),
                ("dec", self.dec),
                ("radius", self.radius),
                ("test", "1" if self.test else ""),
                ("cursor", cursor or ""),
            )
            if v
        }
        return "/alerts?" + urlencode(params) if params else "/alerts"


def position_markers(alerts: Sequence[Alert]) -> list[Any]:
    return [
        marker(a.ra, a.dec, a.ra_dec_error, f"/alerts/{a.id}", f"{a.topic} {a.id}")
        for a in alerts
        if a.ra is not None and a.dec is not None
    ]


@router.get("/alerts", response_class=HTMLResponse)
async def alert_archive(
    *,
    request: Request,
    state: State,
    viewer: Viewer,
    topic: str = "",
    since: str = "",
    until: str = "",
    ra: str = "",
    dec: str = "",
    radius: str = "",
    test: str = "",
    cursor: str = "",
) -> HTMLResponse:
    form = ArchiveForm(
        topic,
        since.strip(),
        until.strip(),
        ra.strip(),
        dec.strip(),
        radius.strip(),
        bool(test),
        cursor.strip(),
    )
    query = form.query(state, viewer)
    page: archive.AlertPage | None = None
    if query is not None:

        def run() -> archive.AlertPage:
            with state.sessions() as session:
                return archive.search(session, query)

        page = await run_in_threadpool(run)
    return render(
        request,
        "alerts/archive.html",
        status_code=200 if page is not None else 400,
        form=form,
        topics=readable_topics(state, viewer),
        alerts=page.alerts if page else [],
        next_link=form.link(page.next_cursor) if page and page.next_cursor else None,
        first_link=form.link(None) if form.cursor else None,
        grid=graticule(),
        markers=position_markers(page.alerts) if page else [],
    )


@dataclass(frozen=True)
class AlertView:
    alert: Alert
    topic: Topic | None
    cites: list[CitationLink]
    cited_by: list[CitationLink]


def _load(state: AppState, alert_id: str, viewer: Principal | None) -> AlertView:
    """The alert with its citations; 404 if unknown, 403 if the viewer may not read it."""
    with state.sessions() as session:
        alert = archive.get(session, alert_id) if is_alert_id(alert_id) else None
        if alert is None:
            raise HTTPException(404, f"There is no alert {alert_id!r} in the archive.")
        view = AlertView(
            alert,
            state.catalog.get(alert.topic),
            archive.citations_of(session, alert),
            archive.cited_by(session, alert),
        )
    if view.topic is not None and not may_view(viewer, view.topic):
        hint = "log in with an account" if viewer is None else "your account needs to be"
        raise HTTPException(
            403,
            f"{alert.topic} is restricted: {hint} in the group {view.topic.consumer_group}.",
        )
    return view


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def alert_detail(alert_id: str, request: Request, state: State, viewer: Viewer) -> Response:
    view = await run_in_threadpool(_load, state, alert_id, viewer)
    alert = view.alert
    xml = alert.original.decode("utf-8", "replace") if is_voevent(alert) else None
    own = format_of(alert.content_type)
    is_text = own.content_type is ContentType.TEXT
    text = alert.original.decode("utf-8", "replace") if is_text else None
    return render(
        request,
        "alerts/detail.html",
        view=view,
        alert=alert,
        document=json.dumps(alert.document, indent=2, ensure_ascii=False),
        xml=xml,
        own=own,
        text=text,
        grid=graticule(),
        markers=position_markers([alert]),
    )


def is_voevent(alert: Alert) -> bool:
    return alert.content_type == ContentType.VOEVENT.value


@router.get("/alerts/{alert_id}/download")
async def alert_download(
    alert_id: str, state: State, viewer: Viewer, format: str = "json"
) -> Response:
    """The alert as a file: its JSON form, or exactly as published (``format`` is the suffix of
    its own format: ``xml`` for VOEvent, ``txt`` for GCN Classic text, ``bin`` for binary)."""
    view = await run_in_threadpool(_load, state, alert_id, viewer)
    alert = view.alert
    own = format_of(alert.content_type)
    if format == "json":
        text = json.dumps(alert.document, indent=2, ensure_ascii=False)
        body, media, suffix = text.encode(), ContentType.JSON.value, "json"
    elif format == own.suffix:
        body, media, suffix = alert.original, own.content_type.value, own.suffix
    elif format in {f.suffix for f in FORMATS}:
        raise HTTPException(404, f"{alert.id} is a {own.label} alert; it has no {format} form.")
    else:
        raise HTTPException(400, f"Unknown format {format!r}: ask for json or {own.suffix}.")
    disposition = f'attachment; filename="{alert.topic}.{alert.id}.{suffix}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})
