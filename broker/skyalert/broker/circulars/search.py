"""Full-text search over circulars: field prefixes, AND/OR/NOT, phrases, dates, relevance.

Query language: words and ``"quoted phrases"``, optionally prefixed by ``subject:``, ``body:``
or ``submitter:``; terms side by side must all match (``AND`` may be written), ``OR`` separates
alternatives, ``NOT`` or ``-`` excludes a term. PostgreSQL matches a weighted ``tsvector``
(subject A, body B, submitter C; GIN-indexed) with ``phraseto_tsquery`` and orders by
``ts_rank``; SQLite, the fallback, matches substrings case-blind and orders newest first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, false, func, literal_column, not_, or_, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from skyalert.broker.circulars.errors import CircularError
from skyalert.broker.circulars.models import Circular

Field = Literal["subject", "body", "submitter"]
FIELDS: tuple[Field, ...] = ("subject", "body", "submitter")
WEIGHTS: dict[Field, str] = {"subject": "a", "body": "b", "submitter": "c"}
CONFIG = "english"
MAX_TERMS = 20
MAX_TERM = 200
MAX_PAGE = 100
#: Bodies longer than this are indexed by their start (a tsvector holds at most 1 MiB).
INDEXED_CHARS = 200_000

TOKEN = re.compile(
    r'(?P<neg>-)?(?:(?P<field>subject|body|submitter):)?(?:"(?P<phrase>[^"]*)"?|(?P<word>[^\s"]+))',
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Term:
    text: str
    field: Field | None = None
    negated: bool = False


@dataclass(frozen=True)
class Query:
    """Alternatives (OR) of conjunctions (AND) of terms; empty: everything."""

    alternatives: tuple[tuple[Term, ...], ...] = ()

    @property
    def positive(self) -> list[Term]:
        return [t for group in self.alternatives for t in group if not t.negated]


def parse(query: str) -> Query:
    """Parse the query language above; CircularError says what is wrong with a bad query."""
    groups: list[list[Term]] = [[]]
    negate_next = False
    count = 0
    for match in TOKEN.finditer(query):
        word, phrase = match["word"], match["phrase"]
        if match["field"] is None and not match["neg"] and word in ("AND", "OR", "NOT"):
            if word == "OR" and groups[-1]:
                groups.append([])
            negate_next = word == "NOT"
            continue
        text = " ".join((phrase if phrase is not None else word or "").split())
        if not text:
            continue
        if len(text) > MAX_TERM:
            raise CircularError(f"a search term is longer than {MAX_TERM} characters")
        count += 1
        if count > MAX_TERMS:
            raise CircularError(f"a search has at most {MAX_TERMS} terms")
        name = (match["field"] or "").lower() or None
        negated = bool(match["neg"]) or negate_next
        groups[-1].append(Term(text, name, negated))  # type: ignore[arg-type]
        negate_next = False
    kept = tuple(tuple(g) for g in groups if g)
    if any(all(t.negated for t in g) for g in kept):
        raise CircularError(
            "each alternative of a search needs a term that is not excluded (by NOT or -)"
        )
    return Query(kept)


@dataclass(frozen=True)
class Search:
    query: str = ""
    since: datetime | None = None
    until: datetime | None = None
    event_id: str | None = None
    page: int = 1
    limit: int = 20


@dataclass(frozen=True)
class Page:
    circulars: list[Circular]
    page: int
    more: bool
    terms: list[str] = field(default_factory=list)


def run(session: Session, search: Search) -> Page:
    """One page of circulars matching the search, best first (newest first without a query)."""
    parsed = parse(search.query)
    limit = max(1, min(search.limit, MAX_PAGE))
    page = max(1, search.page)
    postgres = session.get_bind().dialect.name == "postgresql"
    statement: Select[Any] = select(Circular).where(Circular.withdrawn_at.is_(None))
    if parsed.alternatives:
        match = _match_postgres if postgres else _match_like
        statement = statement.where(
            or_(*(and_(*(match(t) for t in group)) for group in parsed.alternatives))
        )
    if search.since is not None:
        statement = statement.where(Circular.created_at >= search.since)
    if search.until is not None:
        statement = statement.where(Circular.created_at <= search.until)
    if search.event_id is not None:
        statement = statement.where(Circular.event_id == search.event_id)
    order: list[Any] = []
    if postgres and parsed.positive:
        rank: ColumnElement[Any] = sum(
            (func.ts_rank(Circular.search_vector, _tsquery(t)) for t in parsed.positive),
            start=literal_column("0.0"),
        )
        order.append(rank.desc())
    order.append(Circular.number.desc())
    rows = list(
        session.scalars(statement.order_by(*order).offset((page - 1) * limit).limit(limit + 1))
    )
    return Page(rows[:limit], page, len(rows) > limit, [t.text for t in parsed.positive])


def _tsquery(term: Term) -> ColumnElement[Any]:
    return func.phraseto_tsquery(CONFIG, term.text)


def _match_postgres(term: Term) -> ColumnElement[bool]:
    query = _tsquery(term)
    found: ColumnElement[bool] = Circular.search_vector.bool_op("@@")(query)
    if term.field is not None:  # the index finds candidates; ts_filter keeps the field's hits
        weights: ColumnElement[Any] = literal_column(f"'{{{WEIGHTS[term.field]}}}'")
        found = and_(found, func.ts_filter(Circular.search_vector, weights).bool_op("@@")(query))
    return not_(found) if term.negated else found


def _match_like(term: Term) -> ColumnElement[bool]:
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", term.text.lower()) + "%"
    columns = [getattr(Circular, f) for f in ([term.field] if term.field else FIELDS)]
    found = or_(false(), *(func.lower(c).like(pattern, escape="\\") for c in columns))
    return not_(found) if term.negated else found


def index(session: Session, numbers: Sequence[int]) -> None:
    """Refresh the full-text vector of these circulars (PostgreSQL; nothing to do on SQLite)."""
    if not numbers or session.get_bind().dialect.name != "postgresql":
        return
    session.flush()
    session.execute(
        sql_text(
            "UPDATE circulars SET search_vector = "
            "setweight(to_tsvector(CAST(:config AS regconfig), subject), 'A') || "
            "setweight(to_tsvector(CAST(:config AS regconfig), left(body, :chars)), 'B') || "
            "setweight(to_tsvector(CAST(:config AS regconfig), submitter), 'C') "
            "WHERE number = ANY(:numbers)"
        ),
        {"config": CONFIG, "chars": INDEXED_CHARS, "numbers": list(numbers)},
    )
