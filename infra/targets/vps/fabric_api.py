"""The VPS tasks (ansible-free-scripts/shipways_fabric) as an importable module.

The tasks live in a directory whose name is not a Python identifier (it is where people look
for "the scripts"), so this loader puts it on the import path and re-exports the API that
the Pulumi component and the local sandbox call.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from infra.paths import FABRIC_DIR

if str(FABRIC_DIR) not in sys.path:
    sys.path.insert(0, str(FABRIC_DIR))

_api: Any = importlib.import_module("shipways_fabric")

Settings = _api.Settings
DeployError = _api.DeployError
DeployLocked = _api.DeployLocked
ProvisionError = _api.ProvisionError
ReleaseError = _api.ReleaseError
FAILURES: tuple[type[Exception], ...] = _api.FAILURES
DEFAULT_ENTRY: str = _api.DEFAULT_ENTRY
MIGRATE: str = _api.MIGRATE
settings_from = _api.settings_from
settings_for = _api.settings_for
connect = _api.connect
pin_host_keys = _api.pin_host_keys
as_user = _api.as_user
provision = _api.provision
deploy = _api.deploy
rollback = _api.rollback
status = _api.status
logs = _api.logs
