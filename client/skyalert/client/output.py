"""How ``skyalert-client listen`` writes alerts: JSON lines, a readable form, or one file each."""

from __future__ import annotations

__all__ = ["write_file", "write_line", "write_pretty"]

import json
import re
from pathlib import Path
from typing import Any, TextIO

from skyalert.client.alert import Alert
from skyalert.client.paths import write_private

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def envelope(alert: Alert, format: str) -> dict[str, Any]:
    """The alert as one JSON object: its identity, then ``alert`` (JSON) or ``xml``."""
    body: dict[str, Any] = {
        "id": alert.id,
        "topic": alert.topic,
        "time": alert.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "test": alert.test,
        "content_type": alert.content_type,
    }
    if format == "voevent" and alert.xml is not None:
        body["xml"] = alert.xml
    else:
        body["alert"] = alert.payload
    return body


def write_line(alert: Alert, format: str, out: TextIO) -> None:
    out.write(json.dumps(envelope(alert, format), ensure_ascii=False) + "\n")
    out.flush()


def write_pretty(alert: Alert, format: str, out: TextIO) -> None:
    flag = "  [TEST]" if alert.test else ""
    when = alert.time.strftime("%Y-%m-%d %H:%M:%S UTC")
    out.write(f"── {alert.topic}  {alert.id}  {when}{flag}\n")
    if format == "voevent" and alert.xml is not None:
        out.write(alert.xml.rstrip() + "\n\n")
    else:
        out.write(json.dumps(alert.payload, indent=2, ensure_ascii=False) + "\n\n")
    out.flush()


def write_file(alert: Alert, format: str, folder: Path) -> Path:
    """``<folder>/<topic>/<id>.json`` (or ``.xml``), written atomically: a program watching the
    folder never sees half a file."""
    as_xml = format == "voevent" and alert.xml is not None
    name = _UNSAFE.sub("_", alert.id) + (".xml" if as_xml else ".json")
    path = folder / _UNSAFE.sub("_", alert.topic) / name
    if as_xml:
        data = alert.raw
    else:
        data = json.dumps(alert.payload, indent=2, ensure_ascii=False).encode() + b"\n"
    write_private(path, data, mode=0o644)
    return path
