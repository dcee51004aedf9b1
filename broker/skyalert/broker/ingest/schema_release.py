"""The GCN schema release alerts are checked against: fetched from npm once, cached, loaded.

``@nasa-gcn/schema`` is fetched at set-up (``skyalert schemas fetch``, run by ``make system``)
into ``<schema cache>/gcn-schema-<version>/``: the registry's tarball, checked against the pinned
``dist.integrity`` (or, for a release we have not pinned, the registry's own value, kept in the
cache's marker). Every cached release is loaded, so alerts accepted under an older release
still validate against it; ``SKYALERT_GCN_SCHEMA_VERSION`` picks the one new alerts get.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from skyalert.broker.core.downloads import cached_folder, fetch_json, fetch_verified, marker_of
from skyalert.broker.core.errors import SetupFetchError
from skyalert.broker.core.settings import Settings
from skyalert.schemas.gcn_release import PACKAGE, PINNED, VERSION
from skyalert.schemas.validation import SchemaRegistry, load_registry

REGISTRY_URL = "https://registry.npmjs.org"
_PREFIX = "gcn-schema-"
#: npm tarballs hold the package under this folder.
_TOP = "package"

Progress = Callable[[str], None]


def _silent(_message: str) -> None:
    return None


def release_folder(cache: Path, version: str) -> Path:
    return cache / f"{_PREFIX}{version}"


def fetch_release(
    cache: Path, version: str, progress: Progress = _silent, registry: str = REGISTRY_URL
) -> Path:
    """The unpacked package folder of ``version``, fetched and verified the first time."""
    if not VERSION.match(version):
        raise SetupFetchError(
            f"SKYALERT_GCN_SCHEMA_VERSION={version!r} is not a release number such as 7.2.3"
        )
    folder = release_folder(cache, version)
    if marker_of(folder) is None:
        progress(f"fetching {PACKAGE} {version} from the npm registry (set-up only) …")
        cached_folder(folder, lambda staging: _download(registry, version, staging))
        progress(f"fetched {PACKAGE} {version} into {folder}")
    return folder / _TOP


def _download(registry: str, version: str, staging: Path) -> str:
    what = f"{PACKAGE} {version}"
    meta = fetch_json(f"{registry}/{quote(PACKAGE, safe='@')}/{version}", what)
    dist = meta.get("dist") if isinstance(meta, dict) else None
    if not isinstance(dist, dict) or not {"tarball", "integrity"} <= dist.keys():
        raise SetupFetchError(f"the npm registry has no release {version} of {PACKAGE}")
    published = str(dist["integrity"])
    pinned = PINNED.get(version, published)
    if published != pinned:
        raise SetupFetchError(
            f"the npm registry now gives {what} the integrity {published}, not the "
            f"pinned {pinned}: the release was replaced. Report it; do not change the pin."
        )
    body = fetch_verified(str(dist["tarball"]), pinned, what)
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            archive.extractall(staging, filter="data")  # no links out, no absolute paths
    except (tarfile.TarError, OSError, EOFError) as error:
        raise SetupFetchError(f"{what}: the tarball cannot be unpacked safely: {error}") from None
    if not (staging / _TOP / "gcn").is_dir():
        raise SetupFetchError(f"{what}: the tarball has no {_TOP}/gcn folder")
    return pinned


def cached_releases(cache: Path) -> tuple[tuple[str, Path], ...]:
    """``(version, package folder)`` of every complete cached release, oldest name first."""
    if not cache.is_dir():
        return ()
    found = []
    for folder in sorted(cache.glob(f"{_PREFIX}*")):
        version = folder.name.removeprefix(_PREFIX)
        if VERSION.match(version) and marker_of(folder) is not None:
            found.append((version, folder / _TOP))
    return tuple(found)


def schema_cache(settings: Settings) -> Path:
    return (settings.schema_cache or settings.var_dir / "schemas").resolve()


def contract_registry(settings: Settings, progress: Progress = _silent) -> SchemaRegistry:
    """Our schemas plus every cached GCN release; the configured one is fetched if missing."""
    cache = schema_cache(settings)
    fetch_release(cache, settings.gcn_schema_version, progress)
    releases = cached_releases(cache)
    return load_registry(releases, settings.gcn_schema_version)
