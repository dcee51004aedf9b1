"""Browser fixtures: one headless Chromium per test module, a fresh context per test.

Playwright's sync API keeps an asyncio loop running in the main thread while it is started;
stopping it at the end of each module leaves the loop free for the async tests of other folders.

Every page a test opens must load without console errors: a Content-Security-Policy violation
or a script error shows up there and fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Response,
    StorageState,
    StorageStateCookie,
    sync_playwright,
)

from conftest import serving
from skyalert.auth.models import User
from skyalert.broker.core.rates import Rate
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import LocalKafka, free_port
from support.auth import DEFAULT_PASSWORD, make_user, token_for
from support.browser import CHROMIUM, CHROMIUM_ARGS
from support.kafka_acls import OPEN
from support.stream import ensure_topics


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def console_errors() -> list[str]:
    return []


def watch(tab: Page, errors: list[str]) -> None:
    """Collect script errors, CSP violations and failed sub-resources (not the page itself:
    tests open error pages on purpose)."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            errors.append(f"{response.status} for {response.url}")

    tab.on("console", on_console)
    tab.on("response", on_response)
    tab.on("pageerror", lambda error: errors.append(str(error)))


@contextmanager
def browser_page(
    browser: Browser, base_url: str, errors: list[str], state: StorageState | None = None
) -> Iterator[Page]:
    """A tab in a fresh context (with a stored login, if given) that must stay error free."""
    context = browser.new_context(
        base_url=base_url, viewport={"width": 1280, "height": 900}, storage_state=state
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    watch(tab, errors)
    try:
        yield tab
    finally:
        context.close()
    assert errors == [], f"the browser reported errors: {errors}"


@pytest.fixture
def page(browser: Browser, app_url: str, console_errors: list[str]) -> Iterator[Page]:
    with browser_page(browser, app_url, console_errors) as tab:
        yield tab


def logged_in(base_url: str, email: str) -> StorageState:
    """Log in once through the real login form (over HTTP); tests reuse the session cookie."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        form = client.get("/account/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None, "the login form has no CSRF token"
        fields = {"email": email, "password": DEFAULT_PASSWORD, "csrf_token": token.group(1)}
        response = client.post("/account/login", data=fields)
        assert response.status_code == 303, response.text
        cookies: list[StorageStateCookie] = [
            {
                "name": c.name,
                "value": c.value or "",
                "domain": "127.0.0.1",
                "path": "/",
                "expires": -1,
                "httpOnly": True,
                "secure": False,
                "sameSite": "Lax",
            }
            for c in client.cookies.jar
        ]
    return {"cookies": cookies, "origins": []}


@pytest.fixture(scope="session")
def member(settings: Settings) -> User:
    """A verified account with no group beyond the public one, shared by the tests."""
    return make_user(settings)


@pytest.fixture(scope="session")
def member_state(app_url: str, member: User) -> StorageState:
    return logged_in(app_url, member.email)


@pytest.fixture(scope="session")
def admin_state(app_url: str, settings: Settings) -> StorageState:
    return logged_in(app_url, make_user(settings, groups=["admins"]).email)


@pytest.fixture
def member_page(
    browser: Browser, app_url: str, member_state: StorageState, console_errors: list[str]
) -> Iterator[Page]:
    with browser_page(browser, app_url, console_errors, member_state) as tab:
        yield tab


@pytest.fixture
def admin_page(
    browser: Browser, app_url: str, admin_state: StorageState, console_errors: list[str]
) -> Iterator[Page]:
    with browser_page(browser, app_url, console_errors, admin_state) as tab:
        yield tab


@pytest.fixture(scope="session")
def catalog_topics(settings: Settings) -> None:
    """The catalog's topics exist in Kafka, so that alerts can be published to them."""
    ensure_topics(settings)


@pytest.fixture(scope="session")
def publisher(settings: Settings, app_url: str, catalog_topics: None) -> Iterator[httpx.Client]:
    """An HTTP client holding a token of the ``producers.gcn`` group."""
    token = token_for(settings, app_url, groups=["producers.gcn"])
    with httpx.Client(
        base_url=app_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


@pytest.fixture(scope="session")
def local_url(settings: Settings, kafka: LocalKafka, catalog_topics: None) -> Iterator[str]:
    """The app as ``skyalert up`` runs it: served at its public URL, subscribers on PLAINTEXT.

    Generated code connects to what discovery says, so this server's must be right.
    """
    port = free_port()
    local = settings.model_copy(
        update={
            "public_url": f"http://127.0.0.1:{port}",
            "port": port,
            "kafka_client_bootstrap": kafka.listener_address(OPEN),
            "kafka_client_security_protocol": "PLAINTEXT",
            # Other tests sign up from the same loopback address in the same database.
            "rate_limit_signup": Rate.parse("1000/hour"),
        }
    )
    with serving(local, port) as url:
        yield url


@pytest.fixture
def local_page(browser: Browser, local_url: str, console_errors: list[str]) -> Iterator[Page]:
    """A browser tab on :func:`local_url`."""
    with browser_page(browser, local_url, console_errors) as tab:
        yield tab


@pytest.fixture(scope="session")
def local_member_state(local_url: str, member: User) -> StorageState:
    return logged_in(local_url, member.email)


@pytest.fixture
def local_member_page(
    browser: Browser, local_url: str, local_member_state: StorageState, console_errors: list[str]
) -> Iterator[Page]:
    """:func:`member`'s logged-in tab on :func:`local_url`."""
    with browser_page(browser, local_url, console_errors, local_member_state) as tab:
        yield tab
