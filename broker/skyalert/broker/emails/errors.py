"""Errors of email subscriptions; ``http_status`` tells the web edge how to answer."""

from __future__ import annotations

from skyalert.broker.core.errors import SkyalertError


class SubscriptionError(SkyalertError):
    """Base of the subscription errors: the caller's request cannot be done as asked."""

    http_status = 400


class InvalidSubscription(SubscriptionError):
    """A field of a subscription is not acceptable; the message names it and says why."""

    http_status = 422


class TopicNotAllowed(SubscriptionError):
    """The caller may not read a topic it asked to subscribe to."""

    http_status = 403


class SubscriptionNotFound(SubscriptionError):
    """No such subscription (or it belongs to someone else)."""

    http_status = 404


class BadLink(SubscriptionError):
    """An unsubscribe or confirmation link was altered, expired or already used."""

    http_status = 400


class SendFailed(SubscriptionError):
    """The SMTP server did not take a mail sent on request (a test or a confirmation)."""

    http_status = 502


class TooManyMails(SubscriptionError):
    """The recipient's rate limit is used up for now; ``retry_after`` seconds until it frees."""

    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
