"""Why a circular was refused or not found; each message says what to do instead."""

from __future__ import annotations

from skyalert.broker.core.errors import SkyalertError


class CircularError(SkyalertError):
    """A circular request the caller can fix."""

    http_status = 400


class CircularRefused(CircularError):
    """The subject, body or format breaks the submission rules."""

    http_status = 422


class CircularTooLarge(CircularError):
    http_status = 413


class NotASubmitter(CircularError):
    """The account may not submit (or correct) circulars."""

    http_status = 403


class CircularNotFound(CircularError):
    http_status = 404


class CircularWithdrawn(CircularError):
    """Moderators withdrew it; its number is never given to another circular."""

    http_status = 410


class CircularConflict(CircularError):
    """The circular changed since the change request was made, or the request was decided."""

    http_status = 409
