"""JSON logs on stdout: one object per line, so every platform's log pipeline can parse them.

Request lines carry their fields in `extra={"fields": {...}}`; the formatter lifts them to
top-level keys next to ts/level/logger/msg. Formatting runs once per request, so it is kept
cheap: one reused JSON encoder, and the timestamp's date-and-second part built once a second.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_HANDLER_NAME = "shipways-json"
# json.dumps with options builds a new encoder per call; this one is built once.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    """Format a record as a single JSON line (also used by gunicorn's master via logconfig_dict)."""

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")  # (epoch second, its ISO 8601 text)

    def timestamp(self, created: float) -> str:
        """ISO 8601 in UTC with milliseconds, e.g. 2026-11-25T13:28:16.042+00:00."""
        second = int(created)
        cached_second, text = self._second
        if second != cached_second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{int((created - second) * 1000):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


def configure_logging(level: int) -> None:
    """Route every logger (ours, uvicorn's, gunicorn's in workers) to one JSON stdout handler.

    Idempotent, because tests and the Lambda handler may build the app more than once per
    process. uvicorn's access log is silenced: the app writes its own, richer request line.
    """
    handler = logging.StreamHandler(sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        server_logger = logging.getLogger(name)
        server_logger.handlers = []
        server_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic announces each of its built-in plugins at INFO whenever migration scripts are
    # loaded (readiness does at start-up): noise, not events.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
