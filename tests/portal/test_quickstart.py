"""The quickstart wizard in a browser, and its generated code run as generated."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from skyalert.auth.models import User
from skyalert.broker.core.settings import Settings
from support.auth import make_credential
from support.browser import accessibility_problems, screenshot
from support.ingest import GUANO_TOPIC
from support.processes import running
from support.stream import guano, post_json

VENV_BIN = Path(sys.executable).parent


def generate(page: Page, topics: list[str], fmt: str = "json") -> None:
    page.goto("/quickstart")
    for topic in topics:
        page.locator(f'input[name="topic"][value="{topic}"]').check()
    page.locator(f'input[name="format"][value="{fmt}"]').check()
    page.get_by_role("button", name="Generate my code").click()
    page.wait_for_selector("#code-python-client")


def publish(publisher: httpx.Client) -> str:
    return post_json(publisher, guano(f"m{uuid.uuid4().hex[:10]}"))


def user_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: no credential, private client folders, the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYALERT_")}
    env |= {
        "SKYALERT_CLIENT_CACHE_DIR": str(tmp_path / "cache"),
        "SKYALERT_CLIENT_CONFIG_DIR": str(tmp_path / "config"),
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    }
    return env


@pytest.mark.slow
def test_generated_python_runs_and_prints_a_published_alert(
    local_member_page: Page, publisher: httpx.Client, tmp_path: Path
) -> None:
    local_page = local_member_page
    local_page.goto("/quickstart")
    assert accessibility_problems(local_page) == []
    screenshot(local_page, "quickstart")
    generate(local_page, [GUANO_TOPIC])
    assert accessibility_problems(local_page) == []
    screenshot(local_page, "quickstart-code")
    secret = local_page.locator("#client-secret").inner_text()
    assert secret in local_page.locator("#code-python-client").inner_text()
    env = user_env(tmp_path)
    for key in ("python-client", "python-stream", "python-confluent"):
        script = tmp_path / f"{key}.py"
        script.write_text(local_page.locator(f"#code-{key}").inner_text())
        with running([sys.executable, str(script)], env) as program:
            alert_id = publish(publisher)
            line = program.wait_for(alert_id)
        assert GUANO_TOPIC in line, key


@pytest.mark.slow
def test_generated_command_line_runs(
    local_member_page: Page, publisher: httpx.Client, tmp_path: Path
) -> None:
    local_page = local_member_page
    generate(local_page, [GUANO_TOPIC])
    script = tmp_path / "listen.sh"
    script.write_text(local_page.locator("#code-cli").inner_text())
    with running(["bash", "-e", str(script)], user_env(tmp_path)) as program:
        alert_id = publish(publisher)
        program.wait_for(alert_id)


def test_topics_show_rates_and_a_running_total(local_member_page: Page) -> None:
    local_page = local_member_page
    local_page.goto(f"/quickstart?topic={GUANO_TOPIC}")
    assert local_page.locator(f'input[value="{GUANO_TOPIC}"]').is_checked()
    assert local_page.locator("#total-topics").inner_text() == "1"
    local_page.locator('input[value="igwn.gwalert"]').check()
    assert local_page.locator("#total-topics").inner_text() == "2"
    assert "per day" in local_page.locator(f'label:has(input[value="{GUANO_TOPIC}"])').inner_text()


def test_any_topic_of_a_long_catalog_can_be_found_and_picked(local_member_page: Page) -> None:
    local_page = local_member_page
    local_page.goto("/quickstart")
    name = "gcn.classic.text.FERMI_GBM_GND_POS"
    local_page.get_by_label("Search topics").fill("fermi gnd text")
    visible = local_page.locator("label.topic-choice:visible")
    assert visible.count() >= 1
    local_page.locator(f'input[value="{name}"]').check()
    assert local_page.locator("#total-topics").inner_text() == "1"
    local_page.get_by_label("Search topics").fill("")
    assert local_page.locator("label.topic-choice:visible").count() > 200
    assert local_page.locator(f'input[value="{name}"]').is_checked()


def test_existing_credential_leaves_the_secret_to_fill_in(
    local_member_page: Page, settings: Settings, member: User
) -> None:
    local_page = local_member_page
    client_id, _secret = make_credential(settings, member, "all")
    local_page.goto("/quickstart")
    local_page.locator(f'input[name="credential"][value="{client_id}"]').check()
    local_page.locator(f'input[name="topic"][value="{GUANO_TOPIC}"]').check()
    local_page.locator('input[name="channel"][value="websocket"]').check()
    local_page.get_by_role("button", name="Generate my code").click()
    assert local_page.locator("#client-secret").count() == 0
    code = local_page.locator("#code-python-client").inner_text()
    assert f'client_id="{client_id}"' in code
    assert 'client_secret="YOUR_CLIENT_SECRET"' in code
    command = local_page.locator("#code-cli").inner_text()
    assert "skyalert-client listen --pretty --websocket" in command
    # The WebSocket channel puts the live-feed snippets first.
    shown = local_page.locator("section[data-snippet]")
    assert [shown.nth(i).get_attribute("data-snippet") for i in range(2)] == [
        "javascript",
        "python-stream",
    ]


def test_wizard_refuses_bad_choices(local_member_page: Page) -> None:
    local_page = local_member_page
    local_page.goto("/quickstart")
    local_page.get_by_role("button", name="Generate my code").click()
    assert "pick at least one topic" in local_page.locator("#form-errors").inner_text()
    local_page.locator(f'input[name="topic"][value="{GUANO_TOPIC}"]').check()
    local_page.get_by_label("named").fill("")
    local_page.get_by_role("button", name="Generate my code").click()
    assert "give the new credential a name" in local_page.locator("#form-errors").inner_text()


def test_quickstart_refuses_a_post_without_the_csrf_token(
    local_member_page: Page, local_url: str
) -> None:
    local_page = local_member_page
    cookies = {c["name"]: c["value"] for c in local_page.context.cookies()}
    form = {"credential": "new", "name": "forged", "topic": GUANO_TOPIC}
    forged = httpx.post(f"{local_url}/quickstart", data=form, cookies=cookies)
    assert forged.status_code == 403
    assert "CSRF" in forged.text
    wrong = httpx.post(
        f"{local_url}/quickstart", data={**form, "csrf_token": "0" * 64}, cookies=cookies
    )
    assert wrong.status_code == 403


def test_anonymous_visitors_are_asked_to_log_in(page: Page) -> None:
    page.goto("/quickstart")
    assert "log in" in page.locator("#login-needed").inner_text()
    assert page.locator("#quickstart-form").count() == 0
