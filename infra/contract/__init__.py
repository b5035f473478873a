"""The shipways HTTP contract: one pytest suite every deploy target must pass unchanged.

Run it against any base URL:
    pytest infra/contract --base-url http://127.0.0.1:8000 [--expect-target vps]
or programmatically through `infra.verify.run_checks`.
"""

from pathlib import Path

CONTRACT_DIR = Path(__file__).resolve().parent
CONTRACT_INI = CONTRACT_DIR / "pytest.ini"
