"""A small JSON-over-HTTP helper on the standard library, with errors a person can act on."""

from __future__ import annotations

__all__ = ["Response", "get_json", "request"]

import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from skyalert.client.errors import ApiError, ServerUnreachable
from skyalert.client.version import USER_AGENT

#: Answers larger than this are not ours (the catalog is a few kB, an alert at most a few MB).
MAX_RESPONSE = 32 * 1024 * 1024
TIMEOUT = 15.0


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes

    def json(self, url: str) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise ServerUnreachable(
                f"{url} did not answer with JSON (got {self.content_type or 'no content type'}); "
                "is this the address of a skyalert server?"
            ) from None


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServerUnreachable(f"{url!r} is not an http:// or https:// URL")
    return url


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> Response:
    """Send one request; HTTP errors become :class:`ApiError` with the server's explanation."""
    check_url(url)
    sent = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
    outgoing = urllib.request.Request(url, data=body, headers=sent, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(outgoing, timeout=timeout) as answer:  # noqa: S310
            return Response(answer.status, answer.headers.get_content_type(), _read(answer))
    except urllib.error.HTTPError as failure:
        status = failure.code
        problem = _problem(_read(failure))
        raise ApiError(_explain(method, url, status, problem), status, problem) from None
    except urllib.error.URLError as failure:
        raise ServerUnreachable(f"could not reach {url}: {_reason(failure.reason)}") from None
    except TimeoutError:
        raise ServerUnreachable(f"{url} did not answer within {timeout:g} s") from None
    except OSError as failure:
        raise ServerUnreachable(f"could not reach {url}: {_reason(failure)}") from None


def get_json(url: str, *, headers: Mapping[str, str] | None = None) -> Any:
    return request("GET", url, headers=headers).json(url)


def _read(answer: Any) -> bytes:
    data: bytes = answer.read(MAX_RESPONSE + 1)
    if len(data) > MAX_RESPONSE:
        raise ServerUnreachable(f"the answer from {answer.url} is larger than {MAX_RESPONSE} bytes")
    return data


def _problem(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return {"detail": text[:500]} if text else {}
    return parsed if isinstance(parsed, dict) else {"detail": parsed}


def _explain(method: str, url: str, status: int, problem: Mapping[str, Any]) -> str:
    said = problem.get("detail") or problem.get("error_description") or problem.get("title")
    said = said or problem.get("error") or "no explanation given"
    return f"{method} {url} failed with HTTP {status}: {said}"


def _reason(reason: object) -> str:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"its TLS certificate could not be verified ({reason.verify_message})"
    if isinstance(reason, socket.gaierror):
        return "the host name does not resolve (check the spelling and your network)"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the server running, and is the port right?)"
    if isinstance(reason, TimeoutError):
        return "timed out"
    return str(reason)
