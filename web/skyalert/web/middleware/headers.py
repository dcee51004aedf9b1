"""Security headers on every HTTP response: a strict Content-Security-Policy and friends.

Every script and style of the portal is a file under ``/static``: no inline code, no other
origin. The live-feed page connects back to our own WebSocket, which ``'self'`` covers, or to
the feed's own server (``SKYALERT_STREAM_PORT``), whose origin is added. Pages
that can show secrets or personal data (accounts, administration, OAuth) are never cached.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def feed_origin(stream_url: str, base_url: str) -> str:
    """The live feed's origin when it is not the portal's own (``'self'`` covers that)."""
    feed, base = urlsplit(stream_url), urlsplit(base_url)
    return "" if feed.netloc == base.netloc else f"{feed.scheme}://{feed.netloc}"


def content_security_policy(feed: str = "") -> str:
    """The policy; ``feed`` is the live feed's origin when another server serves it."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' {feed}".rstrip(),
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def security_headers(feed: str = "") -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy(feed).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]


#: Paths whose answers may hold a new client secret, an address or a token: ``no-store``.
PRIVATE_PREFIXES = ("/account", "/admin", "/oauth2")
NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """ASGI middleware: adds :func:`security_headers` unless a route already set one of them."""

    def __init__(self, app: ASGIApp, feed: str = "") -> None:
        self.app = app
        self.headers = security_headers(feed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith(PRIVATE_PREFIXES)
        wanted = [*self.headers, NO_STORE] if private else self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in wanted if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
