"""Releases made for the zero-downtime tests of every target: a code change, and three ways a
release can be broken. Each is a set of file changes to the app's source (path under `app/` ->
new content), which each sandbox builds into its own artifact (image, bundle, zip), so every
target is refused for the same reasons.
"""

from __future__ import annotations

import uuid

from infra.paths import APP_DIR

INIT = "shipways_app/__init__.py"
_DB = "shipways_app/db.py"
_API = "shipways_app/api.py"


def code_change() -> dict[str, bytes]:
    """A change that imports and serves like the current code: a new release, nothing else."""
    marker = f"\n# e2e: a code change {uuid.uuid4().hex}\n".encode()
    return {INIT: (APP_DIR / INIT).read_bytes() + marker}


def broken_releases(entry_module: str) -> dict[str, dict[str, bytes]]:
    """`entry_module`: the file the platform's server loads first (gunicorn's app module, or
    the module the Lambda handler imports), which is made to fail its import."""
    return {
        # Fails to import: the new instances never serve.
        "import": {entry_module: b"raise ImportError('e2e: this release cannot import')\n"},
        # Imports and serves, but /readyz (the health check path) never passes.
        "readyz": {
            _DB: (APP_DIR / _DB).read_bytes()
            + b"\nDatabase.check = lambda self: 'e2e: this release is never ready'\n"
        },
        # Its migration fails (the migration raises; PostgreSQL rolls it back).
        "migration": {
            "shipways_app/migrations/versions/0002_e2e_broken.py": (
                b'"""e2e: a migration that fails."""\n'
                b'revision = "0002"\ndown_revision = "0001"\n'
                b"branch_labels = None\ndepends_on = None\n\n\n"
                b"def upgrade() -> None:\n"
                b"    raise RuntimeError('e2e: this release cannot migrate')\n\n\n"
                b"def downgrade() -> None:\n    pass\n"
            )
        },
    }


def fails_under_traffic() -> dict[str, bytes]:
    """A release that imports, migrates and passes `/readyz`, but answers `GET /hello` with a
    500: no pre-traffic check finds it, only traffic does (a gradual shift's alarm)."""
    failing = (
        b"\n\n# e2e: this release fails under traffic\n"
        b'router.routes[:] = [r for r in router.routes if getattr(r, "path", "") != "/hello"]\n'
        b"\n\n"
        b'@router.get("/hello")\n'
        b"async def hello_fails() -> Response:\n"
        b"    raise RuntimeError('e2e: this release fails under traffic')\n"
    )
    return {_API: (APP_DIR / _API).read_bytes() + failing}


def bearer(token: str) -> dict[str, str]:
    """Headers of a write: writes need the deployment's token (reads stay anonymous)."""
    return {"Authorization": f"Bearer {token}"}
