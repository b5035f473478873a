"""The app's environment on the platform: one definition for the stack and the sandbox.

Both `component.py` (what `pulumi up` gives Beanstalk) and `sandbox.py` (what `shipways up`
starts the Procfile with) read `app_environment`, so the local release runs with exactly the
settings the cloud one gets; each adds only what its platform supplies itself (the port
Beanstalk's nginx forwards to; the local paths and commit id).
"""

from __future__ import annotations

from infra.config import PaasConfig

TARGET = "paas"
BIND_HOST = "127.0.0.1"  # gunicorn listens on loopback: only the platform's proxy talks to it


def app_environment(config: PaasConfig, *, sqlite_path: str | None) -> dict[str, str]:
    """The stack's `env` plus the platform's settings, which win over it.

    `sqlite_path` is where the SQLite fallback lives when there is no database (None when
    DATABASE_URL comes from a secret).
    """
    env = {
        **config.env,
        "SHIPWAYS_TARGET": TARGET,
        "WEB_CONCURRENCY": str(config.web_concurrency),
        "WEB_BIND_HOST": BIND_HOST,
    }
    if sqlite_path is not None:
        env["SHIPWAYS_SQLITE_PATH"] = sqlite_path
    return env
