"""The proof's own instances of each target's sandbox, never the demo's.

`shipways proof` fuzzes, kills and restarts what it runs on, so it uses instances of its own
(`shipways-proof-<target>`, tests `shipways-test-<target>-<suffix>`) built by the same
sandbox classes the CLI uses: every sandbox takes its instance name as first argument.
"""

from __future__ import annotations

from infra.config import TargetName
from infra.targets import ORDER, NotSupported, Sandbox, sandbox


def instance(target: TargetName, name: str) -> Sandbox:
    """`target`'s sandbox class, instantiated for the container/state name `name`."""
    demo = sandbox(target)
    box: Sandbox = type(demo)(name)  # type: ignore[call-arg]
    return box


def landed() -> list[TargetName]:
    """Targets whose sandbox exists, in the README's order."""
    found = []
    for target in ORDER:
        try:
            sandbox(target)
        except NotSupported:
            continue
        found.append(target)
    return found
