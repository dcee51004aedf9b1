"""``skyalert schemas fetch``: the npm tarball, integrity-checked, cached; bad ones refused clearly.

A loopback HTTP server plays the registry (the real one is reached only by ``make system``),
serving a tarball packed the way npm packs: everything under ``package/``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from skyalert.broker.core.downloads import marker_of
from skyalert.broker.core.errors import SetupFetchError
from skyalert.broker.ingest.schema_release import cached_releases, fetch_release, release_folder
from skyalert.broker.kafka.kafka_node import free_port
from skyalert.schemas.gcn_release import PINNED
from support.gcn_examples import release_folder as real_release

UNPINNED = "0.0.1"


def integrity(body: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(body).digest()).decode()


def tarball(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def the_real_package() -> bytes:
    root = real_release()
    return tarball(
        {
            f"package/{path.relative_to(root)}": path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }
    )


class Registry:
    """What the fake registry serves: ``files`` by path; a version's metadata from ``dist``."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []

    def release(self, version: str, body: bytes, stated: str | None = None) -> None:
        tgz = f"/@nasa-gcn/schema/-/schema-{version}.tgz"
        dist = {"tarball": self.url + tgz, "integrity": stated or integrity(body)}
        self.files[f"/@nasa-gcn%2Fschema/{version}"] = json.dumps({"dist": dist}).encode()
        self.files[tgz] = body

    url = ""


@pytest.fixture
def registry() -> Iterator[Registry]:
    served = Registry()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            body = served.files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()


def test_an_unpinned_release_is_fetched_checked_cached_and_loaded(
    registry: Registry, tmp_path: Path
) -> None:
    body = the_real_package()
    registry.release(UNPINNED, body)
    said: list[str] = []
    folder = fetch_release(tmp_path, UNPINNED, said.append, registry.url)
    assert folder == release_folder(tmp_path, UNPINNED) / "package"
    assert (folder / "gcn/notices/swift/bat/Guano.schema.json").is_file()
    assert marker_of(folder.parent) == integrity(body)  # kept to recognise the release later
    assert said[0].startswith(f"fetching @nasa-gcn/schema {UNPINNED}")
    assert cached_releases(tmp_path) == ((UNPINNED, folder),)
    # Cached: no second download.
    asked = len(registry.requests)
    assert fetch_release(tmp_path, UNPINNED, said.append, registry.url) == folder
    assert len(registry.requests) == asked


def test_a_pinned_release_whose_registry_hash_changed_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    version = next(iter(PINNED))
    registry.release(version, the_real_package())  # other bytes than the pinned tarball
    with pytest.raises(SetupFetchError, match="the release was replaced"):
        fetch_release(tmp_path, version, registry=registry.url)
    assert not release_folder(tmp_path, version).exists()
    assert cached_releases(tmp_path) == ()


def test_a_download_that_does_not_match_its_integrity_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    body = the_real_package()
    registry.release(UNPINNED, body[:-1] + bytes([body[-1] ^ 1]), stated=integrity(body))
    with pytest.raises(SetupFetchError, match="does not match its pinned integrity"):
        fetch_release(tmp_path, UNPINNED, registry=registry.url)
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"package/README.md": b"#"}, "has no package/gcn folder"),
        ({"../escape.json": b"{}"}, "cannot be unpacked safely"),
        # tarfile's data filter strips the leading slash: it lands inside, not in /etc.
        ({"/etc/skyalert-absolute.json": b"{}"}, "has no package/gcn folder"),
    ],
    ids=["no-schemas", "dot-dot", "absolute"],
)
def test_a_tarball_that_is_not_the_package_is_refused(
    registry: Registry, tmp_path: Path, members: dict[str, bytes], message: str
) -> None:
    registry.release(UNPINNED, tarball(members))
    with pytest.raises(SetupFetchError, match=message):
        fetch_release(tmp_path / "cache", UNPINNED, registry=registry.url)
    assert not (tmp_path / "escape.json").exists()
    assert not Path("/etc/skyalert-absolute.json").exists()


def test_unknown_releases_and_unreachable_registries_say_what_to_do(
    registry: Registry, tmp_path: Path
) -> None:
    with pytest.raises(SetupFetchError, match=r"does not exist at .* \(HTTP 404\)"):
        fetch_release(tmp_path, "9.9.9", registry=registry.url)
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SetupFetchError, match=r"make system.*then run it again"):
        fetch_release(tmp_path, "9.9.9", registry=closed)
    with pytest.raises(SetupFetchError, match="is not a release number"):
        fetch_release(tmp_path, "latest", registry=registry.url)
    registry.files["/@nasa-gcn%2Fschema/8.0.0"] = b'{"name": "@nasa-gcn/schema"}'
    with pytest.raises(SetupFetchError, match=r"has no release 8\.0\.0"):
        fetch_release(tmp_path, "8.0.0", registry=registry.url)
