"""The shipways HTTP contract: one pytest suite every deploy target must pass unchanged.

Run it against any base URL:
    pytest infra/contract --base-url http://127.0.0.1:8000 [--expect-target vps] [--instances 2]
or programmatically through `infra.verify.run_checks`, which runs one profile of it:
- `full`: the sample app's contract, including the shared-data check across instances;
- `health`: only health and readiness, for an app that does not serve the sample contract.
"""

from pathlib import Path
from typing import Literal

CONTRACT_DIR = Path(__file__).resolve().parent
CONTRACT_INI = CONTRACT_DIR / "pytest.ini"

# Instances a target may say it runs: the shared-data check's reads grow with the count.
MAX_INSTANCES = 16
Profile = Literal["full", "health"]
PROFILES: dict[Profile, tuple[Path, ...]] = {
    "full": (CONTRACT_DIR / "test_contract.py", CONTRACT_DIR / "test_shared_data.py"),
    "health": (CONTRACT_DIR / "test_health.py",),
}
