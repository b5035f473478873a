"""The committed allow-list of scanner findings (`infra/proof/allowlist.yaml`).

Each scanner has its own section (so scanners added later merge without touching the
others); each entry is one check id and the reason its findings stay. The reason is shown
beside every finding it explains, in the proof summary.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ALLOWLIST = Path(__file__).with_name("allowlist.yaml")
# A check id exactly as its scanner names it (`CKV_K8S_35`, `kex:curve25519-sha256`,
# `<app>.service PrivateNetwork=`): never a wildcard, so one entry explains one check.
CHECK_ID = re.compile(r"^[^\s*?][^*?]*$")


class AllowlistError(ValueError):
    """The allow-list is malformed; the message names the entry."""


def allowed(scanner: str, path: Path = ALLOWLIST) -> dict[str, str]:
    """Check id -> reason, for one scanner's section (empty when it has none)."""
    document = yaml.safe_load(path.read_text()) or {}
    if not isinstance(document, dict):
        raise AllowlistError(f"{path}: expected one mapping of scanner -> entries")
    section = document.get(scanner) or {}
    if not isinstance(section, dict):
        raise AllowlistError(f"{path}: {scanner}: expected a mapping of CHECK_ID: reason")
    for check, reason in section.items():
        if not CHECK_ID.match(str(check)):
            raise AllowlistError(f"{path}: {scanner}.{check}: one check id per entry, no patterns")
        if not isinstance(reason, str) or len(reason.split()) < 5:
            raise AllowlistError(
                f"{path}: {scanner}.{check}: say why the finding stays "
                "(it needs a reason: a sentence, not a tag)"
            )
    return {str(check): str(reason).strip() for check, reason in section.items()}
