"""Ready-to-run code for the quickstart: the subscriber's credential, topics and format filled in.

Every snippet is built from this deployment's discovery document, so it connects the way a
client of this server must (OAUTHBEARER over SASL in production, plain locally). Values are
quoted for their language (JSON string literals are valid Python and JavaScript literals).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Format = Literal["json", "voevent"]
#: Shown instead of a secret the portal no longer knows (an existing credential's).
SECRET_PLACEHOLDER = "YOUR_CLIENT_SECRET"  # noqa: S105 - a placeholder, not a secret


@dataclass(frozen=True)
class Snippet:
    key: str
    title: str
    language: str
    filename: str
    intro: str
    code: str


@dataclass(frozen=True)
class Request:
    """What the subscriber chose: ``discovery`` is the server's ``/.well-known/skyalert``."""

    discovery: dict[str, Any]
    client_id: str
    client_secret: str | None
    topics: Sequence[str]
    format: Format
    #: How the subscriber wants alerts: "kafka" or "websocket" (the live feed).
    channel: str = "kafka"

    @property
    def secret(self) -> str:
        return self.client_secret or SECRET_PLACEHOLDER

    @property
    def sasl(self) -> bool:
        return str(self.discovery["kafka"]["security_protocol"]).startswith("SASL")


def _q(value: str) -> str:
    return json.dumps(value)


def install_line(request: Request) -> str:
    """This server hands out its own client (web/portal/client_index.py)."""
    return f"pip install --extra-index-url {request.discovery['server']}/simple skyalert-client"


def group_of(request: Request, snippet: str) -> str:
    """Each snippet its own consumer group, named after the client id as the server requires
    and distinct from ``skyalert-client listen``'s (``<id>.cli``): run several, each gets
    every alert (one group's members would split them)."""
    return f"{request.client_id}.{snippet}"


def librdkafka_config(request: Request, snippet: str) -> dict[str, str]:
    """The consumer properties any librdkafka (or Java) client needs for this server."""
    kafka = request.discovery["kafka"]
    config = {
        "bootstrap.servers": str(kafka["bootstrap_servers"]),
        "security.protocol": str(kafka["security_protocol"]),
    }
    if request.sasl:
        config |= {
            "sasl.mechanisms": str(kafka.get("sasl_mechanism", "OAUTHBEARER")),
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.client.id": request.client_id,
            "sasl.oauthbearer.client.secret": request.secret,
            "sasl.oauthbearer.token.endpoint.url": str(request.discovery["token_endpoint"]),
        }
    config |= {
        "group.id": group_of(request, snippet),
        "auto.offset.reset": "earliest",
    }
    return config


def python_client(request: Request) -> str:
    topics = ", ".join(_q(t) for t in request.topics)
    return f"""# {install_line(request)}
from skyalert.client import Consumer

consumer = Consumer(
    client_id={_q(request.client_id)},
    client_secret={_q(request.secret)},
    server={_q(request.discovery["server"])},
    # This program's own group: `skyalert-client listen` uses another, so both get every alert.
    group_id={_q(group_of(request, "python"))},
)
# Alerts arrive oldest unread first; stop (Ctrl-C) and start again to continue where you stopped.
try:
    for alert in consumer.alerts([{topics}], format={_q(request.format)}):
        position = (alert.payload.get("ra"), alert.payload.get("dec"))
        print(alert.topic, alert.id, alert.time.isoformat(), position, flush=True)
finally:
    consumer.close()
"""


def python_stream(request: Request) -> str:
    topics = ", ".join(_q(t) for t in request.topics)
    return f"""# {install_line(request)}
import asyncio

from skyalert.client import stream


async def main() -> None:
    # The newest 5 alerts, then live ones. It reconnects and resumes by itself; to continue
    # after a restart, save alert.cursor and pass it as since= next time.
    async with stream(
        {_q(request.discovery["server"])},
        {_q(request.client_id)},
        {_q(request.secret)},
        [{topics}],
        format={_q(request.format)},
        since={{"last": 5}},
    ) as alerts:
        async for alert in alerts:
            position = (alert.payload.get("ra"), alert.payload.get("dec"))
            print(alert.topic, alert.id, alert.time.isoformat(), position, flush=True)


try:
    asyncio.run(main())
except KeyboardInterrupt:
    pass
"""


