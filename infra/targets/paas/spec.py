"""The app's environment on the platform: one definition for the stack and the sandbox.

Both `component.py` (what `pulumi up` gives Beanstalk) and `sandbox.py` (what `shipways up`
starts the Procfile with) read `app_environment`, so the local release runs with exactly the
settings the cloud one gets; each adds only what its platform supplies itself (the port
Beanstalk's nginx forwards to; the local paths and commit id).
"""

from __future__ import annotations

from infra.config import PaasConfig

TARGET = "paas"
COMMAND = "aws:elasticbeanstalk:command"  # Beanstalk's namespace for deployment options
BATCH_SIZE = 1  # instances per batch of a rolling deployment
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


def instance_count(config: PaasConfig) -> int:
    """Instances the environment keeps running: the auto scaling group's minimum when
    LoadBalanced; one for SingleInstance."""
    return config.min_instances if config.environment_type == "LoadBalanced" else 1


def deployment_settings(config: PaasConfig) -> list[tuple[str, str, str]]:
    """(namespace, option, value) of the deployment policy: Beanstalk's option settings,
    and what the local stand-in reads to decide how it replaces instances."""
    settings: list[tuple[str, str, str]] = [(COMMAND, "DeploymentPolicy", config.deployment_policy)]
    if config.deployment_policy == "RollingWithAdditionalBatch":
        settings += [(COMMAND, "BatchSizeType", "Fixed"), (COMMAND, "BatchSize", str(BATCH_SIZE))]
    return settings


def deployment_option(config: PaasConfig, option: str) -> str:
    """One option of `deployment_settings`, read the way the platform reads it."""
    found = {name: value for _, name, value in deployment_settings(config)}
    return found[option]
