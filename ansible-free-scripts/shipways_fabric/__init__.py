"""shipways' VPS tasks as a library: provision, deploy, rollback, status, logs.

`fabfile.py` next to this package exposes the same functions to the `fab` command line;
the Pulumi component and the local VPS sandbox import them (via
`infra.targets.vps.fabric_api`). Every function takes `fabric.Connection`s and `Settings`.
"""

import paramiko

from shipways_fabric.connect import as_user, connect, pin_host_keys
from shipways_fabric.deploy import (
    DEFAULT_ENTRY,
    MIGRATE,
    DeployError,
    DeployResult,
    HostDeploy,
    RollbackResult,
    deploy,
    rollback,
)
from shipways_fabric.lock import DeployLocked
from shipways_fabric.ops import logs, status
from shipways_fabric.provision import ProvisionError, ProvisionResult, provision
from shipways_fabric.release import ReleaseError
from shipways_fabric.settings import Layout, Settings, settings_for, settings_from

# What a task raises for a reason the user can act on; each message says what to do.
FAILURES: tuple[type[Exception], ...] = (
    DeployError,
    DeployLocked,
    ProvisionError,
    ReleaseError,
    paramiko.SSHException,
    OSError,
)

__all__ = [
    "DEFAULT_ENTRY",
    "FAILURES",
    "MIGRATE",
    "DeployError",
    "DeployLocked",
    "DeployResult",
    "HostDeploy",
    "Layout",
    "ProvisionError",
    "ProvisionResult",
    "ReleaseError",
    "RollbackResult",
    "Settings",
    "as_user",
    "connect",
    "deploy",
    "logs",
    "pin_host_keys",
    "provision",
    "rollback",
    "settings_for",
    "settings_from",
    "status",
]
