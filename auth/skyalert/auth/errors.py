"""Errors of accounts, credentials and tokens; each carries the HTTP status the web edge uses."""

from __future__ import annotations

from skyalert.broker.core.errors import SkyalertError


class AuthError(SkyalertError):
    """Base of the auth errors; ``http_status`` tells the web edge how to answer."""

    http_status = 400


class InvalidToken(AuthError):
    """A bearer token is missing, malformed, forged, expired, for someone else, or revoked."""

    http_status = 401


class NotAuthenticated(AuthError):
    """No token and no portal session came with the request."""

    http_status = 401


class Forbidden(AuthError):
    """The caller is known but lacks the scope or group for what it asked."""

    http_status = 403


class NotFound(AuthError):
    """The account, credential or group named does not exist (or is not the caller's)."""

    http_status = 404


class Conflict(AuthError):
    """The request clashes with what exists, e.g. an email address already in use."""

    http_status = 409


class InvalidInput(AuthError):
    """A value sent by the user is not acceptable; the message says which and why."""

    http_status = 422


class RateLimited(AuthError):
    """Too many attempts in the current window; ``retry_after`` seconds until the next one."""

    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
