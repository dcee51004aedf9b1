"""The public API of skyalert-client, pinned: changing it must be a decision, not an accident."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest

import skyalert.client
from skyalert.client import errors

PUBLIC = [
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

CLIENT = (
    "(self, client_id: 'str | None' = None, client_secret: 'str | None' = None, "
    "server: 'str | None' = None, config: 'Mapping[str, Any] | None' = None, *, "
    "discovery: 'Discovery | None' = None, **kwargs: 'Any') -> 'None'"
)
SIGNATURES = {
    "Consumer.__init__": CLIENT,
    "Producer.__init__": CLIENT,
    "Consumer.alerts": (
        "(self, topics: 'str | Iterable[str]', format: 'Format' = 'json', "
        "include_tests: 'bool' = False, filter: 'Filter | Mapping[str, Any] | None' = None, *, "
        "stall_timeout: 'float | None' = 60.0, on_stall: 'OnStall' = 'raise') "
        "-> 'Iterator[Alert]'"
    ),
    "Consumer.commit_alert": "(self, alert: 'Alert') -> 'None'",
    "Consumer.catalog": "(self, refresh: 'bool' = False) -> 'Catalog'",
    "compile_filter": "(obj: 'Any') -> 'Filter'",
    "parse_filter": "(text: 'str | bytes') -> 'Filter'",
    "Filter.matches": "(self, alert: 'Mapping[str, Any]') -> 'bool'",
    "Filter.to_json": "(self) -> 'dict[str, Any] | None'",
    "config_from_env": (
        "(env: 'Mapping[str, str] | None' = None, prefix: 'str' = 'SKYALERT_CLIENT_') "
        "-> 'dict[str, Any]'"
    ),
    "stream": (
        "(server: 'str | None', client_id: 'str', client_secret: 'str', "
        "topics: 'str | Iterable[str]', filter: 'Filter | Mapping[str, Any] | None' = None, *, "
        "since: 'Since' = 'now', format: 'Format' = 'json', include_tests: 'bool' = False, "
        "reconnect: 'bool' = True, max_backoff: 'float' = 60.0, "
        "discovery: 'Discovery | None' = None) -> 'Stream'"
    ),
    "fetch_discovery": (
        "(server: 'str', *, ttl: 'float' = 3600.0, refresh: 'bool' = False) -> 'Discovery'"
    ),
}
ALERT_FIELDS = [
    "id",
    "topic",
    "time",
    "payload",
    "raw",
    "content_type",
    "test",
    "schema",
    "sender",
    "partition",
    "offset",
    "timestamp",
    "headers",
    "cursor",
]


def test_all_is_pinned() -> None:
    assert sorted(skyalert.client.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert hasattr(skyalert.client, name), name


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature_is_pinned(name: str) -> None:
    obj: Any = skyalert.client
    for part in name.split("."):
        obj = getattr(obj, part)
    assert str(inspect.signature(obj)) == SIGNATURES[name]


def test_alert_fields_are_pinned() -> None:
    assert [field.name for field in dataclasses.fields(skyalert.client.Alert)] == ALERT_FIELDS


def test_clients_are_confluent_kafkas() -> None:
    assert issubclass(skyalert.client.Consumer, confluent_kafka.Consumer)
    assert issubclass(skyalert.client.Producer, confluent_kafka.Producer)


def test_one_exception_hierarchy() -> None:
    raised = [
        obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, Exception)
    ]
    assert len(raised) > 5
    assert all(issubclass(kind, errors.SkyalertClientError) for kind in raised)
    assert issubclass(errors.FilterError, ValueError)


def test_the_package_is_typed() -> None:
    assert (Path(skyalert.client.__file__).parent / "py.typed").exists()


def test_the_filter_language_imports_nothing_beyond_the_standard_library() -> None:
    source = (Path(skyalert.client.__file__).parent / "filters.py").read_text("utf-8")
    imports = [
        line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))
    ]
    allowed = {
        "__future__",
        "difflib",
        "json",
        "math",
        "re",
        "collections.abc",
        "dataclasses",
        "datetime",
        "typing",
        "skyalert.client.errors",
    }
    assert set(imports) <= allowed
