"""Change requests: a submitter proposes a corrected subject/body; a moderator approves (a
correction, version n+1) or rejects; a mail to moderators on each request, to the requester
at each decision. As NASA GCN's change requests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from skyalert.auth.models import GroupMembership, User
from skyalert.auth.scopes import CIRCULAR_MODERATE, CIRCULAR_MODERATORS, CIRCULAR_SUBMIT
from skyalert.broker.circulars import submission
from skyalert.broker.circulars.errors import CircularConflict, CircularNotFound, NotASubmitter
from skyalert.broker.circulars.forms import byline
from skyalert.broker.circulars.models import ChangeRequest, Circular
from skyalert.broker.circulars.publishing import Published
from skyalert.broker.circulars.service import Circulars
from skyalert.broker.circulars.submission import Draft
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.mail import Mail, send_mails

MODERATION_PATH = "/circulars/change-requests"


@dataclass(frozen=True)
class Decided:
    """A decision on a change request: the outcome, and the new version if approved."""

    request_id: int
    status: str
    published: Published | None


class ChangeRequests:
    """Propose, list and decide change requests (blocking: database, Kafka and SMTP)."""

    def __init__(self, circulars: Circulars) -> None:
        self.circulars = circulars
        self.settings = circulars.pipeline.settings
        self.sessions = circulars.pipeline.sessions

    def _user(self, session: Session, user_id: int, scope: str) -> User:
        user = session.get(User, user_id)
        if user is None:
            raise NotASubmitter("the account no longer exists")
        self.circulars.require(session, user, scope)
        return user

    def propose(self, user_id: int, number: int, draft: Draft) -> int:
        """Store a submitter's proposed text of circular ``number``; mail the moderators."""
        checked = self.circulars.check(draft)
        with self.sessions.begin() as session:
            user = self._user(session, user_id, CIRCULAR_SUBMIT)
            circular = submission.get(session, number)
            row = ChangeRequest(
                number=number, base_version=circular.version, requester_id=user.id,
                subject=checked.subject, body=checked.body, format=checked.format,
                status="pending", created_at=utcnow(),
            )  # fmt: skip
            session.add(row)
            session.flush()
            request_id, who = row.id, byline(user.name, user.affiliation, user.email)
            moderators = self._moderator_addresses(session)
        link = f"{self.settings.base_url}{MODERATION_PATH}"
        send_mails(
            self.settings,
            [
                Mail(
                    to=address,
                    subject=f"Change request for GCN Circular {number}",
                    text=(
                        f"{who} asks to change GCN Circular {number} to:\n\n"
                        f"Subject: {checked.subject}\n\n{checked.body}\n\n"
                        f"Approve or reject it at {link}\n"
                    ),
                )
                for address in moderators
            ],
        )
        return request_id

    def _moderator_addresses(self, session: Session) -> list[str]:
        return list(
            session.scalars(
                select(User.email)
                .join(GroupMembership, GroupMembership.user_id == User.id)
                .where(
                    GroupMembership.group_name == CIRCULAR_MODERATORS,
                    User.disabled_at.is_(None),
                )
                .order_by(User.id)
            )
        )

    def pending(self, user_id: int, number: int | None = None) -> list[ChangeRequest]:
        """The requests awaiting a decision (of circular ``number``, or all), oldest first
        (moderators only)."""
        with self.sessions() as session:
            self._user(session, user_id, CIRCULAR_MODERATE)
            # Requests on withdrawn circulars wait for nothing: they drop out of the queue.
            wanted = (
                select(ChangeRequest)
                .join(Circular, Circular.number == ChangeRequest.number)
                .where(ChangeRequest.status == "pending", Circular.withdrawn_at.is_(None))
            )
            if number is not None:
                submission.get(session, number)
                wanted = wanted.where(ChangeRequest.number == number)
            rows = session.scalars(wanted.order_by(ChangeRequest.id)).all()
            session.expunge_all()
        return list(rows)

    def _claim(
        self, user_id: int, number: int, request_id: int, status: str
    ) -> tuple[ChangeRequest, str]:
        """Mark a pending request decided, once; CircularConflict if it was decided already."""
        with self.sessions.begin() as session:
            moderator = self._user(session, user_id, CIRCULAR_MODERATE)
            row = session.get(ChangeRequest, request_id)
            if row is None or row.number != number:
                raise CircularNotFound(f"circular {number} has no change request {request_id}")
            submission.get(session, number)  # withdrawn: 410
            editor = byline(moderator.name, moderator.affiliation, moderator.email)
            claimed = session.execute(
                update(ChangeRequest)
                .where(ChangeRequest.id == request_id, ChangeRequest.status == "pending")
                .values(status=status, decided_at=utcnow(), decided_by=editor)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                raise CircularConflict(f"change request {request_id} was decided already")
            session.refresh(row)
            requester = session.get(User, row.requester_id)
            session.expunge(row)
        return row, requester.email if requester else ""

    def approve(self, user_id: int, number: int, request_id: int) -> Decided:
        """Apply the proposed text as a correction, unless the circular changed since."""
        row, requester = self._claim(user_id, number, request_id, "approved")
        draft = Draft(row.subject, row.body, row.format)
        try:
            published = self.circulars.correct(user_id, row.number, draft, row.base_version)
        except Exception:
            self._unclaim(request_id)
            raise
        self._tell(requester, row, "approved: it is now version " + str(published.version))
        return Decided(request_id, "approved", published)

    def _unclaim(self, request_id: int) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(ChangeRequest)
                .where(ChangeRequest.id == request_id)
                .values(status="pending", decided_at=None, decided_by=None)
            )

    def reject(self, user_id: int, number: int, request_id: int) -> Decided:
        row, requester = self._claim(user_id, number, request_id, "rejected")
        self._tell(requester, row, "not accepted by the moderators")
        return Decided(request_id, "rejected", None)

    def _tell(self, requester: str, row: ChangeRequest, outcome: str) -> None:
        if not requester:
            return
        url = f"{self.settings.base_url}/circulars/{row.number}"
        send_mails(
            self.settings,
            [
                Mail(
                    to=requester,
                    subject=f"Your change request for GCN Circular {row.number}",
                    text=f"Your change request for GCN Circular {row.number} was {outcome}.\n\n"
                    f"  {url}\n",
                )
            ],
        )
