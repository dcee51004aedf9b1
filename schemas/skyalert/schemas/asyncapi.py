"""The catalog as an AsyncAPI 3.0 document: every topic a channel with its payload schema.

Follows the AsyncAPI 3.0.0 specification (asyncapi.com/docs/reference/specification/v3.0.0)
and its Kafka bindings 0.5.0 (github.com/asyncapi/bindings, kafka/README.md). JSON topics
carry their own JSON Schema, bundled under ``components.schemas`` with every ``$ref`` pointed
there, so the document needs nothing from the network; VOEvent, text and binary topics name
their format. The WebSocket live feed is a second server with its subscribe protocol.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urljoin

from skyalert.schemas.catalog import Catalog, Role, Topic, Visibility
from skyalert.schemas.formats import ContentType, format_of
from skyalert.schemas.validation import SchemaRegistry

ASYNCAPI = "3.0.0"
KAFKA_BINDING = "0.5.0"
#: VOEvent 2.0's XML Schema (IVOA Recommendation, 2011).
VOEVENT_XSD = "http://www.ivoa.net/xml/VOEvent/VOEvent-v2.0.xsd"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
#: Headers every alert carries on its public topic (the names are a contract with clients).
ALERT_HEADERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "alert-id": {"type": "string", "description": "skyalert's id of the alert (also the key)"},
        "content-type": {"type": "string", "description": "media type of the payload"},
        "schema": {"type": "string", "description": "$id of the JSON Schema it was checked with"},
        "sender": {"type": "string", "description": "who published it"},
        "test": {"type": "string", "enum": ["0", "1"], "description": "1 for test alerts"},
        "idempotency-key": {"type": "string", "description": "the publisher's key, if sent"},
    },
    "required": ["alert-id", "content-type", "sender", "test"],
}


@dataclass(frozen=True)
class Servers:
    """Where a deployment serves its topics and its live feed."""

    kafka_bootstrap: str
    kafka_security_protocol: str
    token_url: str
    stream_url: str
    #: Scope name -> what it gives (the OAuth2 flow's available scopes).
    scopes: Mapping[str, str]


def asyncapi_document(
    catalog: Catalog, registry: SchemaRegistry, servers: Servers, *, title: str, version: str
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``catalog`` as served by ``servers``."""
    topics = list(catalog.topics)
    bundle = _Bundle(registry)
    messages = {_key(t.name): _message(t, registry, bundle) for t in topics}
    channels = {_key(t.name): _channel(t) for t in topics}
    operations = {f"receive_{_key(t.name)}": _receive(t) for t in topics}
    channels["live_feed"], live_messages, live_operations = _live_feed(topics)
    return {
        "asyncapi": ASYNCAPI,
        "info": {
            "title": title,
            "version": version,
            "description": "Every topic of this alert broker, as a Kafka channel, and the "
            "WebSocket live feed that carries the same alerts.",
        },
        "defaultContentType": "application/json",
        "servers": _servers(servers),
        "channels": channels,
        "operations": {**operations, **live_operations},
        "components": {
            "messages": {**messages, **live_messages},
            "schemas": bundle.schemas,
            "securitySchemes": {"oauth": _oauth(servers)},
        },
    }


def _key(name: str) -> str:
    """A component key (``^[A-Za-z0-9._-]+$``) for a topic name or a schema URI."""
    return _UNSAFE.sub("_", name.split("://", 1)[-1])


def _servers(servers: Servers) -> dict[str, Any]:
    secure = servers.kafka_security_protocol.upper() in ("SASL_SSL", "SSL")
    oauth = servers.kafka_security_protocol.upper().startswith("SASL")
    kafka: dict[str, Any] = {
        "host": servers.kafka_bootstrap.split(",")[0],
        "protocol": "kafka-secure" if secure else "kafka",
        "description": f"Kafka ({servers.kafka_security_protocol}); bootstrap "
        f"{servers.kafka_bootstrap}. Consumer groups must start with your client id.",
    }
    if oauth:
        kafka["security"] = [{"$ref": "#/components/securitySchemes/oauth"}]
    scheme, _, rest = servers.stream_url.partition("://")
    host, _, path = rest.partition("/")
    stream = {
        "host": host,
        "pathname": "/" + path,
        "protocol": scheme,
        "description": "The WebSocket live feed: a bearer token, then a subscribe message.",
        "security": [{"$ref": "#/components/securitySchemes/oauth"}],
    }
    return {"kafka": kafka, "live-feed": stream}


def _oauth(servers: Servers) -> dict[str, Any]:
    return {
        "type": "oauth2",
        "description": "Client credentials (client_secret_basic); over Kafka, SASL OAUTHBEARER "
        "with sasl.oauthbearer.method=oidc.",
        "flows": {
            "clientCredentials": {
                "tokenUrl": servers.token_url,
                "availableScopes": dict(servers.scopes),
            }
        },
    }


