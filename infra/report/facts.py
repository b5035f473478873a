"""Qualitative facts about each recipe (who patches the OS, how it scales, ...), from a data file.

They are facts about the recipes, not measurements, so they live in `facts.yaml` with a
one-line justification each. Values may quote the stack's own settings (`{config.replicas}`),
read from the same stack file `pulumi up` uses, so the table follows a changed setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from infra.config import ConfigError, TargetName, load_stack

FACTS_FILE = Path(__file__).with_name("facts.yaml")

ROWS: dict[str, str] = {
    "os_patching": "who patches the OS",
    "scaling": "how it scales",
    "scale_to_zero": "scales to zero",
    "request_time_limit": "request time limit",
    "moving_parts": "moving parts you operate",
    "portable": "runs elsewhere unchanged",
}


class Fact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str
    why: str
    flag: bool | None = None
    seconds: float | None = None
    count: int | None = None


def _render(raw: dict[str, Any], config: Any) -> dict[str, Any]:
    return {k: v.format(config=config) if isinstance(v, str) else v for k, v in raw.items()}


def _fact(raw: dict[str, Any]) -> Fact:
    if raw.get("count") is not None:  # a count reads first: "6: nginx, gunicorn, ..."
        raw = {**raw, "value": f"{raw['count']}: {raw['value']}"}
    return Fact(**raw)


def load_facts(path: Path = FACTS_FILE) -> dict[str, dict[str, Fact]]:
    """Every target's facts, with `{config.*}` filled in from its stack file."""
    data = yaml.safe_load(path.read_text()) or {}
    facts: dict[str, dict[str, Fact]] = {}
    for target in TargetName:
        rows = data.get(target.value)
        if not isinstance(rows, dict):
            raise ValueError(f"{path}: no facts for target {target.value!r}")
        missing = set(ROWS) - set(rows)
        if missing:
            raise ValueError(f"{path}: {target.value} lacks {', '.join(sorted(missing))}")
        try:
            config: Any = load_stack(target.value)
        except ConfigError as exc:
            raise ValueError(
                f"{path}: facts of {target.value} quote its stack file: {exc}"
            ) from None
        facts[target.value] = {key: _fact(_render(rows[key], config)) for key in ROWS}
    return facts
