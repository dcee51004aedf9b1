"""The ``skyalert`` command: run the stack, its services, migrations and operator tasks."""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from skyalert.auth import cli as auth_cli
from skyalert.broker.circulars import cli as circulars_cli
from skyalert.broker.core import migrate
from skyalert.broker.core.db import check_database, make_engine, make_sessionmaker
from skyalert.broker.core.errors import SkyalertError
from skyalert.broker.core.settings import Settings, is_secret, load_settings, settings_markdown
from skyalert.broker.ingest.schema_release import fetch_release, schema_cache
from skyalert.broker.kafka.admin import sync_topics, wait_for_kafka
from skyalert.broker.kafka.config import admin_config, message_max_bytes
from skyalert.broker.kafka.inboxes import topics_to_sync
from skyalert.broker.kafka.kafka_node import kafka_classpath
from skyalert.broker.run.workers import NAMES, WORKERS, wanted
from skyalert.client.discovery import fetch_discovery
from skyalert.client.errors import SkyalertClientError
from skyalert.client.publish import content_type_for, publish
from skyalert.client.tokens import fetch_token
from skyalert.schemas.catalog import load_catalog
from skyalert.schemas.gcn_release import PACKAGE

if TYPE_CHECKING:
    from fastapi import FastAPI

Command = Callable[[argparse.Namespace, Settings], int]


def say(message: str) -> None:
    print(message, flush=True)


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from skyalert.broker.run import stack

    workers = {name: getattr(args, name) for name in NAMES if WORKERS[name].scalable}
    if args.web_workers:
        settings = settings.model_copy(update={"web_workers": args.web_workers})
    return stack.run(settings, say, stack.Scale(args.brokers, args.web, workers))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from skyalert.web.app import create_app

    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    processes = args.workers or settings.web_workers
    # Several processes: uvicorn binds the port once and each child builds the app itself.
    app = create_app(settings, workers=wanted(settings)) if processes == 1 else WEB_APP
    # No per-message deflate: it would compress every live-feed alert once per socket and keep
    # a zlib context per socket (tests/bench/bench_stream.py measures the fan-out).
    uvicorn.run(
        app,
        factory=processes > 1,
        workers=processes,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        access_log=False,
        ws_per_message_deflate=False,
    )
    return 0


#: What each of several ``serve`` processes imports to build its app.
WEB_APP = f"{__name__}:web_app"


def web_app() -> FastAPI:
    """The web app of one of several ``serve`` processes, from the environment."""
    from skyalert.web.app import create_app

    settings = load_settings()
    return create_app(settings, workers=wanted(settings))


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def _handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    return stop


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from skyalert.broker.core.liveness import Liveness

    wait_for_kafka(admin_config(settings), settings.kafka_timeout)
    stop = _stop_on_signals()
    sessions = make_sessionmaker(migrate.migrated_engine(settings))
    say(WORKERS[args.kind].run(settings, sessions, stop, Liveness(sessions, args.kind)))
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
        topics = topics_to_sync(load_catalog(), settings.inbox_partitions)
        report = sync_topics(
            AdminClient(config), topics, max_message_bytes=message_max_bytes(settings)
        )
    except KafkaException as exc:
        raise SkyalertError(f"topic sync failed: {exc.args[0]}") from exc
    for line in report.lines():
        say(line)
    return 0


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    """Publish with the client's own publisher: one way to publish over HTTP."""
    client_id = args.client_id or os.environ.get("SKYALERT_CLIENT_ID")
    secret = args.client_secret or os.environ.get("SKYALERT_CLIENT_SECRET")
    if not client_id or not secret:
        raise SkyalertError(
            "publishing needs a producer credential: set SKYALERT_CLIENT_ID and "
            "SKYALERT_CLIENT_SECRET (or pass --client-id and --client-secret)"
        )
    path = None if args.file == "-" else Path(args.file)
    try:
        payload = sys.stdin.buffer.read() if path is None else path.read_bytes()
    except OSError as exc:
        raise SkyalertError(f"cannot read {args.file}: {exc.strerror}") from exc
    discovery = fetch_discovery(args.server or settings.base_url)
    token = fetch_token(discovery.token_endpoint, client_id, secret)
    done = publish(
        discovery,
        token.access_token,
        args.topic,
        payload,
        args.content_type or content_type_for(path, payload),
        idempotency_key=args.idempotency_key,
    )
    state = "published" if done.created else "already published (a repeat)"
    if not done.published:
        state += "; archived, Kafka has not acknowledged it yet"
    say(f"{done.id} {done.topic}: {state}")
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


