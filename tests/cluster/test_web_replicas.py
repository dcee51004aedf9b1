"""Two web replicas on one database and Kafka, requests landing on either: sessions, CSRF,
token revocation and the live feed's resume work whichever replica serves them."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from conftest import serving
from skyalert.broker.core.settings import Settings
from support.auth import DEFAULT_PASSWORD, get_token, make_credential, make_user, revoke_token
from support.stream import (
    Publisher,
    alerts,
    ensure_topics,
    guano,
    mine,
    open_feed,
    own_loop,
    subscribe,
    token,
)

pytestmark = pytest.mark.slow

CLIENTS = 100


@pytest.fixture(scope="module")
def replicas(settings: Settings) -> Iterator[tuple[str, str]]:
    ensure_topics(settings)
    with serving(settings) as first, serving(settings) as second:
        yield first, second


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the form has no CSRF token"
    return found.group(1)


def test_session_and_csrf_from_one_replica_work_on_the_other(
    settings: Settings, replicas: tuple[str, str]
) -> None:
    first, second = replicas
    user = make_user(settings)
    with httpx.Client(timeout=30) as browser:
        form = browser.get(f"{first}/account/login").text
        fields = {"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": _csrf(form)}
        # The form came from the first replica; the second takes it and starts the session.
        assert browser.post(f"{second}/account/login", data=fields).status_code == 303
        page = browser.get(f"{first}/account")
        assert page.status_code == 200
        assert user.email in page.text


def test_a_token_revoked_on_one_replica_is_refused_on_the_other(
    settings: Settings, replicas: tuple[str, str]
) -> None:
    first, second = replicas
    client_id, secret = make_credential(settings, make_user(settings))
    bearer = get_token(first, client_id, secret)
    headers = {"Authorization": f"Bearer {bearer}"}
    assert httpx.get(f"{second}/api/v1/credentials", headers=headers).status_code == 200
    revoke_token(second, bearer, client_id, secret)
    deadline = time.monotonic() + settings.stream_recheck_interval + 10
    while httpx.get(f"{first}/api/v1/credentials", headers=headers).status_code != 401:
        assert time.monotonic() < deadline, "the other replica still takes the revoked token"
        time.sleep(0.2)


@own_loop
async def test_live_feed_clients_move_to_the_other_replica_without_gap_or_repeat(
    settings: Settings,
) -> None:
    ensure_topics(settings)
    with serving(settings) as survivor:
        reader = token(settings, survivor)
        publisher = Publisher(survivor, token(settings, survivor, groups=["producers.gcn"]))
        tag = f"replicas-{time.monotonic_ns()}"
        request = {"topics": ["gcn.notices.swift.bat.guano"], "filter": mine(tag)}
        cursors: list[str] = []
        seen: list[list[str]] = [[] for _ in range(CLIENTS)]
        with serving(settings) as doomed:
            feeds = [await open_feed(doomed, reader).__aenter__() for _ in range(CLIENTS)]
            for ws in feeds:
                await subscribe(ws, **request)
            before = [await publisher.json(guano(tag)) for _ in range(3)]
            for n, ws in enumerate(feeds):
                got = await alerts(ws, 3)
                seen[n] += [m["id"] for m in got]
                cursors.append(got[-1]["cursor"])
        for ws in feeds:
            await ws.close()
        # The first replica is gone; alerts go on arriving while the clients come back.
        during = [await publisher.json(guano(tag)) for _ in range(2)]

        async def resume(n: int) -> None:
            async with open_feed(survivor, reader) as ws:
                await subscribe(ws, **request, since={"cursor": cursors[n]})
                seen[n] += [m["id"] for m in await alerts(ws, len(during))]

        await asyncio.gather(*(resume(n) for n in range(CLIENTS)))
        publisher.close()
    assert all(ids == before + during for ids in seen)
