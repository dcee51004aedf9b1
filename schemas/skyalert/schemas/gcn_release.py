"""NASA's unified GCN schema package (``@nasa-gcn/schema`` on npm): its name, pins and URIs."""

from __future__ import annotations

import re

#: The npm package GCN validates its own JSON notices with (github.com/nasa-gcn/gcn-schema).
PACKAGE = "@nasa-gcn/schema"

#: ``dist.integrity`` of each release as the npm registry published it when we pinned it
#: (registry.npmjs.org/@nasa-gcn/schema/7.2.3). A release not listed here is fetched with the
#: registry's own value, which is then kept beside the cached copy.
PINNED: dict[str, str] = {
    "7.2.3": "sha512-0jIafqYWVCcn/Ks2X2ssCuWSktpBoadIewzWP8ZHCzl8/vzP2+5UOBlSzbztWIR4chNmJE1AkUTN"
    "/skHn+n2oQ==",
}

#: Every schema's ``$id`` is this plus its path in the package (the package's validate.mjs).
_BASE = "https://gcn.nasa.gov/schema/v{version}/"
_VERSIONED = re.compile(r"^https://gcn\.nasa\.gov/schema/v(?P<version>[^/]+)/(?P<path>.+)$")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def base_uri(version: str) -> str:
    """The ``$id`` prefix of one release's schemas."""
    return _BASE.format(version=version)


def split_schema_id(schema_id: str) -> tuple[str, str] | None:
    """``(version, path)`` of a GCN schema ``$id``; None for any other URI."""
    found = _VERSIONED.match(schema_id)
    return (found["version"], found["path"]) if found else None
