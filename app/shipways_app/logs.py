"""JSON logs on stdout: one object per line, so every platform's log pipeline can parse them.

Request lines carry their fields in `extra={"fields": {...}}`; the formatter lifts them to
top-level keys next to ts/level/logger/msg. Formatting runs once per request, so it is kept
cheap: one reused JSON encoder, and the timestamp's date-and-second part built once a second.

The per-request line (`RequestLog`) skips the logging machinery when it can: a LogRecord, the
walk up the logger tree, filters and handler locks cost more than the line itself (about 40 us
of a /hello's 150 us of CPU on one uvicorn worker, measured on a 2-core machine). When the JSON
handler below is the only place the line would go - what `configure_logging` sets up - the
line is made by `RequestLog` as the formatter would make it and written by that handler
directly; anything else (a test's capture handler, a custom logging configuration) gets an
ordinary LogRecord through `Logger.handle`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

_HANDLER_NAME = "shipways-json"
# json.dumps with options builds a new encoder per call; this one is built once.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)
_quote = json.encoder.encode_basestring  # a str as a JSON string, as _ENCODER writes it


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
        fields = getattr(record, "fields", None)
        entry = self.entry(record.created, record.levelname, record.name, record.getMessage())
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)

    def entry(self, created: float, level_name: str, logger: str, msg: str) -> dict[str, Any]:
        return {
            "ts": self.timestamp(created),
            "level": level_name.lower(),
            "logger": logger,
            "msg": msg,
        }


class JsonLineHandler(logging.StreamHandler):
    """The stdout handler `configure_logging` installs, able to take a ready-made line.

    A ready-made line goes to the stream's file descriptor in one `os.write`: TextIOWrapper's
    write and flush cost twice as much for the same single system call. Ordering with records
    written the usual way holds, since `emit` flushes each of them at once. A stream with no
    descriptor (a test's capture) is written the usual way.
    """

    def write_line(self, text: str) -> None:
        stream = self.stream
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            fd = _descriptor(stream)
            if fd is None:
                stream.write(text + "\n")
                stream.flush()
            else:
                encoding = getattr(stream, "encoding", None) or "utf-8"
                data = (text + "\n").encode(encoding, "backslashreplace")
                while data:  # a pipe may take less than all of it
                    data = data[os.write(fd, data) :]


def _descriptor(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None


class RequestLog:
    """Writes the one line per request to `logger` (see the module docstring for how).

    The direct path fills a template instead of encoding a dict: the same text the formatter
    would make (a unit test holds them equal), for a fraction of the cost: the strings are
    quoted by the json module's own C escaper, the rest are numbers.
    """

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)
        self._root = logging.getLogger()
        self._template = (
            '{"ts": "%s", "level": "%s", "logger": '
            + _ENCODER.encode(name)
            + ', "msg": "request", '
            '"method": %s, "path": %s, "status": %d, "duration_ms": %r, "request_id": %s, '
            '"client": %s}'
        )

    def write(  # the request line's fields, passed flat: no dict to build and unpack
        self,
        level: int,
        method: str,
        path: str,
        status: int,
        duration_ms: float,
        request_id: str,
        client: str | None,
    ) -> None:
        logger = self.logger
        if not logger.isEnabledFor(level):
            return
        handler = self._sole_json_handler()
        if handler is None:
            fields = {
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "request_id": request_id,
                "client": client,
            }
            # makeRecord + handle is Logger.log minus its walk up the stack for the caller.
            record = logger.makeRecord(
                logger.name, level, "", 0, "request", (), None, extra={"fields": fields}
            )
            logger.handle(record)
            return
        if level < handler.level:
            return
        formatter: JsonFormatter = handler.formatter  # type: ignore[assignment]
        line = self._template % (
            formatter.timestamp(time.time()),
            "error" if level >= logging.ERROR else "info",
            _quote(method),
            _quote(path),
            status,
            duration_ms,
            _quote(request_id),
            "null" if client is None else _quote(client),
        )
        handler.write_line(line)

    def _sole_json_handler(self) -> JsonLineHandler | None:
        """The JSON handler when it is the only handler the line would reach, else None."""
        logger: logging.Logger | None = self.logger
        while logger is not None and logger is not self._root:
            if logger.handlers or logger.filters or not logger.propagate:
                return None
            logger = logger.parent
        handlers = self._root.handlers
        if len(handlers) != 1 or self._root.filters:
            return None
        handler = handlers[0]
        if type(handler) is not JsonLineHandler or handler.filters:
            return None
        if type(handler.formatter) is not JsonFormatter:
            return None
        return handler


def configure_logging(level: int) -> None:
    """Route every logger (ours, uvicorn's, gunicorn's in workers) to one JSON stdout handler.

    Idempotent, because tests and the Lambda handler may build the app more than once per
    process. uvicorn's access log is silenced: the app writes its own, richer request line.
    """
    handler = JsonLineHandler(sys.stdout)
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
