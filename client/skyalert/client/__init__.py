"""skyalert-client: receive alerts from a skyalert server in a few lines of Python.

>>> from skyalert.client import Consumer
>>> consumer = Consumer(client_id="…", client_secret="…", server="https://skyalert.example.org")
>>> for alert in consumer.alerts(["gcn.notices.swift.bat.guano"]):
...     print(alert.id, alert.payload.get("ra"), alert.payload.get("dec"))

Or over the WebSocket live feed, reconnecting and resuming by itself:

>>> async for alert in stream(server, client_id, client_secret, ["igwn.gwalert"]):
...     print(alert.id, alert.cursor)
"""

from skyalert.client.alert import Alert
from skyalert.client.catalog import Catalog, TopicInfo
from skyalert.client.config import config_from_env
from skyalert.client.consumer import Consumer
from skyalert.client.discovery import Discovery, fetch_discovery
from skyalert.client.errors import (
    ApiError,
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    DiscoveryError,
    FilterError,
    KafkaClientError,
    ServerUnreachable,
    SkyalertClientError,
    StallError,
    UnknownTopicError,
)
from skyalert.client.filters import Filter, compile_filter, parse_filter
from skyalert.client.producer import Producer
from skyalert.client.stream import Stream, stream
from skyalert.client.version import __version__

__all__ = [
    "Alert",
    "ApiError",
    "AuthenticationError",
    "AuthorizationError",
    "Catalog",
    "ConfigurationError",
    "Consumer",
    "Discovery",
    "DiscoveryError",
    "Filter",
    "FilterError",
    "KafkaClientError",
    "Producer",
    "ServerUnreachable",
    "SkyalertClientError",
    "StallError",
    "Stream",
    "TopicInfo",
    "UnknownTopicError",
    "__version__",
    "compile_filter",
    "config_from_env",
    "fetch_discovery",
    "parse_filter",
    "stream",
]
