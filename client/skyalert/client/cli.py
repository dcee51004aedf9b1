"""``skyalert-client``: log in once, list topics, listen to alerts, publish one."""

from __future__ import annotations

__all__ = ["main"]

import argparse
import asyncio
import getpass
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from skyalert.client.alert import Alert
from skyalert.client.catalog import fetch_catalog
from skyalert.client.config import ENV_PREFIX, default_group_id
from skyalert.client.consumer import STALL_TIMEOUT, Consumer
from skyalert.client.discovery import fetch_discovery, normalise_server
from skyalert.client.errors import ConfigurationError, SkyalertClientError
from skyalert.client.filters import Filter, compile_filter, parse_filter
from skyalert.client.login import Login, load_login, login_file, save_login
from skyalert.client.output import write_file, write_line, write_pretty
from skyalert.client.places import SavedPlace
from skyalert.client.publish import content_type_for, publish
from skyalert.client.shutdown import GracefulStop
from skyalert.client.stream import Since, Stream, stream
from skyalert.client.tokens import fetch_token
from skyalert.client.version import __version__

PROG = "skyalert-client"

EPILOG = f"""\
Credentials come from --server/--client-id, then {ENV_PREFIX}SERVER, {ENV_PREFIX}ID and
{ENV_PREFIX}SECRET, then what `{PROG} login` stored. Details: `{PROG} COMMAND --help`.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format=f"{PROG}: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.run(args)
    except SkyalertClientError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug or a library's surprise: still one line, details with -v
        logging.getLogger(__name__).info("what went wrong:", exc_info=True)
        print(
            f"{PROG}: error: {type(exc).__name__}: {exc} (run with -v for the details, and "
            "report it if it looks like a bug)",
            file=sys.stderr,
        )
        return 1
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Receive astronomical alerts from a skyalert server, and publish them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="say more on stderr")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    login = commands.add_parser(
        "login",
        help="store a server URL and credential (checked by getting a token)",
        description="Store the server URL and a credential (client id and secret from the "
        "portal) in your config folder, readable by you only. The secret is read from "
        f"{ENV_PREFIX}SECRET, else asked for (or read from stdin when it is not a terminal).",
    )
    _connection_options(login)
    login.set_defaults(run=run_login)

    topics = commands.add_parser(
        "topics", help="list the server's topics", description="The server's topic catalog."
    )
    _connection_options(topics)
    topics.add_argument("--json", action="store_true", help="print the catalog as JSON")
    topics.set_defaults(run=run_topics)

    listen = commands.add_parser(
        "listen",
        help="print alerts as they arrive (over Kafka or the WebSocket live feed)",
        description="Receive alerts over Kafka (default) or the WebSocket live feed "
        "(--websocket) and print them, oldest unread first. Your place is kept: stop and start "
        "again, and you continue where you stopped.",
    )
    _connection_options(listen)
    listen.add_argument(
        "topics",
        nargs="+",
        metavar="TOPIC",
        help="topic names (see `topics`); with --websocket, * is a wildcard",
    )
    listen.add_argument(
        "--websocket",
        action="store_true",
        help="receive over the server's WebSocket live feed (HTTPS only, no Kafka port needed)",
    )
    listen.add_argument(
        "--since",
        metavar="WHEN",
        help="with --websocket: where to start instead of where you stopped: now, last:N, "
        "a duration (30m, 6h, 2d), an ISO 8601 time, or a cursor",
    )
    listen.add_argument(
        "--filter",
        metavar="JSON",
        help='only alerts matching this filter, e.g. \'{"cone": {"ra": 150, "dec": 30, '
        '"radius": 5}}\'',
    )
    listen.add_argument(
        "--format",
        choices=("json", "voevent"),
        default="json",
        help="json: every alert as JSON (default); voevent: VOEvent alerts as their XML",
    )
    listen.add_argument("--tests", action="store_true", help="include test alerts")
    listen.add_argument("--pretty", action="store_true", help="readable output, not JSON lines")
    listen.add_argument(
        "--out-dir", type=Path, metavar="DIR", help="write each alert to DIR/TOPIC/ID.json|.xml"
    )
    listen.add_argument(
        "--group-id",
        help="Kafka consumer group (default: <your client id>.cli, distinct from the "
        "library's and the quickstart snippets'; Kafka only)",
    )
    listen.add_argument(
        "--count", type=int, metavar="N", help="stop after N alerts (default: run until Ctrl-C)"
    )
    listen.add_argument(
        "--stall-timeout",
        type=float,
        metavar="SECONDS",
        help=f"fail when nothing, not even the heartbeat, arrives for this long "
        f"(default {STALL_TIMEOUT:g}; 0 turns the check off; Kafka only)",
    )
    listen.add_argument(
        "--reconnect",
        action="store_true",
        help="on a stall, reconnect instead of failing (Kafka only; the live feed always does)",
    )
    listen.add_argument(
        "-X",
        dest="kafka_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any librdkafka option, e.g. -X fetch.wait.max.ms=100 (repeatable; Kafka only)",
    )
    listen.set_defaults(run=run_listen)

    publish_cmd = commands.add_parser(
        "publish",
        help="publish one alert over HTTP (for producers)",
        description="Publish one alert: JSON for JSON topics, VOEvent XML for VOEvent topics. "
        "Needs a credential with publish:<namespace>.",
    )
    _connection_options(publish_cmd)
    publish_cmd.add_argument("topic", metavar="TOPIC")
    publish_cmd.add_argument("file", metavar="FILE", help="the alert; - reads stdin")
    publish_cmd.add_argument(
        "--content-type", help="default: from the file name (.json, .xml) or its first character"
    )
    publish_cmd.add_argument(
        "--idempotency-key", metavar="KEY", help="publishing again with the same key is a no-op"
    )
    publish_cmd.set_defaults(run=run_publish)
    return parser


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help=f"server URL (default: {ENV_PREFIX}SERVER or the login)")
    parser.add_argument("--client-id", help=f"client id (default: {ENV_PREFIX}ID or the login)")


# --- commands -----------------------------------------------------------------------------


def run_login(args: argparse.Namespace) -> int:
    server = normalise_server(
        args.server or os.environ.get(f"{ENV_PREFIX}SERVER") or _ask("Server URL: ")
    )
    discovery = fetch_discovery(server, refresh=True)
    client_id = args.client_id or os.environ.get(f"{ENV_PREFIX}ID") or _ask("Client id: ")
    secret = os.environ.get(f"{ENV_PREFIX}SECRET") or _ask("Client secret: ", secret=True)
    token = fetch_token(discovery.token_endpoint, client_id, secret)
    path = save_login(Login(server, client_id, secret))
    scopes = ", ".join(token.scopes) or "none listed"
    print(f"Logged in to {server} as {client_id} (scopes: {scopes}).")
    print(f"Saved to {path} (readable by you only).")
    return 0


def run_topics(args: argparse.Namespace) -> int:
    server, _client_id, _secret = _credentials(args, need_secret=False)
    catalog = fetch_catalog(fetch_discovery(server), refresh=True)
    if args.json:
        print(json.dumps([vars(topic) for topic in catalog.topics], indent=2))
        return 0
    rows = [("TOPIC", "FORMAT", "ACCESS", "TITLE")]
    rows += [(t.name, t.format, t.read_scope, t.title) for t in catalog.topics]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)),
            row[3],
            sep="  ",
        )
    return 0


def run_listen(args: argparse.Namespace) -> int:
    matcher = parse_filter(args.filter) if args.filter else None
    if args.count is not None and args.count < 1:
        raise ConfigurationError("--count must be 1 or more")
    if args.websocket:
        return _listen_websocket(args, matcher)
    if args.since is not None:
        raise ConfigurationError(
            "--since is for --websocket; over Kafka your group keeps your place (use a new "
            "--group-id to read the retained alerts again)"
        )
    server, client_id, secret = _credentials(args, need_secret=False)
    options = _kafka_options(args.kafka_options)
    # Its own group: a library program with the same credential must not split the alerts.
    options["group.id"] = (
        args.group_id or options.get("group.id") or default_group_id(client_id, "cli")
    )
    # A stop (Ctrl-C, kill, systemd, docker stop) never cuts an alert in half, and leaves the
    # group at once, so a restarted listener need not wait for Kafka to notice this one is gone.
    with GracefulStop() as stop:
        consumer = Consumer(client_id, secret, server, options)
        received = 0
        try:
            for alert in consumer.alerts(
                args.topics,
                format=args.format,
                include_tests=args.tests,
                filter=matcher,
                stall_timeout=_stall_timeout(args.stall_timeout),
                on_stall="reconnect" if args.reconnect else "raise",
            ):
                with stop.handling():
                    _write(alert, args)
                    consumer.commit_alert(alert)
                received += 1
                if args.count is not None and received >= args.count:
                    break
        finally:
            consumer.close()
    return 0


def _stall_timeout(option: float | None) -> float | None:
    if option is None:
        return STALL_TIMEOUT
    return option or None


def _listen_websocket(args: argparse.Namespace, matcher: Filter | None) -> int:
    kafka_only = {
        "--group-id": args.group_id is not None,
        "--stall-timeout": args.stall_timeout is not None,
        "--reconnect": args.reconnect,
        "-X": bool(args.kafka_options),
    }
    used = [name for name, given in kafka_only.items() if given]
    if used:
        raise ConfigurationError(
            f"{', '.join(used)} {'is' if len(used) == 1 else 'are'} for Kafka, not --websocket"
        )
    server, client_id, secret = _credentials(args, need_secret=True)
    client_id, secret = client_id or "", secret or ""  # need_secret made sure of both
    place = SavedPlace.of(server, client_id, args.topics, compile_filter(matcher), args.tests)
    since: Since = _since_option(args.since) if args.since is not None else place.load()
    if args.since is None and since is not None:
        logging.getLogger(__name__).info("resuming after %s (from %s)", since, place.path)
    alerts = stream(
        server,
        client_id,
        secret,
        args.topics,
        matcher,
        since=since,
        format=args.format,
        include_tests=args.tests,
    )
    return asyncio.run(_write_stream(alerts, place, args))


async def _write_stream(alerts: Stream, place: SavedPlace, args: argparse.Namespace) -> int:
    """Write alerts as they come; a signal stops at the next wait, never mid-alert."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    stopped: list[int] = []

    def stop(signum: int) -> None:
        stopped.append(signum)
        main.cancel()

    # Signals can be caught in the main thread only (a program may run this elsewhere).
    signals = GracefulStop.SIGNALS if threading.current_thread() is threading.main_thread() else ()
    for signum in signals:
        loop.add_signal_handler(signum, stop, signum)
    received = 0
    try:
        async with alerts:
            async for alert in alerts:
                _write(alert, args)
                place.save(alert.cursor or alert.id)
                received += 1
                if args.count is not None and received >= args.count:
                    break
    except asyncio.CancelledError:
        if not stopped:
            raise
        return 128 + stopped[0]
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
    return 0


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _since_option(text: str) -> Since:
    """``--since``: now, last:N, a duration, an ISO 8601 time, or a cursor."""
    value = text.strip()
    if value == "now":
        return "now"
    kind, sep, count = value.partition(":")
    if sep and kind == "last":
        if not count.isdigit():
            raise ConfigurationError(f"--since last:N needs a whole number, not {count!r}")
        return {"last": int(count)}
    duration = _DURATION.match(value)
    if duration:
        return timedelta(**{_UNITS[duration[2]]: float(duration[1])})
    if len(value) == 26 and value.isalnum():  # an alert id, as cursors are
        return value.upper()
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ConfigurationError(
            f"--since {text!r}: give now, last:N, a duration such as 30m or 6h, an ISO 8601 "
            "time such as 2026-01-01T00:00:00Z, or the cursor of an alert"
        ) from None


