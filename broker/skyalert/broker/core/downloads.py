"""Fetch set-up dependencies once into the var folder: verified downloads and complete caches."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx

from skyalert.broker.core.errors import SetupFetchError

#: Written last into a cache folder: a folder without it is a fetch cut short.
COMPLETE = ".complete"


def cached_folder(target: Path, fill: Callable[[Path], str]) -> Path:
    """``target``, filled once by ``fill(staging)`` into a staging folder then renamed.

    ``fill`` returns the text kept in the completion marker (a version, a hash). A crash midway
    leaves only the staging folder, which the next call throws away.
    """
    target = target.resolve()
    if (target / COMPLETE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Several processes may start at once (web workers): one fills, the others wait and reuse.
    # The lock is the parent folder's own, so no lock file is left behind.
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        if not (target / COMPLETE).exists():
            _fill(target, fill)
    finally:
        os.close(folder)  # releases the lock
    return target


def _fill(target: Path, fill: Callable[[Path], str]) -> None:
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        marker = fill(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    (staging / COMPLETE).write_text(marker, "utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def marker_of(folder: Path) -> str | None:
    """What ``fill`` returned for a complete cache folder, or None if it is not complete."""
    marker = folder / COMPLETE
    return marker.read_text("utf-8") if marker.exists() else None


def fetch_json(url: str, what: str, timeout: float = 30.0) -> object:
    """GET a JSON document; :class:`SetupFetchError` says what could not be fetched."""
    return _get(url, what, timeout).json()


def fetch_verified(url: str, integrity: str, what: str, timeout: float = 60.0) -> bytes:
    """GET ``url`` and check it against a Subresource Integrity value (``sha512-<base64>``).

    This is the form npm's registry publishes as ``dist.integrity`` (W3C SRI, section 3.1).
    """
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in {"sha256", "sha384", "sha512"} or not expected:
        raise SetupFetchError(f"{what}: unsupported integrity value {integrity!r}")
    body = _get(url, what, timeout).content
    found = base64.b64encode(hashlib.new(algorithm, body).digest()).decode()
    if found != expected:
        raise SetupFetchError(
            f"{what} from {url} does not match its pinned integrity {integrity} "
            f"(got {algorithm}-{found}); the download was corrupted or the release changed. "
            "Try again; if it persists, report it rather than changing the pin."
        )
    return body


def _get(url: str, what: str, timeout: float) -> httpx.Response:
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        if response.status_code == 404:
            raise SetupFetchError(f"{what} does not exist at {url} (HTTP 404): check the version")
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise SetupFetchError(
            f"could not fetch {what} from {url}: {error}. It is fetched once at set-up "
            "(make system); check the network or a proxy (HTTPS_PROXY), then run it again."
        ) from error
    return response