def cmd_mirror_maker(args: argparse.Namespace, settings: Settings) -> int:
    """Fill the MirrorMaker 2 template from the environment, then become MirrorMaker."""
    from skyalert.broker.kafka import mirror_maker
    from skyalert.schemas.catalog import Visibility

    public = [t.name for t in load_catalog().alert_topics if t.visibility is Visibility.PUBLIC]
    env = {"MM2_TOPICS": ",".join(re.escape(name) for name in public), **os.environ}
    text = mirror_maker.render(Path(args.template).read_text("utf-8"), env)
    folder = settings.var_dir / "mirror-maker"
    folder.mkdir(parents=True, exist_ok=True)
    properties = folder / "mm2.properties"
    properties.touch(mode=0o600)  # it holds both client secrets
    properties.chmod(0o600)
    properties.write_text(text, "utf-8")
    classpath = mirror_maker.mirror_maker_classpath(settings.var_dir, settings.kafka_home, say)
    argv = mirror_maker.command(properties, classpath, mirror_maker.token_urls(env))
    say(f"MirrorMaker 2 {mirror_maker.MIRROR_MAKER_VERSION} with {properties}")
    os.execv(argv[0], argv)  # noqa: S606 - signals reach MirrorMaker itself, which shuts down cleanly


def cmd_schemas_fetch(args: argparse.Namespace, settings: Settings) -> int:
    version = args.version or settings.gcn_schema_version
    folder = fetch_release(schema_cache(settings), version, say)
    say(f"{PACKAGE} {version}: {folder}")
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    if args.markdown:
        print(settings_markdown(), end="")
    else:
        for name, value in settings.model_dump().items():
            shown = "***" if is_secret(name) and value else value
            say(f"SKYALERT_{name.upper()}={shown}")
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skyalert",
        description="skyalert: an open alert broker for time-domain astronomy. "
        "Configuration comes from SKYALERT_* environment variables (see ops/settings.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run the whole stack locally (Kafka, database, web, workers)")
    up.add_argument(
        "--brokers", type=_positive, default=1, help="local Apache Kafka nodes (3: replicated)"
    )
    up.add_argument(
        "--web", type=_positive, default=1, help="web replicas, on SKYALERT_PORT, +1, +2 …"
    )
    up.add_argument(
        "--web-workers",
        type=_positive,
        help="processes per web replica, sharing its port (default SKYALERT_WEB_WORKERS)",
    )
    for name in NAMES:
        if WORKERS[name].scalable:
            up.add_argument(f"--{name}", type=_positive, default=1, help=f"{name} workers")
    up.set_defaults(func=cmd_up)

    serve = sub.add_parser("serve", help="run the web app (portal, API, live feed)")
    serve.add_argument("--host", help="listen address (default SKYALERT_HOST)")
    serve.add_argument("--port", type=int, help="listen port (default SKYALERT_PORT)")
    serve.add_argument(
        "--workers",
        type=_positive,
        help="processes sharing the port (default SKYALERT_WEB_WORKERS)",
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a background worker")
    worker.add_argument(
        "kind",
        choices=NAMES,
        help="; ".join(f"{w.name}: {w.help}" for w in WORKERS.values()),
    )
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

    publish = sub.add_parser(
        "publish",
        help="publish one alert file with a producer credential",
        description="Publish an alert (VOEvent XML or JSON) over HTTP. The credential comes "
        "from SKYALERT_CLIENT_ID and SKYALERT_CLIENT_SECRET unless given as options.",
    )
    publish.add_argument("--topic", required=True, help="destination topic")
    publish.add_argument("file", help="the alert file, or - for standard input")
    publish.add_argument("--server", help="server URL (default SKYALERT_PUBLIC_URL)")
    publish.add_argument("--client-id", help="producer credential's client id")
    publish.add_argument("--client-secret", help="its secret (prefer SKYALERT_CLIENT_SECRET)")
    publish.add_argument(
        "--content-type", help="default: VOEvent XML if the file starts with <, else JSON"
    )
    publish.add_argument("--idempotency-key", help="repeat with the same key: no second alert")
    publish.set_defaults(func=cmd_publish)

    shown = sub.add_parser("settings", help="show the effective settings")
    shown.add_argument("--markdown", action="store_true", help="print the settings reference")
    shown.set_defaults(func=cmd_settings)

    kafka = sub.add_parser("kafka", help="the local Apache Kafka").add_subparsers(
        dest="kafka_command", required=True, metavar="ACTION"
    )
    kafka.add_parser("fetch", help="fetch Kafka's jars from Maven Central now").set_defaults(
        func=cmd_kafka_fetch
    )
    mm2 = sub.add_parser("mirror-maker", help="run MirrorMaker 2 between two Kafka clusters")
    mm2.add_argument("template", help="the properties template, e.g. ops/mirror/mm2.properties")
    mm2.set_defaults(func=cmd_mirror_maker)
    schemas = sub.add_parser("schemas", help="the data contracts").add_subparsers(
        dest="schemas_command", required=True, metavar="ACTION"
    )
    fetch = schemas.add_parser("fetch", help=f"fetch {PACKAGE} from the npm registry now")
    fetch.add_argument("--version", help="a release other than SKYALERT_GCN_SCHEMA_VERSION")
    fetch.set_defaults(func=cmd_schemas_fetch)
    auth_cli.register(sub)
    circulars_cli.register(sub)
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
    except (SkyalertError, SkyalertClientError) as exc:
        print(f"skyalert: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