def _channel(topic: Topic) -> dict[str, Any]:
    restricted = topic.visibility is Visibility.RESTRICTED
    access = f"restricted to {topic.consumer_group}" if restricted else "public"
    return {
        "address": topic.name,
        "title": topic.title,
        "description": f"{topic.description} ({access}; written by {topic.producer_group})",
        "servers": [{"$ref": "#/servers/kafka"}],
        "messages": {"alert": {"$ref": f"#/components/messages/{_key(topic.name)}"}},
        "bindings": {
            "kafka": {
                "topic": topic.name,
                "partitions": topic.partitions,
                "topicConfiguration": {
                    "retention.ms": topic.retention_ms,
                    "cleanup.policy": ["delete"],
                },
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _receive(topic: Topic) -> dict[str, Any]:
    return {
        "action": "receive",
        "title": f"Receive {topic.title}",
        "channel": {"$ref": f"#/channels/{_key(topic.name)}"},
        "messages": [{"$ref": f"#/channels/{_key(topic.name)}/messages/alert"}],
    }


def _message(topic: Topic, registry: SchemaRegistry, bundle: _Bundle) -> dict[str, Any]:
    form = format_of(topic.content_type)
    message: dict[str, Any] = {
        "name": topic.name,
        "title": topic.title,
        "contentType": form.content_type.value,
        "headers": ALERT_HEADERS,
        "payload": _payload(topic, registry, bundle),
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "the alert id"},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }
    if topic.content_type is ContentType.VOEVENT:
        message["externalDocs"] = {"description": "VOEvent 2.0 XML Schema", "url": VOEVENT_XSD}
    return message


def _payload(topic: Topic, registry: SchemaRegistry, bundle: _Bundle) -> dict[str, Any]:
    if topic.content_type is ContentType.JSON and topic.schema_ref is not None:
        return {"$ref": bundle.add(registry.resolve(topic.schema_ref))}
    form = format_of(topic.content_type)
    if topic.content_type is ContentType.BINARY:
        return {"type": "string", "format": "binary", "description": form.label}
    return {"type": "string", "description": form.label}


class _Bundle:
    """JSON Schemas copied under ``components.schemas``, ``$ref`` rewritten to point there."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self.schemas: dict[str, Any] = {}

    def add(self, schema_id: str) -> str:
        key = _key(schema_id)
        if key not in self.schemas:
            self.schemas[key] = {}  # placeholder first: schemas may refer to each other
            copied = copy.deepcopy(dict(self.registry.schema(schema_id)))
            copied.pop("$schema", None)
            copied.pop("$id", None)
            self.schemas[key] = self._rewrite(copied, schema_id, key)
        return f"#/components/schemas/{key}"

    def _rewrite(self, node: Any, base: str, key: str) -> Any:
        if isinstance(node, list):
            return [self._rewrite(item, base, key) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for name, value in node.items():
            if name == "$ref" and isinstance(value, str):
                out[name] = self._target(urljoin(base, value), key)
            else:
                out[name] = self._rewrite(value, base, key)
        return out

    def _target(self, uri: str, key: str) -> str:
        document, fragment = urldefrag(uri)
        where = self.add(document) if document else f"#/components/schemas/{key}"
        if fragment and not fragment.startswith("/"):
            raise ValueError(f"{uri}: only JSON-pointer fragments can be bundled")
        return where + fragment


def _live_feed(topics: Iterable[Topic]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    names = [t.name for t in topics if t.role in (Role.ALERTS, Role.CIRCULARS)]
    subscribe = {
        "name": "subscribe",
        "title": "Subscribe",
        "payload": {
            "type": "object",
            "required": ["type", "topics"],
            "properties": {
                "type": {"const": "subscribe"},
                "topics": {
                    "type": "array",
                    "items": {"type": "string", "description": "a topic name, '*' a wildcard"},
                    "examples": [names[:2]],
                },
                "filter": {"type": "object", "description": "the shared filter language"},
                "format": {"type": "string", "enum": ["json", "voevent"]},
                "test": {"type": "boolean"},
                "since": {
                    "description": '"now", {"last": N}, {"time": ISO 8601} or {"cursor": id}',
                },
            },
        },
    }
    alert = {
        "name": "alert",
        "title": "Alert",
        "payload": {
            "type": "object",
            "required": ["type", "topic", "id", "cursor"],
            "properties": {
                "type": {"const": "alert"},
                "topic": {"type": "string", "enum": names},
                "id": {"type": "string"},
                "cursor": {"type": "string", "description": "resume after it with since"},
                "time": {"type": ["string", "null"]},
                "test": {"type": "boolean"},
                "alert": {"type": "object", "description": "the JSON form of the alert"},
                "xml": {"type": "string", "description": "the VOEvent, for format voevent"},
            },
        },
    }
    messages = {"live_subscribe": subscribe, "live_alert": alert}
    channel = {
        "address": "/api/v1/stream",
        "title": "Live feed",
        "description": "Every alert of the topics you subscribe to, filtered on the server, "
        "resumable by cursor.",
        "servers": [{"$ref": "#/servers/live-feed"}],
        "messages": {
            "subscribe": {"$ref": "#/components/messages/live_subscribe"},
            "alert": {"$ref": "#/components/messages/live_alert"},
        },
    }
    operations = {
        "live_subscribe": {
            "action": "send",
            "channel": {"$ref": "#/channels/live_feed"},
            "messages": [{"$ref": "#/channels/live_feed/messages/subscribe"}],
        },
        "live_receive": {
            "action": "receive",
            "channel": {"$ref": "#/channels/live_feed"},
            "messages": [{"$ref": "#/channels/live_feed/messages/alert"}],
        },
    }
    return channel, messages, operations
