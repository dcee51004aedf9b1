"""Account flows as the portal runs them: sign-up, verification, login, reset, email change.

Each method is one transaction plus, after it commits, at most one mail, sent off the request
path. Answers never reveal whether an address has an account: sign-up, login and reset look
the same and take the same time either way (one password hash each, no mail in the answer).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth import mails
from skyalert.auth.errors import Conflict, Forbidden, InvalidInput
from skyalert.auth.mail_links import Purpose, consume, issue, last_issued
from skyalert.auth.models import User
from skyalert.auth.ratelimit import check, hit
from skyalert.auth.sessions import end_all_sessions, end_session, start_session
from skyalert.auth.upstream import Identity, link_account
from skyalert.auth.users import create_user, find_user, normalize_email, set_password
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.mail import Mail, send_mail
from skyalert.broker.core.rates import Rate
from skyalert.broker.core.secrets import (
    check_password,
    hash_password,
    keyed_hash,
    password_needs_rehash,
)
from skyalert.broker.core.settings import Settings

log = logging.getLogger(__name__)

#: A login before verifying mails a new link only if the newest is older than this.
RESEND_VERIFICATION_AFTER = timedelta(minutes=15)


@dataclass
class Accounts:
    settings: Settings
    sessions: sessionmaker[Session]
    secret: bytes
    mailer: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="account-mail")
    )

    def _limit(self, bucket: str, rate: Rate, what: str) -> None:
        hit(self.sessions, bucket, rate, what)

    def _send(self, mail: Mail | None) -> None:
        """Queue ``mail``: how long a mail server takes must not show in the answer."""
        if mail is not None:
            self.mailer.submit(send_mail, self.settings, mail).add_done_callback(_log_failure)

    def signup(
        self, email: str, password: str, client: str, name: str = "", affiliation: str = ""
    ) -> None:
        """Create an unverified account and mail the verification link."""
        self._limit(f"signup:{client}", self.settings.rate_limit_signup, "sign-ups")
        address = normalize_email(email)
        with self.sessions.begin() as session:
            if find_user(session, address) is not None:
                check_password(None, password)  # the hash a new account costs
                mail = mails.already_registered(self.settings, address)
            else:
                user = create_user(session, address, password, name=name, affiliation=affiliation)
                token = issue(session, self.secret, user, Purpose.VERIFY)
                mail = mails.verification(self.settings, address, token)
        self._send(mail)

    def verify_email(self, token: str) -> str:
        """Follow a verification link; returns the verified address."""
        with self.sessions.begin() as session:
            row = consume(session, self.secret, token, Purpose.VERIFY)
            user = session.get(User, row.user_id)
            assert user is not None  # the token's row cascades with its user
            if user.email_verified_at is None:
                user.email_verified_at = utcnow()
            return user.email

    def login(self, email: str, password: str, client: str, method: str = "password") -> str:
        """Check the password; returns a new session cookie value.

        Failed attempts are limited per client address and per account (brute force);
        successful logins are not counted."""
        rate = self.settings.rate_limit_login
        buckets = (f"login-ip:{client}", f"login-account:{email.strip().lower()}")
        for bucket in buckets:
            check(self.sessions, bucket, rate, "failed logins")
        unverified: str | None = None
        with self.sessions.begin() as session:
            user = find_user(session, email)
            if check_password(user.password_hash if user else None, password):
                assert user is not None  # no hash never matches
                if user.disabled:
                    raise Forbidden("this account has been disabled; write to the operators")
                if user.verified:
                    if user.password_hash and password_needs_rehash(user.password_hash):
                        user.password_hash = hash_password(password)
                    return start_session(
                        session, self.secret, user, self.settings.session_lifetime, method
                    )
                unverified = self._remind(session, user)
        if unverified is not None:
            raise Forbidden(f"confirm your email address first: {unverified}")
        for bucket in buckets:
            hit(self.sessions, bucket, rate, "failed logins")
        raise Forbidden("wrong email address or password")

    def _remind(self, session: Session, user: User) -> str:
        """Mail a new verification link unless one went out lately; says which happened."""
        sent = last_issued(session, user, Purpose.VERIFY)
        if sent is not None and utcnow() - sent < RESEND_VERIFICATION_AFTER:
            return (
                f"open the link we mailed you at {sent:%H:%M} UTC (look in the spam folder too); "
                f"we send another one at most every {RESEND_VERIFICATION_AFTER.seconds // 60} "
                "minutes"
            )
        token = issue(session, self.secret, user, Purpose.VERIFY)
        self._send(mails.verification(self.settings, user.email, token, again=sent is not None))
        return "we have just mailed you a new link (earlier links still work)"

    def login_upstream(self, identity: Identity) -> str:
        """Log in someone an upstream provider vouched for; returns a new session cookie."""
        with self.sessions.begin() as session:
            user = link_account(session, identity)
            return start_session(
                session,
                self.secret,
                user,
                self.settings.session_lifetime,
                f"oidc:{identity.provider}",
            )

    def logout(self, cookie: str) -> None:
        with self.sessions.begin() as session:
            end_session(session, self.secret, cookie)

    def request_password_reset(self, email: str, client: str) -> None:
        """Mail a reset link if the account exists; the caller cannot tell either way."""
        self._limit(
            f"reset:{client}", self.settings.rate_limit_password_reset, "password-reset requests"
        )
        mail = None
        with self.sessions.begin() as session:
            user = find_user(session, email)
            if user is not None:
                token = issue(session, self.secret, user, Purpose.RESET)
                mail = mails.password_reset(self.settings, user.email, token)
        self._send(mail)

    def reset_password(self, token: str, password: str) -> None:
        """Set a new password from a reset link; logs out every session of the account."""
        with self.sessions.begin() as session:
            row = consume(session, self.secret, token, Purpose.RESET)
            user = session.get(User, row.user_id)
            assert user is not None
            set_password(session, user, password)
            user.email_verified_at = user.email_verified_at or utcnow()  # the mail arrived
            end_all_sessions(session, user.id)

    def change_password(self, user_id: int, current: str, new: str, keep_cookie: str) -> None:
        with self.sessions.begin() as session:
            user = session.get(User, user_id)
            assert user is not None
            if user.password_hash and not check_password(user.password_hash, current):
                raise Forbidden("the current password is wrong")
            set_password(session, user, new)
            end_all_sessions(session, user.id, keep=keyed_hash(self.secret, keep_cookie))

    def request_email_change(self, user_id: int, new_email: str, password: str) -> None:
        """Mail a confirmation link to the new address; the account keeps the old one until
        it is followed."""
        address = normalize_email(new_email)
        with self.sessions.begin() as session:
            user = session.get(User, user_id)
            assert user is not None
            if user.password_hash and not check_password(user.password_hash, password):
                raise Forbidden("the password is wrong")
            if address == user.email:
                raise InvalidInput("that is already your address")
            if session.scalar(select(User.id).where(User.email == address)) is not None:
                raise Conflict(f"{address} belongs to another account")
            token = issue(session, self.secret, user, Purpose.CHANGE_EMAIL, new_email=address)
        self._send(mails.email_change(self.settings, address, token))

    def confirm_email_change(self, token: str) -> str:
        """Follow the link sent to the new address; returns it. The old address is told."""
        with self.sessions.begin() as session:
            row = consume(session, self.secret, token, Purpose.CHANGE_EMAIL)
            user = session.get(User, row.user_id)
            assert user is not None
            assert row.new_email is not None
            if session.scalar(select(User.id).where(User.email == row.new_email)) is not None:
                raise Conflict(f"{row.new_email} belongs to another account by now")
            old, user.email = user.email, row.new_email
            user.email_verified_at = utcnow()
            new = user.email
        self._send(mails.email_changed(self.settings, old, new))
        return new

    def update_profile(self, user_id: int, name: str, affiliation: str) -> None:
        if len(name) > 200 or len(affiliation) > 200:
            raise InvalidInput("name and affiliation are limited to 200 characters each")
        with self.sessions.begin() as session:
            user = session.get(User, user_id)
            assert user is not None
            user.name, user.affiliation = name.strip(), affiliation.strip()


def _log_failure(sent: Future[None]) -> None:
    if (error := sent.exception()) is not None:
        log.error("an account mail was not sent: %s", error)
