"""Signed links in mails: unsubscribe (no login needed) and address confirmation.

An unsubscribe token names the subscriptions it stops and carries an HMAC of them under the
server secret, so it needs no table and cannot be forged or pointed at someone else's
subscription. Confirmation links carry a random secret whose keyed hash is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlencode

from skyalert.broker.core.secrets import keyed_hash, same
from skyalert.broker.emails.errors import BadLink

UNSUBSCRIBE_PATH = "/email/unsubscribe"
CONFIRM_PATH = "/email/confirm"
_TOKEN = re.compile(r"^(\d{1,12}(?:\.\d{1,12}){0,99})-([0-9a-f]{32})$")


def _signature(secret: bytes, ids: str) -> str:
    return keyed_hash(secret, f"unsubscribe:{ids}")[:32]


def unsubscribe_token(secret: bytes, subscription_ids: Iterable[int]) -> str:
    ids = ".".join(str(i) for i in sorted(set(subscription_ids)))
    return f"{ids}-{_signature(secret, ids)}"


def read_unsubscribe_token(secret: bytes, token: str) -> list[int]:
    """The subscription ids a token stops; BadLink if it was altered."""
    found = _TOKEN.match(token.strip())
    if found is None or not same(found.group(2), _signature(secret, found.group(1))):
        raise BadLink(
            "this unsubscribe link is broken or was altered; open the link from the mail "
            "again, or manage your subscriptions on the portal"
        )
    return [int(i) for i in found.group(1).split(".")]


def unsubscribe_url(base_url: str, secret: bytes, subscription_ids: Iterable[int]) -> str:
    token = unsubscribe_token(secret, subscription_ids)
    return f"{base_url}{UNSUBSCRIBE_PATH}?{urlencode({'token': token})}"


def confirm_url(base_url: str, token: str) -> str:
    return f"{base_url}{CONFIRM_PATH}?{urlencode({'token': token})}"
