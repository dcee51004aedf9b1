"""The account mails: plain text, short, saying what to do and what to ignore."""

from __future__ import annotations

from urllib.parse import urlencode

from skyalert.broker.core.mail import Mail
from skyalert.broker.core.settings import Settings


def _link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.base_url}{path}?{urlencode({'token': token})}"


def verification(settings: Settings, to: str, token: str, again: bool = False) -> Mail:
    """The sign-up link; ``again`` when an earlier one was sent (it keeps working)."""
    opening = (
        "You tried to log in before confirming your address, so here is a new link; the "
        "earlier one still works too."
        if again
        else "Welcome to skyalert."
    )
    return Mail(
        to=to,
        subject="Confirm your skyalert account",
        text=(
            f"{opening}\n\nConfirm your email address by opening this link "
            f"(valid for 2 days):\n\n  {_link(settings, '/account/verify', token)}\n\n"
            "If you did not sign up, ignore this mail: nothing happens without the link.\n"
        ),
    )


def already_registered(settings: Settings, to: str) -> Mail:
    return Mail(
        to=to,
        subject="Your skyalert account",
        text=(
            "Someone (probably you) tried to sign up at skyalert with this address, which "
            f"already has an account.\n\nLog in: {settings.base_url}/account/login\n"
            f"Forgot the password? {settings.base_url}/account/reset\n"
        ),
    )


def password_reset(settings: Settings, to: str, token: str) -> Mail:
    return Mail(
        to=to,
        subject="Reset your skyalert password",
        text=(
            "Choose a new password here (the link works once, for one hour):\n\n"
            f"  {_link(settings, '/account/reset/confirm', token)}\n\n"
            "If you did not ask for this, ignore this mail; your password stays as it is.\n"
        ),
    )


def email_change(settings: Settings, to: str, token: str) -> Mail:
    return Mail(
        to=to,
        subject="Confirm your new skyalert address",
        text=(
            "Confirm that skyalert should use this address for your account (valid for one "
            f"day):\n\n  {_link(settings, '/account/email/confirm', token)}\n\n"
            "If you did not ask for this, ignore this mail.\n"
        ),
    )


def email_changed(settings: Settings, to: str, new_address: str) -> Mail:
    return Mail(
        to=to,
        subject="Your skyalert address was changed",
        text=(
            f"Your skyalert account now uses {new_address}; this address is no longer linked "
            "to it. If you did not do this, reply to this mail or contact the operators.\n"
        ),
    )


def credential_expiring(
    settings: Settings, to: str, name: str, client_id: str, days_left: int
) -> Mail:
    return Mail(
        to=to,
        subject=f"Your skyalert credential {name!r} expires in {days_left} days",
        text=(
            f"The credential {name!r} ({client_id}) has not been used for a while and will be "
            f"deleted in {days_left} days. Using it (getting a token) keeps it.\n\n"
            f"Your credentials: {settings.base_url}/account/credentials\n"
        ),
    )


def credential_expired(settings: Settings, to: str, name: str, client_id: str) -> Mail:
    return Mail(
        to=to,
        subject=f"Your skyalert credential {name!r} was deleted",
        text=(
            f"The credential {name!r} ({client_id}) was unused for too long and has been "
            f"deleted. Create a new one at {settings.base_url}/account/credentials\n"
        ),
    )
