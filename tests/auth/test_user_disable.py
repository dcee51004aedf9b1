"""An operator disables an account: sessions, tokens, the token endpoint and Kafka all refuse it."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from skyalert.broker.core.settings import Settings
from support.auth import DEFAULT_PASSWORD, get_token, make_credential, make_user


def skyalert(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SKYALERT_DATABASE_URL": settings.sqlalchemy_url,
        "SKYALERT_VAR_DIR": str(settings.var_dir),
        "SKYALERT_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
    }
    return subprocess.run(
        [sys.executable, "-m", "skyalert.broker.run.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_disabled_account_is_refused_everywhere_until_enabled(
    settings: Settings, app_url: str
) -> None:
    user = make_user(settings)
    client = make_credential(settings, user, "all")
    token = get_token(app_url, *client)
    session = httpx.Client(base_url=app_url, timeout=10)
    page = session.get("/account/login")
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    logged_in = session.post(
        "/account/login",
        data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": csrf},
    )
    assert logged_in.status_code == 303
    assert session.get("/api/v1/credentials").status_code == 200

    done = skyalert(settings, "users", "disable", user.email)
    assert done.returncode == 0, done.stderr
    assert "is now disabled" in done.stdout
    assert "was already disabled" in skyalert(settings, "users", "disable", user.email).stdout

    bearer = {"Authorization": f"Bearer {token}"}
    refused = httpx.get(f"{app_url}/api/v1/credentials", headers=bearer, timeout=10)
    assert refused.status_code == 401
    assert "disabled" in refused.json()["detail"]
    assert session.get("/api/v1/credentials").status_code == 401  # logged out everywhere
    issued = httpx.post(
        f"{app_url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=client,
        timeout=10,
    )
    assert issued.status_code == 401
    page = session.get("/account/login")
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    again = session.post(
        "/account/login",
        data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": csrf},
    )
    assert again.status_code == 403
    assert "disabled" in again.text

    assert skyalert(settings, "users", "enable", user.email).returncode == 0
    fresh = get_token(app_url, *client)
    ok = httpx.get(
        f"{app_url}/api/v1/credentials", timeout=10, headers={"Authorization": f"Bearer {fresh}"}
    )
    assert ok.status_code == 200
    session.close()
