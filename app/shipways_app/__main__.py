"""`python -m shipways_app migrate`: the explicit release step that applies the migrations.

Deploy recipes run it once per release (systemd ExecStartPre-style step, Procfile `release:`,
a Kubernetes Job, the Lambda `{"shipways": "migrate"}` event) - never the app per request.
"""

from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy.exc import SQLAlchemyError

from shipways_app.db import create_db_engine, summarise_db_error
from shipways_app.logs import configure_logging
from shipways_app.migrate import upgrade
from shipways_app.settings import load_settings_or_exit


def _migrate() -> int:
    settings = load_settings_or_exit()
    configure_logging(settings.log_level.number)
    engine = create_db_engine(settings)
    try:
        result = upgrade(engine)
    except SQLAlchemyError as exc:
        reason = summarise_db_error(exc, engine)
        print(f"shipways-app: migration failed: {reason}", file=sys.stderr, flush=True)
        return 1
    finally:
        engine.dispose()
    print(json.dumps({"ok": True, **result.as_dict()}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shipways_app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "migrate",
        help="apply the database migrations (idempotent)",
        description="Create or upgrade the schema of DATABASE_URL (or the SQLite file at "
        "SHIPWAYS_SQLITE_PATH) to the latest revision, seeding the sample products.",
    )
    args = parser.parse_args(argv)
    if args.command == "migrate":
        return _migrate()
    parser.error(f"unknown command {args.command!r}")  # unreachable: argparse checks choices
    return 2


if __name__ == "__main__":
    sys.exit(main())
