"""Gunicorn settings for the VPS and PaaS targets: `gunicorn -c python:shipways_app.gunicorn_conf`.

- Binds GUNICORN_BIND, else 0.0.0.0:$PORT (PaaS convention), else 127.0.0.1:8000. Under systemd
  socket activation (LISTEN_FDS) gunicorn uses the passed sockets and ignores the bind.
- Under systemd Type=notify gunicorn itself sends READY=1 to $NOTIFY_SOCKET once listening.
- The app's settings are validated here, in the master, so a bad variable stops start-up
  once with a clear message instead of crash-looping workers.
"""

from __future__ import annotations

import os

from shipways_app.settings import ConfigError, exit_with_config_error, load_settings_or_exit

_settings = load_settings_or_exit()


def _int_env(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        exit_with_config_error(
            ConfigError(f"{name}={raw!r} is not valid: use a whole number from {low} to {high}")
        )
    return int(raw)


def _bind() -> list[str]:
    explicit = os.environ.get("GUNICORN_BIND", "").strip()
    if explicit:
        return [b.strip() for b in explicit.split(",") if b.strip()]
    if os.environ.get("PORT", "").strip():
        return [f"0.0.0.0:{_int_env('PORT', 8000, 1, 65535)}"]
    return ["127.0.0.1:8000"]


wsgi_app = "shipways_app.main:app"
worker_class = "uvicorn_worker.UvicornWorker"
bind = _bind()
workers = _int_env("WEB_CONCURRENCY", 2, 1, 64)
forwarded_allow_ips = ",".join(_settings.trusted_proxies)
graceful_timeout = 30
timeout = 30
keepalive = 5
accesslog = None  # the app writes one JSON line per request itself
# gunicorn >= 25 opens a management socket under $HOME by default: nothing here needs it, and
# a hardened unit (ProtectHome, no home directory) should not have to make room for it.
control_socket_disable = True
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": _settings.log_level.value, "handlers": []},
    "loggers": {
        "gunicorn.error": {
            "level": _settings.log_level.value,
            "handlers": ["json"],
            "propagate": False,
        },
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
    "handlers": {
        "json": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "formatters": {"json": {"()": "shipways_app.logs.JsonFormatter"}},
}
