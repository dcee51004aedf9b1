"""The public API of skyalert-client, pinned: changing it must be a decision, not an accident."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
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


#: Each module's ``__all__``: what the rest of the package, the server and the tests may import.
MODULES = {
    "alert": [
        "Alert",
        "BINARY",
        "Headers",
        "JSON",
        "TEXT",
        "UndecodableAlert",
        "VOEVENT",
        "decode_message",
        "header_map",
        "message_headers",
    ],
    "archive": ["Archive"],
    "catalog": ["Catalog", "TopicInfo", "check_topics", "fetch_catalog"],
    "cli": ["main"],
    "config": [
        "ENV_PREFIX",
        "Resolved",
        "config_from_env",
        "default_group_id",
        "dotted",
        "kafka_config",
        "resolve",
        "split_own",
    ],
    "consumer": ["STALL_TIMEOUT", "Consumer", "Format", "OnStall"],
    "discovery": ["Discovery", "cached_json", "fetch_discovery", "normalise_server"],
    "errors": [
        "ApiError",
        "AuthenticationError",
        "AuthorizationError",
        "ConfigurationError",
        "DiscoveryError",
        "FilterError",
        "KafkaClientError",
        "ServerUnreachable",
        "SkyalertClientError",
        "StallError",
        "UnknownTopicError",
    ],
    "filters": [
        "Filter",
        "FilterError",
        "MAX_DEPTH",
        "MAX_IN_VALUES",
        "MAX_NODES",
        "MAX_STRING",
        "MAX_VALUES",
        "OPERATORS",
        "compile_filter",
        "error_radius",
        "parse_filter",
    ],
    "groups": ["members_of", "warn_if_shared"],
    "http": ["Response", "get_json", "request"],
    "kafka_errors": ["FailureLatch", "Reporter", "failure_of", "is_quiet_topic", "refused_config"],
    "login": ["Login", "load_login", "login_file", "save_login"],
    "output": ["write_file", "write_line", "write_pretty"],
    "paths": ["cache_dir", "config_dir", "state_dir", "write_private"],
    "places": ["SavedPlace"],
    "producer": ["Producer"],
    "publish": ["Published", "content_type_for", "publish"],
    "shutdown": ["GracefulStop", "at_exit"],
    "stream": ["Format", "Since", "Stream", "since_json", "stream"],
    "tokens": ["Token", "TokenSource", "fetch_token"],
    "version": ["USER_AGENT", "__version__"],
}
#: Where code that imports the client lives (the client itself included).
IMPORTERS = ("broker", "auth", "web", "schemas", "client", "tests")


def test_all_is_pinned() -> None:
    assert sorted(skyalert.client.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert hasattr(skyalert.client, name), name


def test_every_module_has_a_pinned_all() -> None:
    found = {info.name for info in pkgutil.iter_modules(skyalert.client.__path__)}
    assert found == set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_all_is_pinned(name: str) -> None:
    module = importlib.import_module(f"skyalert.client.{name}")
    assert sorted(module.__all__) == sorted(MODULES[name])
    for exported in module.__all__:
        assert hasattr(module, exported), exported


def test_nothing_imports_a_client_name_outside_its_modules_all() -> None:
    """``from skyalert.client.X import y`` anywhere in the repository: y is in X's ``__all__``
    (a leading underscore marks a test reaching into internals on purpose)."""
    root = Path(__file__).resolve().parents[2]
    outside = []
    for folder in IMPORTERS:
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if not isinstance(node, ast.ImportFrom) or node.module is None:
                    continue
                exported = _exports(node.module)
                if exported is None:
                    continue
                outside += [
                    f"{path.relative_to(root)}: {node.module}.{alias.name}"
                    for alias in node.names
                    if not alias.name.startswith("_") and alias.name not in exported
                ]
    assert outside == []


def _exports(module: str) -> set[str] | None:
    """What ``from module import ...`` may take: its ``__all__`` (the package's submodules too)."""
    if module == "skyalert.client":
        return set(skyalert.client.__all__) | set(MODULES)
    if module.startswith("skyalert.client."):
        return set(MODULES[module.removeprefix("skyalert.client.")])
    return None


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
