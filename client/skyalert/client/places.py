"""Where ``skyalert-client listen --websocket`` stopped: the last cursor, kept across restarts.

Kafka keeps a consumer group's place on the server; the live feed keeps none, so the listener
saves the cursor of each alert it has written, one file per listening subscription (server,
credential, topics, filter, test alerts), and the next run resumes after it.
"""

from __future__ import annotations

__all__ = ["SavedPlace"]

import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skyalert.client.filters import Filter
from skyalert.client.paths import state_dir, write_private

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SavedPlace:
    """The resume file of one listening subscription."""

    path: Path

    @classmethod
    def of(
        cls,
        server: str,
        client_id: str,
        topics: Iterable[str],
        filter: Filter,
        include_tests: bool,
    ) -> SavedPlace:
        key = json.dumps(
            [server, client_id, sorted(set(topics)), filter.to_json(), include_tests],
            sort_keys=True,
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return cls(state_dir() / "places" / f"{digest}.json")

    def load(self) -> str | None:
        """The cursor saved last, or None when this subscription never received an alert."""
        try:
            saved: Any = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as failure:
            log.warning("ignoring the unreadable place file %s: %s", self.path, failure)
            return None
        cursor = saved.get("cursor") if isinstance(saved, dict) else None
        return cursor if isinstance(cursor, str) and cursor else None

    def save(self, cursor: str) -> None:
        record = {"cursor": cursor, "saved_at": time.time()}
        write_private(self.path, json.dumps(record).encode())
