"""The PostgreSQL database, priced on equal terms for every target.

A stack that declares an Amazon RDS instance is priced from its inputs. Otherwise the usage
profile's `database:` block states the managed instance the app needs (the same for paas, k8s
and serverless, which cannot keep it on their own servers); a single VPS server runs
PostgreSQL itself, shown as such at $0 extra. Beyond one VPS server the database moves off the
servers, onto the same managed instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.config import K8sConfig, VpsConfig
from infra.cost.context import Context
from infra.cost.lines import ASSUMPTION, ResourceCost

RDS_INSTANCE = "aws:rds/instance:Instance"


def rds_line(
    ctx: Context, inputs: dict[str, Any], type_: str, name: str, origin: str
) -> ResourceCost:
    """An RDS instance: instance hours (twice for Multi-AZ), storage, and backup storage
    beyond the free allowance (backups up to the provisioned storage are free)."""
    engine = str(inputs.get("engine") or "postgres")
    engine_key = "postgresql" if engine.startswith("postgres") else engine
    instance_class = str(inputs.get("instanceClass") or "?")
    storage = float(inputs.get("allocatedStorage") or 20)
    storage_type = str(inputs.get("storageType") or "gp2")
    copies = 2 if inputs.get("multiAz") else 1
    where = "Multi-AZ" if copies == 2 else "single-AZ"
    line = ResourceCost(
        type=type_,
        name=name,
        detail=f"{engine} {instance_class} {where}, {storage:g} GB {storage_type} ({origin})",
    )
    twice = " x 2 (primary + standby)" if copies == 2 else ""
    ctx.add(
        line,
        f"{instance_class}{twice} on-demand",
        f"aws.rds.{engine_key}.{instance_class}",
        ctx.hours * copies,
    )
    if storage_type == "gp3":
        ctx.add(
            line, f"{storage * copies:g} GB gp3 storage", "aws.rds.storage.gp3", storage * copies
        )
    else:
        line.unpriced.append(f"{storage_type} storage (only gp3 is priced)")
    backups = ctx.usage.database.backup_gb
    beyond = max(0.0, backups - storage)
    if beyond:
        ctx.add(
            line, f"{beyond:g} GB backups beyond the free {storage:g} GB", "aws.rds.backup", beyond
        )
    else:
        line.notes.append(f"backups up to {storage:g} GB (the provisioned size) are free")
    if inputs.get("manageMasterUserPassword"):
        # RDS creates the secret itself, so no declared resource carries its monthly charge.
        ctx.add(line, "the RDS-managed password secret", "aws.secretsmanager.secret", 1)
    return line


def database_line(ctx: Context) -> ResourceCost | None:
    """The database the stack does not declare, or None when it declares an RDS instance."""
    if ctx.plan.of_type(RDS_INSTANCE):
        return None
    config = ctx.plan.config
    one_server = isinstance(config, VpsConfig) and (config.host or ctx.sizing.servers == 1)
    if one_server:
        return ResourceCost(
            type=ASSUMPTION,
            name="database",
            detail="PostgreSQL on the server itself",
            no_charge_reason=(
                "$0 extra: PostgreSQL runs on the VPS (provisioned by the Fabric tasks) and "
                "shares its CPU, memory and disk; backups are yours to run"
            ),
        )
    db = ctx.usage.database
    inputs = {
        "engine": "postgres",
        "instanceClass": db.instance_class,
        "allocatedStorage": db.storage_gb,
        "storageType": "gp3",
    }
    origin = "usage profile `database:`"
    if isinstance(config, K8sConfig):
        origin = "usage profile `database:`; bring your own as `databaseUrl`, e.g. RDS by EKS"
    line = rds_line(ctx, inputs, ASSUMPTION, "database", origin)
    if isinstance(config, VpsConfig):
        line.notes.append("beyond one server the database moves off the servers, onto RDS")
    return line


# The resources that exist only for the database: itself, its proxy, and the serverless
# function's private way to its secret (an interface endpoint to Secrets Manager).
_DATABASE_TYPES = frozenset({RDS_INSTANCE, "aws:rds/proxy:Proxy"})
_SECRETS_ENDPOINT = "endpoint: secretsmanager"


@dataclass(frozen=True)
class DatabaseCost:
    """What a target's database costs a month, and what that is, in one line."""

    monthly_usd: float
    what: str
    complete: bool


def database_cost(lines: list[ResourceCost]) -> DatabaseCost:
    """The database's share of an estimate: the RDS instance (storage, backups, secret) or the
    assumed one, the proxy when there is one, and the secrets endpoint that reaches it."""
    mine = [
        line
        for line in lines
        if line.type in _DATABASE_TYPES
        or (line.type == ASSUMPTION and line.name == "database")
        or line.detail.endswith(_SECRETS_ENDPOINT)
    ]
    what = "; ".join(
        line.detail if line.charges or line.unpriced else f"{line.detail}, $0 extra"
        for line in mine
    )
    return DatabaseCost(
        monthly_usd=round(sum(line.monthly for line in mine), 4),
        what=what or "none",
        complete=not any(line.unpriced for line in mine),
    )
