"""Entry point the Pulumi CLI runs: `pulumi preview --stack vps --policy-pack policy/`.

The pack is part of this repository (it shares its rules with the offline evaluator), so the
repository root goes on the import path before `policy.pack` is imported.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.pack import PACK_NAME, policies

PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=EnforcementLevel.MANDATORY)
