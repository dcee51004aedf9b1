"""Scopes → Kafka ACLs, kept in sync through the Kafka admin API.

The mapping (principal = the token's ``sub`` = the credential's client id):

- public topics (and the heartbeat): ``User:*`` may READ, one ACL per topic, whatever the
  credential; public data needs no per-user ACL;
- consumer groups: ``User:<client_id>`` may READ groups whose id starts with its client id
  (PREFIXED), so nobody can join, commit to or hijack another credential's group;
- ``read:<group>``: READ on each restricted topic of that group (LITERAL); ``admin`` reads
  every restricted topic;
- ``publish:<namespace>``: WRITE on the namespace's inbox topic ``<namespace>.inbox`` only;
  the ingest worker validates and republishes, so nobody writes a public topic directly.

So a credential costs 1 + (its restricted topics) + (its namespaces) ACLs, and public topics one
each. Only bindings for ``User:*`` on catalog topics and for client-id principals are ours: an
operator's own ACLs are never touched. Our own services use the PLAINTEXT listener as super user.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.credentials import effective_scopes
from skyalert.auth.models import Credential
from skyalert.auth.scopes import may_publish, may_read
from skyalert.auth.users import scopes_of_user
from skyalert.broker.core.errors import SkyalertError
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import admin_config
from skyalert.broker.kafka.inboxes import inbox_name
from skyalert.schemas.catalog import Catalog, Visibility

log = logging.getLogger(__name__)

EVERYONE = "User:*"
#: What our client ids look like (base32, lower case): the principals we manage.
OURS = re.compile(r"^User:[a-z2-7]{26}$")
TIMEOUT = 15.0


class AclSyncError(SkyalertError):
    """Kafka refused or did not answer an ACL change."""


def principal(client_id: str) -> str:
    return f"User:{client_id}"


def _binding(
    resource: ResourceType, name: str, pattern: ResourcePatternType, who: str, op: AclOperation
) -> AclBinding:
    return AclBinding(resource, name, pattern, who, "*", op, AclPermissionType.ALLOW)


def public_bindings(catalog: Catalog) -> set[AclBinding]:
    return {
        _binding(
            ResourceType.TOPIC, t.name, ResourcePatternType.LITERAL, EVERYONE, AclOperation.READ
        )
        for t in catalog.topics
        if t.visibility is Visibility.PUBLIC
    }


def credential_bindings(client_id: str, scopes: Iterable[str], catalog: Catalog) -> set[AclBinding]:
    """The ACLs of one credential holding ``scopes``."""
    who = principal(client_id)
    held = set(scopes)
    bindings = {
        _binding(
            ResourceType.GROUP, client_id, ResourcePatternType.PREFIXED, who, AclOperation.READ
        )
    }
    namespaces = set()
    for topic in catalog.topics:
        if topic.visibility is Visibility.RESTRICTED and may_read(held, topic):
            bindings.add(
                _binding(
                    ResourceType.TOPIC,
                    topic.name,
                    ResourcePatternType.LITERAL,
                    who,
                    AclOperation.READ,
                )
            )
        if may_publish(held, topic):
            namespaces.add(topic.namespace)
    for namespace in namespaces:
        bindings.add(
            _binding(
                ResourceType.TOPIC,
                inbox_name(namespace),
                ResourcePatternType.LITERAL,
                who,
                AclOperation.WRITE,
            )
        )
    return bindings


def _as_filter(binding: AclBinding) -> AclBindingFilter:
    return AclBindingFilter(
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )


def _filter_for(who: str | None) -> AclBindingFilter:
    # None matches any name, principal or host (confluent-kafka's stubs say str only).
    anything: Any = None
    return AclBindingFilter(
        ResourceType.ANY,
        anything,
        ResourcePatternType.ANY,
        who or anything,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


@dataclass
class SyncReport:
    created: list[AclBinding] = field(default_factory=list)
    deleted: list[AclBinding] = field(default_factory=list)

    def lines(self) -> list[str]:
        def show(b: AclBinding) -> str:
            parts = (b.principal, b.operation, b.restype, b.resource_pattern_type, b.name)
            return " ".join(str(getattr(part, "name", part)) for part in parts)

        out = [f"added   {show(b)}" for b in self.created]
        out += [f"removed {show(b)}" for b in self.deleted]
        return out or ["Kafka ACLs up to date; nothing changed"]


class AclSync:
    """Applies the mapping above to a Kafka cluster; disabled for tansu or by setting."""

    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], catalog: Catalog
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.catalog = catalog
        self._admin: AdminClient | None = None

    @property
    def enabled(self) -> bool:
        # tansu has no ACLs, and create_acls against it aborts the whole process.
        return (
            self.settings.kafka_acls
            and self.settings.local_broker != "tansu"
            and self.settings.kafka_bootstrap is not None
        )

    def _client(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(admin_config(self.settings, log_level=0))
        return self._admin

    def _desired_for(self, session: Session, credential: Credential) -> set[AclBinding]:
        if credential.user.disabled:
            return set()
        held = scopes_of_user(session, credential.user_id, self.catalog)
        return credential_bindings(
            credential.client_id, effective_scopes(credential, held), self.catalog
        )

    def _current(self, who: str | None) -> set[AclBinding]:
        try:
            found = self._client().describe_acls(_filter_for(who), request_timeout=TIMEOUT)
            return set(found.result())
        except KafkaException as exc:
            raise AclSyncError(_explain(exc)) from exc

    def _apply(self, want: set[AclBinding], have: set[AclBinding]) -> SyncReport:
        report = SyncReport(
            created=sorted(want - have, key=str), deleted=sorted(have - want, key=str)
        )
        try:
            if report.created:
                created = self._client().create_acls(report.created, request_timeout=TIMEOUT)
                for future in created.values():
                    future.result()
            if report.deleted:
                filters = [_as_filter(b) for b in report.deleted]
                deleted = self._client().delete_acls(filters, request_timeout=TIMEOUT)
                for future in deleted.values():
                    future.result()
        except KafkaException as exc:
            raise AclSyncError(_explain(exc)) from exc
        return report

    def sync_all(self) -> SyncReport:
        """Make Kafka's ACLs match every credential and the catalog (``skyalert acls sync``)."""
        if not self.enabled:
            log.warning("Kafka ACL sync skipped: %s", self.why_disabled())
            return SyncReport()
        with self.sessions() as session:
            want = public_bindings(self.catalog)
            for credential in session.scalars(select(Credential)).all():
                want |= self._desired_for(session, credential)
        public_topics = {b.name for b in public_bindings(self.catalog)}
        have = {
            b
            for b in self._current(None)
            if OURS.match(b.principal) or (b.principal == EVERYONE and b.name in public_topics)
        }
        return self._apply(want, have)

    def sync_public(self) -> SyncReport:
        """Only the ``User:*`` READ ACLs of public topics (cheap; for a new topic)."""
        if not self.enabled:
            return SyncReport()
        want = public_bindings(self.catalog)
        have = {b for b in self._current(EVERYONE) if b.name in {w.name for w in want}}
        return self._apply(want, have)

    def sync_credentials(self, client_ids: Iterable[str]) -> SyncReport:
        """Bring the named credentials' ACLs up to date (created, changed or deleted ones)."""
        report = SyncReport()
        if not self.enabled:
            return report
        with self.sessions() as session:
            for client_id in client_ids:
                credential = session.scalar(
                    select(Credential).where(Credential.client_id == client_id)
                )
                want = set() if credential is None else self._desired_for(session, credential)
                step = self._apply(want, self._current(principal(client_id)))
                report.created += step.created
                report.deleted += step.deleted
        return report

    def sync_user(self, user_id: int) -> SyncReport:
        """After a group grant or revoke: every credential of the user."""
        if not self.enabled:
            return SyncReport()
        with self.sessions() as session:
            ids = session.scalars(
                select(Credential.client_id).where(Credential.user_id == user_id)
            ).all()
        return self.sync_credentials(ids)

    def try_sync(self, client_ids: Iterable[str] = (), user_id: int | None = None) -> None:
        """Like the above, but a Kafka outage only logs a warning: the periodic full sync of
        the maintenance worker repairs it, and the account change itself must not fail."""
        try:
            if user_id is not None:
                self.sync_user(user_id)
            self.sync_credentials(client_ids)
        except AclSyncError as exc:
            log.warning("Kafka ACLs not updated now (the next full sync will): %s", exc)

    def why_disabled(self) -> str:
        if self.settings.local_broker == "tansu":
            return "the local broker is tansu, which has no ACLs"
        if self.settings.kafka_bootstrap is None:
            return "SKYALERT_KAFKA_BOOTSTRAP is not set"
        return "SKYALERT_KAFKA_ACLS is false"


def _explain(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError) and error.code() == KafkaError.SECURITY_DISABLED:
        return (
            "the Kafka cluster has no authorizer (authorizer.class.name), so it keeps no "
            "ACLs; configure one (see ops/kafka/) or set SKYALERT_KAFKA_ACLS=false"
        )
    return f"Kafka refused the ACL change: {error}"
