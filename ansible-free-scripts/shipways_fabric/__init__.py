"""shipways' VPS tasks as a library: provision, deploy, rollback, status, logs.

A package of its own (distribution `shipways-fabric`), usable against any Debian 12 host
without the rest of shipways: `fabfile.py` next to it exposes the same functions to the
`fab` command line, and the shipways toolkit (`infra.targets.vps`) imports them by name,
mapping its stack config onto `Settings`. Nothing here imports the toolkit. Every function
takes `fabric.Connection`s and `Settings`; the host's file templates ship in `templates/`.
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
from shipways_fabric.settings import Layout, Settings, read_settings, settings_from
from shipways_fabric.templates import TemplateError
from shipways_fabric.wheels import (
    ServerPlatform,
    WheelBuilder,
    WheelError,
    git_label,
    locked_wheels,
)

# What a task raises for a reason the user can act on; each message says what to do.
FAILURES: tuple[type[Exception], ...] = (
    DeployError,
    DeployLocked,
    ProvisionError,
    ReleaseError,
    TemplateError,
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
    "ServerPlatform",
    "Settings",
    "TemplateError",
    "WheelBuilder",
    "WheelError",
    "as_user",
    "connect",
    "deploy",
    "git_label",
    "locked_wheels",
    "logs",
    "pin_host_keys",
    "provision",
    "read_settings",
    "rollback",
    "settings_from",
    "status",
]
