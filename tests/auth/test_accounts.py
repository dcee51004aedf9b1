"""Account flows through the portal as a browser uses them: mails from a real SMTP server,
CSRF refusals, rate limits, password reset, change of email, profile."""

from __future__ import annotations

import socket
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import serving
from skyalert.auth.accounts import RESEND_VERIFICATION_AFTER
from skyalert.auth.models import MailToken, User
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import LocalKafka, free_port
from support.auth import DEFAULT_PASSWORD, csrf_of, make_user
from support.email import link_in
from support.smtp import SMTPServer


@pytest.fixture
def portal(settings: Settings, smtp_server: SMTPServer) -> Iterator[str]:
    with serving(settings.model_copy(update={"smtp_url": smtp_server.url})) as url:
        yield url


@pytest.fixture
def browser(portal: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal, timeout=15) as client:
        yield client


def submit(browser: httpx.Client, page: str, action: str, **fields: str) -> httpx.Response:
    return browser.post(action, data={"csrf_token": csrf_of(browser.get(page)), **fields})


def login(browser: httpx.Client, email: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return submit(browser, "/account/login", "/account/login", email=email, password=password)


@pytest.mark.parametrize("token", [None, "forged", "other-browser"])
def test_forms_without_a_valid_csrf_token_are_refused(
    browser: httpx.Client, portal: str, settings: Settings, token: str | None
) -> None:
    user = make_user(settings)
    data = {"email": user.email, "password": DEFAULT_PASSWORD}
    browser.get("/account/login")  # this browser has its CSRF cookie
    if token == "forged":
        data["csrf_token"] = "0" * 64
    elif token == "other-browser":
        with httpx.Client(base_url=portal) as other:
            data["csrf_token"] = csrf_of(other.get("/account/login"))
    refused = browser.post("/account/login", data=data)
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    assert "skyalert_session" not in refused.cookies


def test_cookie_authenticated_api_calls_need_the_csrf_header(
    browser: httpx.Client, settings: Settings
) -> None:
    user = make_user(settings)
    assert login(browser, user.email).status_code == 303
    assert browser.get("/api/v1/credentials").status_code == 200  # reading is safe
    refused = browser.post("/api/v1/credentials", json={"name": "x"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    token = csrf_of(browser.get("/account/credentials"))
    made = browser.post("/api/v1/credentials", json={"name": "x"}, headers={"X-CSRF-Token": token})
    assert made.status_code == 201


def test_signup_with_a_taken_address_looks_the_same_and_mails_the_owner(
    browser: httpx.Client, settings: Settings, smtp_server: SMTPServer
) -> None:
    user = make_user(settings)
    answer = submit(
        browser,
        "/account/signup",
        "/account/signup",
        email=user.email.upper(),
        password="another long password",
    )
    assert answer.status_code == 200
    assert "Check your inbox" in answer.text
    (mail,) = smtp_server.wait_for(1)
    assert mail.recipients == [user.email]
    assert "already has an account" in mail.message.get_content()


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-address", "long enough password", "is not an email address"),
        ("short@example.org", "tiny", "too short"),
    ],
    ids=["bad-email", "short-password"],
)
def test_signup_refusals_say_why(
    browser: httpx.Client, email: str, password: str, message: str
) -> None:
    answer = submit(browser, "/account/signup", "/account/signup", email=email, password=password)
    assert answer.status_code == 422
    assert message in answer.text
    assert password not in answer.text


def test_login_before_verifying_keeps_the_first_link_and_mails_no_duplicates(
    browser: httpx.Client, settings: Settings, smtp_server: SMTPServer
) -> None:
    email = f"unverified-{uuid.uuid4().hex[:8]}@example.org"
    submit(browser, "/account/signup", "/account/signup", email=email, password=DEFAULT_PASSWORD)
    (first,) = smtp_server.wait_for(1)
    for _ in range(3):
        refused = login(browser, email)
        assert refused.status_code == 403
        assert "confirm your email address first" in refused.text
        assert "mailed you at" in refused.text
    # Once the first link is old, a login mails a new one, which says the first still works.
    _age_verification_links(settings, email)
    assert "mailed you a new link" in login(browser, email).text
    assert "mailed you at" in login(browser, email).text
    first_again, second = smtp_server.wait_for(2)
    assert first_again is first
    assert len(smtp_server.messages) == 2
    assert "earlier one still works" in second.message.get_content()
    old_link = link_in(first.message.get_content(), "/account/verify")
    new_link = link_in(second.message.get_content(), "/account/verify")
    assert "Address confirmed" in browser.get(old_link).text  # not killed by the second mail
    assert "Address confirmed" in browser.get(new_link).text
    assert "not valid" in browser.get(new_link).text  # links work once
    assert login(browser, email).status_code == 303


def _age_verification_links(settings: Settings, email: str) -> None:
    engine = make_engine(settings)
    with Session(engine) as session, session.begin():
        user = session.scalars(select(User).where(User.email == email)).one()
        for link in session.scalars(select(MailToken).where(MailToken.user_id == user.id)):
            link.created_at -= RESEND_VERIFICATION_AFTER
    engine.dispose()


def test_wrong_password_is_refused_without_saying_which_part(
    browser: httpx.Client, settings: Settings
) -> None:
    user = make_user(settings)
    wrong = login(browser, user.email, "not the password")
    unknown = login(browser, "nobody@example.org", "not the password")
    assert wrong.status_code == unknown.status_code == 403
    assert "wrong email address or password" in wrong.text
    assert "wrong email address or password" in unknown.text


def test_password_reset_by_mail(
    browser: httpx.Client, settings: Settings, smtp_server: SMTPServer
) -> None:
    user = make_user(settings)
    other = httpx.Client(base_url=str(browser.base_url))
    assert login(other, user.email).status_code == 303
    answer = submit(browser, "/account/reset", "/account/reset", email=user.email)
    assert "Check your inbox" in answer.text
    nobody = submit(browser, "/account/reset", "/account/reset", email="nobody@example.org")
    assert nobody.text.count("Check your inbox") == answer.text.count("Check your inbox")
    (mail,) = smtp_server.wait_for(1)
    link = link_in(mail.message.get_content(), "/account/reset/confirm")
    token = link.split("token=")[1]
    done = submit(
        browser, link, "/account/reset/confirm", token=token, password="a brand new passphrase"
    )
    assert "Password changed" in done.text
    assert login(browser, user.email).status_code == 403
    assert login(browser, user.email, "a brand new passphrase").status_code == 303
    # The reset ended the other browser's session.
    assert other.get("/account").status_code == 303
    other.close()
    reused = submit(
        browser, link, "/account/reset/confirm", token=token, password="yet another passphrase"
    )
    assert reused.status_code == 422


def test_change_of_email_needs_the_new_address_confirmed(
    browser: httpx.Client, settings: Settings, smtp_server: SMTPServer
) -> None:
    user = make_user(settings)
    login(browser, user.email)
    new = f"moved-{user.email}"
    wrong = submit(browser, "/account", "/account/email", email=new, password="wrong password")
    assert wrong.status_code == 403
    asked = submit(browser, "/account", "/account/email", email=new, password=DEFAULT_PASSWORD)
    assert asked.status_code == 200
    assert f"sent a link to {new}" in asked.text
    (mail,) = smtp_server.wait_for(1)
    assert mail.recipients == [new]
    with httpx.Client(base_url=str(browser.base_url)) as early:
        assert login(early, new).status_code == 403  # not confirmed yet
    confirmed = browser.get(link_in(mail.message.get_content(), "/account/email/confirm"))
    assert f"now uses {new}" in confirmed.text
    _, notice = smtp_server.wait_for(2)
    assert notice.recipients == [user.email]
    with httpx.Client(base_url=str(browser.base_url)) as fresh:
        assert login(fresh, new).status_code == 303
        assert login(fresh, user.email).status_code == 403


def test_profile_and_logout(browser: httpx.Client, settings: Settings) -> None:
    user = make_user(settings, groups=["producers.gcn"])
    login(browser, user.email)
    page = browser.get("/account")
    assert "producers.gcn" in page.text
    assert "publish:gcn" in page.text
    saved = submit(
        browser, "/account", "/account/profile", name="Annie <Cannon>", affiliation="Harvard"
    )
    assert "Profile saved" in saved.text
    assert "Annie &lt;Cannon&gt;" in saved.text  # autoescaped
    assert "Annie <Cannon>" not in saved.text
    out = submit(browser, "/account", "/account/logout")
    assert out.status_code == 303
    assert browser.get("/account").status_code == 303


def test_login_redirect_stays_on_this_site(browser: httpx.Client, settings: Settings) -> None:
    user = make_user(settings)
    answer = submit(
        browser,
        "/account/login",
        "/account/login",
        email=user.email,
        password=DEFAULT_PASSWORD,
        next="//evil.example/phish",
    )
    assert answer.headers["location"] == "/account"


def test_rate_limits_count_across_replicas(tmp_path: Path, kafka: LocalKafka) -> None:
    # Its own database: the counters of other tests (all from 127.0.0.1) do not interfere.
    limited = Settings(
        var_dir=tmp_path,
        kafka_bootstrap=kafka.bootstrap,
        kafka_acls=False,
        rate_limit_login="3/minute",
        rate_limit_token="2/minute",
        rate_limit_signup="2/hour",
        rate_limit_password_reset="1/hour",
    )
    engine = make_engine(limited)
    migrate.upgrade(engine)
    engine.dispose()
    user = make_user(limited)
    # Two replicas of the app share the counters in the database.
    with serving(limited) as one, serving(limited) as two:
        replicas = [httpx.Client(base_url=url) for url in (one, two)]
        try:
            logins = [
                login(replicas[i % 2], user.email, "wrong password").status_code for i in range(4)
            ]
            right = login(replicas[0], user.email)  # the limit holds for good passwords too
            signups = [
                submit(
                    replicas[i % 2],
                    "/account/signup",
                    "/account/signup",
                    email=f"new{i}@example.org",
                    password=DEFAULT_PASSWORD,
                ).status_code
                for i in range(3)
            ]
            resets = [
                submit(
                    replicas[i % 2], "/account/reset", "/account/reset", email=user.email
                ).status_code
                for i in range(2)
            ]
        finally:
            for replica in replicas:
                replica.close()
        data = {"grant_type": "client_credentials"}
        tokens = [
            httpx.post(f"{url}/oauth2/token", data=data, auth=("ratelimited", "x"))
            for url in (one, two, one)
        ]
    assert logins == [403, 403, 403, 429]
    assert right.status_code == 429
    assert "too many failed logins" in right.text
    assert int(right.headers["retry-after"]) >= 1
    assert signups == [200, 200, 429]
    assert resets == [200, 429]
    assert [t.status_code for t in tokens] == [401, 401, 429]
    assert tokens[2].headers["content-type"] == "application/problem+json"
    assert int(tokens[2].headers["retry-after"]) >= 1
    assert "too many token requests" in tokens[2].json()["detail"]


@pytest.fixture
def argon2_work(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the password hashes and checks the app runs (it serves in this process)."""
    work: Counter[str] = Counter()
    for name in ("hash", "verify"):
        original = getattr(PasswordHasher, name)

        def counted(
            self: PasswordHasher,
            *args: str,
            _original: Callable[..., object] = original,
            _name: str = name,
        ) -> object:
            work[_name] += 1
            return _original(self, *args)

        monkeypatch.setattr(PasswordHasher, name, counted)
    return work


def _work_of(work: Counter[str], action: Callable[[], object]) -> int:
    before = sum(work.values())
    action()
    return sum(work.values()) - before


def test_known_and_unknown_addresses_cost_the_same_password_work(
    browser: httpx.Client, settings: Settings, argon2_work: Counter[str]
) -> None:
    user = make_user(settings)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.org"
    new_password = "another long password"

    def signup(address: str) -> Callable[[], object]:
        return lambda: submit(
            browser, "/account/signup", "/account/signup", email=address, password=new_password
        )

    wrong = _work_of(argon2_work, lambda: login(browser, user.email, "not the password"))
    nobody = _work_of(argon2_work, lambda: login(browser, unknown, "not the password"))
    assert wrong == nobody == 1
    taken = _work_of(argon2_work, signup(user.email))
    fresh = _work_of(argon2_work, signup(unknown))
    assert taken == fresh == 1


def test_account_mails_leave_the_request_path(settings: Settings) -> None:
    """A mail server that never answers must not hold up sign-up or reset answers (their
    time would tell taken addresses from free ones)."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        smtp_url = f"smtp://127.0.0.1:{silent.getsockname()[1]}"
        with (
            serving(settings.model_copy(update={"smtp_url": smtp_url})) as url,
            httpx.Client(base_url=url, timeout=8) as client,
        ):
            user = make_user(settings)
            for address in (user.email, f"new-{uuid.uuid4().hex[:8]}@example.org"):
                answer = submit(
                    client,
                    "/account/signup",
                    "/account/signup",
                    email=address,
                    password=DEFAULT_PASSWORD,
                )
                assert "Check your inbox" in answer.text
            answer = submit(client, "/account/reset", "/account/reset", email=user.email)
            assert "Check your inbox" in answer.text


def _logged_in(browser: httpx.Client, settings: Settings) -> None:
    assert login(browser, make_user(settings).email).status_code == 303


def test_a_planted_csrf_cookie_cannot_forge_a_logged_in_form(
    browser: httpx.Client, portal: str, settings: Settings
) -> None:
    _logged_in(browser, settings)
    with httpx.Client(base_url=portal) as attacker:
        token = csrf_of(attacker.get("/account/login"))
        planted = attacker.cookies["skyalert_csrf"]
    browser.cookies.set("skyalert_csrf", planted)
    forged = browser.post("/account/profile", data={"csrf_token": token, "name": "Mallory"})
    assert forged.status_code == 403
    assert "CSRF" in forged.text
    assert "Mallory" not in browser.get("/account").text


def test_a_cross_site_origin_is_refused_even_with_a_good_token(
    browser: httpx.Client, settings: Settings
) -> None:
    _logged_in(browser, settings)
    token = csrf_of(browser.get("/account"))
    for origin in ("https://evil.example", "null"):
        forged = browser.post(
            "/account/profile",
            data={"csrf_token": token, "name": "Mallory"},
            headers={"Origin": origin},
        )
        assert forged.status_code == 403
        assert "another site" in forged.text
    own = browser.post(
        "/account/profile",
        data={"csrf_token": token, "name": "Annie"},
        headers={"Origin": str(browser.base_url).rstrip("/")},
    )
    assert "Profile saved" in own.text


def test_over_https_the_csrf_cookie_has_the_host_prefix(settings: Settings) -> None:
    port = free_port()
    secure = settings.model_copy(update={"public_url": f"https://127.0.0.1:{port}"})
    with serving(secure, port) as url:
        cookie = httpx.get(f"{url}/account/login").headers["set-cookie"]
    assert cookie.startswith("__Host-skyalert_csrf=")
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"secure", "path=/"} <= attributes
    assert not any(a.startswith("domain") for a in attributes)


def test_account_pages_are_never_cached(browser: httpx.Client, settings: Settings) -> None:
    _logged_in(browser, settings)
    for path in ("/account", "/account/credentials", "/account/login"):
        assert browser.get(path).headers["cache-control"] == "no-store", path
    made = submit(browser, "/account/credentials", "/account/credentials", name="cached?")
    assert made.headers["cache-control"] == "no-store"
    assert "cache-control" not in browser.get("/topics").headers