def _write(alert: Alert, args: argparse.Namespace) -> None:
    if args.out_dir is not None:
        print(write_file(alert, args.format, args.out_dir), flush=True)
    elif args.pretty:
        write_pretty(alert, args.format, sys.stdout)
    else:
        write_line(alert, args.format, sys.stdout)


def run_publish(args: argparse.Namespace) -> int:
    server, client_id, secret = _credentials(args, need_secret=True)
    discovery = fetch_discovery(server)
    path = None if args.file == "-" else Path(args.file)
    try:
        data = sys.stdin.buffer.read() if path is None else path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {args.file}: {exc.strerror}") from None
    content_type = args.content_type or content_type_for(path, data)
    token = fetch_token(discovery.token_endpoint, client_id or "", secret or "")
    done = publish(
        discovery,
        token.access_token,
        args.topic,
        data,
        content_type,
        idempotency_key=args.idempotency_key,
    )
    verb = "Published" if done.created else "Already published (nothing new created):"
    print(f"{verb} {done.id} on {done.topic} ({discovery.server}{done.url})")
    return 0


# --- helpers ------------------------------------------------------------------------------


def _credentials(
    args: argparse.Namespace, *, need_secret: bool
) -> tuple[str, str | None, str | None]:
    """Server, client id and secret: options, then environment, then the stored login."""
    stored = load_login()
    server = args.server or os.environ.get(f"{ENV_PREFIX}SERVER")
    if not server and stored is not None:
        server = stored.server
    if not server:
        raise ConfigurationError(
            f"which server? Run `{PROG} login`, or pass --server, or set {ENV_PREFIX}SERVER"
        )
    server = normalise_server(server)
    same_server = stored is not None and normalise_server(stored.server) == server
    client_id = args.client_id or os.environ.get(f"{ENV_PREFIX}ID")
    if client_id is None and same_server and stored is not None:
        client_id = stored.client_id
    secret = os.environ.get(f"{ENV_PREFIX}SECRET")
    if secret is None and stored is not None and same_server and stored.client_id == client_id:
        secret = stored.client_secret
    if need_secret and not (client_id and secret):
        raise ConfigurationError(
            f"this needs a credential: run `{PROG} login`, or set {ENV_PREFIX}ID and "
            f"{ENV_PREFIX}SECRET (stored login: {login_file()})"
        )
    return server, client_id, secret


def _kafka_options(pairs: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"-X takes KEY=VALUE, got {pair!r}")
        options[key.strip()] = value
    return options


def _ask(prompt: str, *, secret: bool = False) -> str:
    if not sys.stdin.isatty():
        answer = sys.stdin.readline().strip()
    elif secret:
        answer = getpass.getpass(prompt).strip()
    else:
        answer = input(prompt).strip()
    if not answer:
        raise ConfigurationError(f"no answer to {prompt.strip()!r}")
    return answer


if __name__ == "__main__":
    sys.exit(main())
