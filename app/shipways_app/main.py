"""ASGI entry point: `uvicorn shipways_app.main:app` / gunicorn's `shipways_app.main:app`.

A configuration error ends the process here with exit code 2 and the one-line message,
instead of a server-specific traceback.
"""

from __future__ import annotations

from shipways_app.app import create_app
from shipways_app.settings import ConfigError, exit_with_config_error

__all__ = ["app", "create_app"]

try:
    app = create_app()
except ConfigError as exc:
    exit_with_config_error(exc)
