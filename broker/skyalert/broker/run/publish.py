"""``skyalert publish``: send one alert file to a skyalert server with a producer credential.

Gets a token by client credentials (HTTP Basic, scope ``publish:<namespace>``) from the
server's ``/oauth2/token``, then posts the file to ``/api/v1/topics/{topic}/alerts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from skyalert.broker.core.errors import SkyalertError
from skyalert.schemas.formats import sniff


class PublishError(SkyalertError):
    """The server refused the alert or the credentials; the message says why."""


@dataclass(frozen=True)
class Published:
    alert_id: str
    topic: str
    created: bool
    published: bool


def guess_content_type(payload: bytes) -> str:
    """The media type of the format the payload looks like (see :func:`formats.sniff`)."""
    return sniff(payload).content_type.value


def describe_problem(response: httpx.Response) -> str:
    """A problem+json answer as lines a person can act on."""
    try:
        problem: Any = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    if not isinstance(problem, dict):
        return f"HTTP {response.status_code}: {problem}"
    lines = [f"HTTP {response.status_code}: {problem.get('detail') or problem.get('title')}"]
    for violation in problem.get("violations") or []:
        lines.append(f"  {violation.get('path') or '/'}: {violation.get('message')}")
    for error in problem.get("errors") or []:
        where = f"line {error.get('line')}" if error.get("line") is not None else "document"
        lines.append(f"  {where}: {error.get('message')}")
    if problem.get("error_description") or problem.get("error"):  # OAuth2 error responses
        lines.append(f"  {problem.get('error')}: {problem.get('error_description', '')}")
    return "\n".join(lines)


def get_token(http: httpx.Client, server: str, client_id: str, secret: str, scope: str) -> str:
    try:
        response = http.post(
            f"{server}/oauth2/token",
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(client_id, secret),
        )
    except httpx.HTTPError as exc:
        raise PublishError(f"cannot reach {server}: {exc}") from exc
    if response.status_code != 200:
        raise PublishError(
            f"the token endpoint refused the credential {client_id} for {scope} "
            f"(does it hold that scope?)\n{describe_problem(response)}"
        )
    return str(response.json()["access_token"])


def publish(
    server: str,
    credential: tuple[str, str],
    topic: str,
    payload: bytes,
    *,
    content_type: str | None = None,
    idempotency_key: str | None = None,
    timeout: float = 30.0,
) -> Published:
    """Publish ``payload`` to ``topic`` with the producer credential ``(client_id, secret)``."""
    client_id, client_secret = credential
    server = server.rstrip("/")
    namespace = topic.split(".", 1)[0]
    with httpx.Client(timeout=timeout) as http:
        token = get_token(http, server, client_id, client_secret, f"publish:{namespace}")
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": content_type or guess_content_type(payload),
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = http.post(
                f"{server}/api/v1/topics/{quote(topic, safe='')}/alerts",
                content=payload,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise PublishError(f"the alert could not be sent to {server}: {exc}") from exc
    if response.status_code not in (200, 201):
        raise PublishError(f"{topic} refused the alert: {describe_problem(response)}")
    body = response.json()
    return Published(body["id"], body["topic"], response.status_code == 201, body["published"])
