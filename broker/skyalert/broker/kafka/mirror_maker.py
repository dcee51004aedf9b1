"""MirrorMaker 2 (``skyalert mirror-maker``): a properties template filled in, then run.

Apache publishes ``connect-mirror`` to Maven Central only up to 4.3.1 (the 4.4.0 distribution
ships it, Central does not), so MirrorMaker runs on 4.3.1's own jars, kept apart from the
broker's, unless SKYALERT_KAFKA_HOME names a distribution. A 4.3 client talks to 4.4 brokers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from skyalert.broker.core.errors import ConfigError
from skyalert.broker.kafka.kafka_node import (
    EXTRA_ARTIFACTS,
    Progress,
    distribution_classpath,
    java_command,
    maven_jars,
)

MIRROR_MAKER_VERSION = "4.3.1"
MAIN = "org.apache.kafka.connect.mirror.MirrorMaker"
PLACEHOLDER = re.compile(r"\$\{(MM2_[A-Z0-9_]+)\}")
#: Template values a deployment rarely changes.
DEFAULTS = {
    "MM2_SOURCE_SECURITY_PROTOCOL": "SASL_SSL",
    "MM2_TARGET_SECURITY_PROTOCOL": "SASL_SSL",
    "MM2_REPLICATION_FACTOR": "3",
    "MM2_REBALANCE_DELAY_MS": "300000",
}
_LOG4J2 = """\
status = error
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
"""


def mirror_maker_classpath(
    var_dir: Path, kafka_home: Path | None, progress: Progress = lambda _: None
) -> str:
    """A java ``-cp`` value for MirrorMaker 2; fetches its jars through Maven the first time."""
    if kafka_home is not None:
        return distribution_classpath(kafka_home, "connect-mirror-*.jar")
    coordinates = [f"org.apache.kafka:connect-mirror:{MIRROR_MAKER_VERSION}", *EXTRA_ARTIFACTS]
    folder = var_dir / "kafka" / f"mirror-maker-{MIRROR_MAKER_VERSION}"
    return f"{maven_jars(folder, coordinates, progress)}/*"


def render(template: str, env: Mapping[str, str]) -> str:
    """``template`` with each ``${MM2_…}`` replaced from ``env`` (or :data:`DEFAULTS`)."""
    values = {**DEFAULTS, **env}
    missing = sorted({name for name in PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise ConfigError(
            f"MirrorMaker 2's properties need {', '.join(missing)} in the environment "
            "(see ops/mirror/README.md)"
        )
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def token_urls(env: Mapping[str, str]) -> str:
    """The token endpoints Kafka's OAuth login may call (Kafka 4 refuses any other URL)."""
    return ",".join(env[k] for k in ("MM2_SOURCE_TOKEN_URL", "MM2_TARGET_TOKEN_URL") if k in env)


def command(properties: Path, classpath: str, allowed_urls: str) -> list[str]:
    """The java command line of MirrorMaker 2 (dedicated mode) over ``properties``."""
    log4j = properties.with_name("log4j2.properties")
    log4j.write_text(_LOG4J2, "utf-8")
    return [
        java_command(),
        "-Xmx512m",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={allowed_urls}",
        "-cp",
        classpath,
        MAIN,
        str(properties),
    ]
