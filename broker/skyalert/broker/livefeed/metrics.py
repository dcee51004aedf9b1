"""Prometheus metrics of the live feed, served with every other metric at ``GET /metrics``."""

from __future__ import annotations

from functools import cache
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

SOCKETS: Final = Gauge(
    "skyalert_stream_sockets", "Live-feed WebSockets subscribed in this process."
)
RECEIVED: Final = Counter(
    "skyalert_stream_alerts_received_total",
    "Alerts this process read from Kafka for the live feed.",
    ["topic"],
)
DELIVERED: Final = Counter(
    "skyalert_stream_alerts_delivered_total",
    "Alerts written to live-feed sockets (one per socket), live and replayed.",
    ["topic"],
)
DROPPED: Final = Counter(
    "skyalert_stream_slow_clients_dropped_total",
    "Live-feed sockets closed because their queue overflowed (close code 4408).",
)
LATENCY: Final = Histogram(
    "skyalert_stream_delivery_latency_seconds",
    "From the Kafka message timestamp of a live alert to its write to a socket.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


@cache
def delivered(topic: str) -> Counter:
    """The per-topic child of :data:`DELIVERED`, looked up once (it is hit once per socket)."""
    return DELIVERED.labels(topic)
