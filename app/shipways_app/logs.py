"""JSON logs on stdout: one object per line, so every platform's log pipeline can parse them.

Request lines carry their fields in `extra={"fields": {...}}`; the formatter lifts them to
top-level keys next to ts/level/logger/msg.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_HANDLER_NAME = "shipways-json"


class JsonFormatter(logging.Formatter):
    """Format a record as a single JSON line (also used by gunicorn's master via logconfig_dict)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


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