def python_confluent(request: Request) -> str:
    config = "\n".join(
        f"    {_q(k)}: {_q(v)}," for k, v in librdkafka_config(request, "confluent").items()
    )
    topics = ", ".join(_q(t) for t in request.topics)
    return f"""# pip install confluent-kafka
from confluent_kafka import Consumer

consumer = Consumer({{
{config}
}})
consumer.subscribe([{topics}])
try:
    while True:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            print("error:", message.error(), flush=True)
            continue
        headers = dict(message.headers() or [])
        alert_id = headers.get("alert-id", b"").decode("utf-8", "replace")
        # The value is the alert as published: JSON, or VOEvent XML on VOEvent topics.
        print(message.topic(), alert_id, message.value()[:200], flush=True)
finally:
    consumer.close()
"""


def cli(request: Request) -> str:
    topics = " ".join(shlex.quote(t) for t in request.topics)
    voevent = " --format voevent" if request.format == "voevent" else ""
    websocket = " --websocket" if request.channel == "websocket" else ""
    return f"""{install_line(request)}
export SKYALERT_CLIENT_SERVER={shlex.quote(str(request.discovery["server"]))}
export SKYALERT_CLIENT_ID={shlex.quote(request.client_id)}
export SKYALERT_CLIENT_SECRET={shlex.quote(request.secret)}
skyalert-client listen --pretty{websocket}{voevent} {topics}
"""


def javascript(request: Request) -> str:
    topics = ", ".join(_q(t) for t in request.topics)
    basic = f"{request.client_id}:{request.secret}"
    return f"""// Node 22+ as is (fetch and WebSocket are built in), or a page of your own site.
// Keep the secret out of pages others can read: fetch the token on your server instead.
const tokenResponse = await fetch({_q(str(request.discovery["token_endpoint"]))}, {{
  method: "POST",
  headers: {{
    Authorization: "Basic " + btoa({_q(basic)}),
    "Content-Type": "application/x-www-form-urlencoded",
  }},
  body: "grant_type=client_credentials",
}});
const {{ access_token }} = await tokenResponse.json();

const socket = new WebSocket({_q(str(request.discovery["stream_url"]))});
socket.onopen = () => {{
  socket.send(JSON.stringify({{ type: "auth", token: access_token }}));
  socket.send(JSON.stringify({{
    type: "subscribe", topics: [{topics}], format: {_q(request.format)}, since: "now",
  }}));
}};
socket.onmessage = (event) => {{
  const message = JSON.parse(event.data);
  if (message.type === "alert") {{
    console.log(message.topic, message.id, message.alert ?? message.xml);
  }}
  if (message.type === "error") console.error(message.message);
}};
"""


def properties(request: Request) -> str:
    lines = [f"{k}={v}" for k, v in librdkafka_config(request, "kafka").items()]
    topics = ", ".join(request.topics)
    return (
        "# librdkafka (C, C++, Go, .NET, Rust …) consumer properties; subscribe to:\n"
        f"# {topics}\n" + "\n".join(lines) + "\n"
    )


def snippets(request: Request) -> list[Snippet]:
    return [
        Snippet(
            "python-client",
            "Python with skyalert-client",
            "python",
            "skyalert_listen.py",
            "The shortest way: the client library finds everything from the server URL.",
            python_client(request),
        ),
        Snippet(
            "python-stream",
            "Python over WebSocket",
            "python",
            "skyalert_stream.py",
            "The live feed with skyalert-client: only outbound HTTPS needed.",
            python_stream(request),
        ),
        Snippet(
            "python-confluent",
            "Python with confluent-kafka",
            "python",
            "kafka_listen.py",
            "Plain confluent-kafka, every librdkafka option in view.",
            python_confluent(request),
        ),
        Snippet(
            "cli",
            "Command line",
            "shell",
            "listen.sh",
            "Print alerts in a terminal with the skyalert-client command.",
            cli(request),
        ),
        Snippet(
            "javascript",
            "JavaScript (WebSocket)",
            "javascript",
            "listen.mjs",
            "The live feed over a WebSocket, for browsers and Node.",
            javascript(request),
        ),
        Snippet(
            "properties",
            "librdkafka properties",
            "properties",
            "consumer.properties",
            "For Kafka clients in other languages.",
            properties(request),
        ),
    ]
