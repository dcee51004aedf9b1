"""The ``skyalert`` command: run the stack, its services, migrations and operator tasks."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from skyalert.broker import migrate
from skyalert.broker.admin import sync_topics, wait_for_kafka
from skyalert.broker.db import check_database, make_engine, make_sessionmaker
from skyalert.broker.errors import SkyalertError
from skyalert.broker.kafka_config import admin_config
from skyalert.broker.localkafka import kafka_classpath
from skyalert.broker.settings import Settings, is_secret, load_settings, settings_markdown
from skyalert.schemas.catalog import load_catalog

Command = Callable[[argparse.Namespace, Settings], int]


def say(message: str) -> None:
    print(message, flush=True)


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from skyalert.broker import stack

    return stack.run(settings, say)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from skyalert.web.app import create_app

    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower(),
                proxy_headers=True, access_log=False)  # fmt: skip
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def _handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    return stop


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from skyalert.broker.heartbeat import run_heartbeat
    from skyalert.broker.liveness import Liveness

    wait_for_kafka(admin_config(settings), settings.kafka_timeout)
    stop = _stop_on_signals()
    sessions = make_sessionmaker(make_engine(settings))
    sent = run_heartbeat(settings, load_catalog().heartbeat, stop, Liveness(sessions, "heartbeat"))
    say(f"heartbeat stopped after {sent} messages")
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings)
    check_database(engine)
    before, after = migrate.upgrade(engine, args.revision)
    url = engine.url.render_as_string(hide_password=True)
    say(
        f"{url}: {before or 'empty'} -> {after}"
        if before != after
        else f"{url}: already at {after}"
    )
    return 0


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings)
    check_database(engine)
    current, head = migrate.current_revision(engine), migrate.head_revision(engine)
    say(f"current {current or 'none (empty database)'}, newest {head}")
    return 0 if current == head else 1


def cmd_topics_sync(args: argparse.Namespace, settings: Settings) -> int:
    config = admin_config(settings)
    wait_for_kafka(config, settings.kafka_timeout)
    try:
        report = sync_topics(AdminClient(config), load_catalog().topics)
    except KafkaException as exc:
        raise SkyalertError(f"topic sync failed: {exc.args[0]}") from exc
    for line in report.lines():
        say(line)
    return 0


def cmd_topics_list(args: argparse.Namespace, settings: Settings) -> int:
    for topic in load_catalog().topics:
        kind = "VOEvent" if topic.content_type.value.endswith("xml") else "JSON"
        say(f"{topic.name:<48} {kind:<8} {topic.visibility.value:<10} {topic.title}")
    return 0


def cmd_kafka_fetch(args: argparse.Namespace, settings: Settings) -> int:
    classpath = kafka_classpath(settings.var_dir, settings.kafka_home, say)
    say(f"Apache Kafka classpath: {classpath}")
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    if args.markdown:
        print(settings_markdown(), end="")
    else:
        for name, value in settings.model_dump().items():
            shown = "***" if is_secret(name) and value else value
            say(f"SKYALERT_{name.upper()}={shown}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skyalert",
        description="skyalert: an open alert broker for time-domain astronomy. "
        "Configuration comes from SKYALERT_* environment variables (see ops/settings.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run the whole stack locally (Kafka, database, web, workers)")
    up.set_defaults(func=cmd_up)

    serve = sub.add_parser("serve", help="run the web app (portal, API, live feed)")
    serve.add_argument("--host", help="listen address (default SKYALERT_HOST)")
    serve.add_argument("--port", type=int, help="listen port (default SKYALERT_PORT)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a background worker")
    worker.add_argument("kind", choices=["heartbeat"], help="which worker")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database migrations").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    upgrade = db.add_parser("upgrade", help="apply migrations (default: all)")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=cmd_db_upgrade)
    db.add_parser("current", help="show the schema revision").set_defaults(func=cmd_db_current)

    topics = sub.add_parser("topics", help="the topic catalog").add_subparsers(
        dest="topics_command", required=True, metavar="ACTION"
    )
    topics.add_parser(
        "sync", help="create missing topics and fix their configs in Kafka (idempotent)"
    ).set_defaults(func=cmd_topics_sync)
    topics.add_parser("list", help="list the catalog").set_defaults(func=cmd_topics_list)

    shown = sub.add_parser("settings", help="show the effective settings")
    shown.add_argument("--markdown", action="store_true", help="print the settings reference")
    shown.set_defaults(func=cmd_settings)

    kafka = sub.add_parser("kafka", help="the local Apache Kafka").add_subparsers(
        dest="kafka_command", required=True, metavar="ACTION"
    )
    kafka.add_parser("fetch", help="fetch Kafka's jars from Maven Central now").set_defaults(
        func=cmd_kafka_fetch
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        for chatty in ("alembic", "httpx"):  # routine steps; we print our own summary
            logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.root.level))
        func: Command = args.func
        return func(args, settings)
    except SkyalertError as exc:
        print(f"skyalert: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
