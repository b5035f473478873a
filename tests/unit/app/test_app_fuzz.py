"""Property-based: schemathesis drives every documented operation with generated (valid and
invalid) inputs; the app must never answer 5xx and must match its own OpenAPI document."""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from shipways_app.app import create_app
from shipways_app.db import create_db_engine
from shipways_app.migrate import upgrade
from shipways_app.settings import Settings

pytestmark = pytest.mark.unit

# Built at collection (schemathesis needs the schema to generate the tests), from explicit
# settings: a private SQLite file, whatever the caller's environment says.
_tmp = tempfile.mkdtemp(prefix="shipways-fuzz-")
atexit.register(shutil.rmtree, _tmp, True)
WRITE_TOKEN = "fuzz-write-token-0123456789abcdef"
_token_file = Path(_tmp) / "write-token"
_token_file.write_text(WRITE_TOKEN)
_settings = Settings(
    DATABASE_URL=None, SHIPWAYS_SQLITE_PATH=Path(_tmp) / "fuzz.db", WRITE_TOKEN_FILE=_token_file
)
_engine = create_db_engine(_settings)
upgrade(_engine)
_root, _saved = logging.getLogger(), list(logging.getLogger().handlers)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_settings, engine=_engine))
_root.handlers = _saved  # keep the app's JSON handler out of the rest of the session


@schema.parametrize()
@settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_and_matches_its_schema(case: schemathesis.Case) -> None:
    # With the token, so writes reach the routes (anonymous writes are the auth tests' job).
    case.call_and_validate(headers={"Authorization": f"Bearer {WRITE_TOKEN}"})
