"""The function's name, log group and environment: one definition for the stack and the sandbox.

Both `component.py` (what `pulumi up` creates) and `sandbox.py` (what `shipways up` runs) read
these, so the local function is named, logs and is configured exactly like the cloud one.
"""

from __future__ import annotations

from infra.artifacts.revision import app_revision
from infra.config import ServerlessConfig

SQLITE_PATH = "/tmp/shipways.db"  # noqa: S108 - Lambda's only writable path, per instance


def function_name(config: ServerlessConfig) -> str:
    return f"{config.app_name}-{config.environment}"


def log_group_name(config: ServerlessConfig) -> str:
    """Lambda's default group for the function, created (with retention) by the stack."""
    return f"/aws/lambda/{function_name(config)}"


def app_environment(
    config: ServerlessConfig, *, has_database: bool, git_sha: str
) -> dict[str, str]:
    """The function's environment variables for the app: the stack's `env` and the recipe's
    own (DATABASE_URL, when there is one, is added as a secret by the caller).

    They are part of the version's configuration: a changed `env` publishes a new version.
    Without a database the app keeps SQLite in /tmp: each instance creates and migrates its
    own at init, and loses it when Lambda recycles the instance. `/version` says so.
    """
    env = {
        "SHIPWAYS_LOG_LEVEL": "INFO",
        **config.env,
        "SHIPWAYS_TARGET": "serverless",
        "SHIPWAYS_GIT_SHA": git_sha,
    }
    if not has_database:
        env.update({"SHIPWAYS_SQLITE_PATH": SQLITE_PATH, "SHIPWAYS_MIGRATE_ON_INIT": "1"})
    return env


def git_sha() -> str:
    """The revision `/version` reports (see infra.artifacts.revision: app/, not HEAD)."""
    return app_revision()
