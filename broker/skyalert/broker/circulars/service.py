"""The one way circulars are accepted and corrected, shared by the portal, the API and mail-in."""

from __future__ import annotations

from sqlalchemy.orm import Session

from skyalert.auth import ratelimit
from skyalert.auth.models import User
from skyalert.auth.scopes import CIRCULAR_MODERATE, CIRCULAR_SUBMIT, CIRCULAR_SUBMITTERS
from skyalert.auth.users import scopes_of_user
from skyalert.broker.circulars import publishing, search, submission
from skyalert.broker.circulars.errors import NotASubmitter
from skyalert.broker.circulars.forms import byline
from skyalert.broker.circulars.publishing import Published
from skyalert.broker.circulars.submission import Draft, SubmittedHow
from skyalert.broker.ingest.pipeline import IngestPipeline


class Circulars:
    """Accept, correct and publish circulars (blocking: database and Kafka)."""

    def __init__(self, pipeline: IngestPipeline) -> None:
        self.pipeline = pipeline

    @property
    def max_bytes(self) -> int:
        return self.pipeline.settings.ingest_max_bytes

    def check(self, draft: Draft) -> Draft:
        return submission.check_draft(draft, self.max_bytes)

    def require(self, session: Session, user: User, scope: str) -> None:
        if user.disabled or not user.verified:
            raise NotASubmitter("this account is disabled or its address is not verified")
        if scope not in scopes_of_user(session, user.id, self.pipeline.catalog):
            what = "submit circulars" if scope == CIRCULAR_SUBMIT else "correct circulars"
            raise NotASubmitter(
                f"{user.email} may not {what}: that needs membership of "
                f"{CIRCULAR_SUBMITTERS if scope == CIRCULAR_SUBMIT else 'circular-moderator'}. "
                "Ask an existing submitter to endorse you, or an admin to add you."
            )

    def submit(self, user_id: int, draft: Draft, how: SubmittedHow) -> Published:
        """Check the author and the draft, give it the next number, archive and publish it."""
        rate = self.pipeline.settings.rate_limit_circulars
        ratelimit.hit(self.pipeline.sessions, f"circulars:{user_id}", rate, "circulars submitted")
        checked = self.check(draft)
        with self.pipeline.sessions.begin() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotASubmitter("the account no longer exists")
            self.require(session, user, CIRCULAR_SUBMIT)
            author = byline(user.name, user.affiliation, user.email)
            circular, version = submission.accept(session, checked, author, user.subject, how)
            alerts = publishing.archive_version(session, self.pipeline, circular, version)
            search.index(session, [circular.number])
            number, version_number = circular.number, circular.version
        return Published(number, version_number, publishing.send(self.pipeline, alerts))

    def correct(
        self, user_id: int, number: int, draft: Draft, expected: int | None = None
    ) -> Published:
        """A moderator's correction: version n+1, archived and re-streamed (``expected``: only
        if the circular is still at that version)."""
        checked = self.check(draft)
        with self.pipeline.sessions.begin() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotASubmitter("the account no longer exists")
            self.require(session, user, CIRCULAR_MODERATE)
            editor = byline(user.name, user.affiliation, user.email)
            circular, version = submission.correct(session, number, checked, editor, expected)
            alerts = publishing.archive_version(session, self.pipeline, circular, version)
            search.index(session, [circular.number])
            version_number = circular.version
        return Published(number, version_number, publishing.send(self.pipeline, alerts))

    def withdraw(self, user_id: int, number: int) -> None:
        """A moderator withdraws spam: hidden everywhere, the number stays taken."""
        with self.pipeline.sessions.begin() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotASubmitter("the account no longer exists")
            self.require(session, user, CIRCULAR_MODERATE)
            submission.withdraw(session, number)
