"""Usage profiles: how much a stack is used in a month, stated as assumptions, Infracost-style.

A resource graph says what exists; what it costs also depends on traffic (requests, how long
each runs, how many bytes leave AWS) and on things the stack does not declare (the cluster a
Kubernetes stack deploys into, the server an existing-host VPS runs on). Those are the
reader's assumptions, so they live in small YAML files (`infra/cost/usage/*.yaml`) that every
estimate names, never in the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.cost.errors import CostInputError

USAGE_DIR = Path(__file__).resolve().parent / "usage"
DEFAULT_PROFILE = "default"
HOURS_PER_MONTH = 730  # AWS's own convention for a month of an always-on resource
# A sanity bound, not a price limit: a trillion requests a month is about 380,000 a second
# around the clock, beyond any stack here and any list price (volume deals apply long before).
MAX_REQUESTS_PER_MONTH = 10**12


class UsageError(CostInputError):
    """A usage profile is missing or wrong; the message names the key or the file."""


class Ingress(BaseModel):
    """How traffic reaches the cluster's pods: a cloud load balancer the stack does not create
    (an ingress controller's Service, or the AWS Load Balancer Controller) but the user pays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["alb", "nlb", "none"] = Field(
        default="alb", description="alb or nlb: priced per hour + capacity units; none: shared"
    )
    capacity_units: Annotated[float, Field(ge=0)] | None = Field(
        default=None,
        description="LCU (ALB) or NLCU (NLB) per hour; derived from traffic when not stated",
    )
    public_ipv4: Annotated[int, Field(ge=0, le=16)] = Field(
        default=2, description="its public addresses: one per Availability Zone, at least two"
    )


class Cluster(BaseModel):
    """The cluster the k8s stack deploys into: it is not in the stack, so it is stated here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    control_plane: Literal["eks", "none"] = Field(
        description="eks: an EKS control plane billed per hour; none: already paid elsewhere"
    )
    nodes: Annotated[int, Field(ge=0, le=1000)]
    node_instance_type: str
    node_volume_gb: Annotated[int, Field(ge=0, le=16384)] = 0
    node_networking: Literal["public_ipv4", "nat_gateway"] = Field(
        default="public_ipv4",
        description="public_ipv4: each node has its own address; nat_gateway: private nodes "
        "reach out through one NAT gateway",
    )
    ingress: Ingress = Field(default_factory=Ingress)
    note: str = ""

    def describe(self) -> str:
        plane = "EKS control plane" if self.control_plane == "eks" else "no control plane fee"
        disk = f", {self.node_volume_gb} GB gp3 each" if self.node_volume_gb else ""
        net = "a public IPv4 each" if self.node_networking == "public_ipv4" else "a NAT gateway"
        return f"{plane} + at least {self.nodes} x {self.node_instance_type} nodes{disk}, {net}"


class Database(BaseModel):
    """The PostgreSQL database every target needs, where the stack does not declare one: the
    same managed instance for each target that cannot keep it on its own server, so the
    comparison is on equal terms. A stack that declares an RDS instance is priced from it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_class: str = Field(
        default="db.t4g.micro", description="RDS instance class (price key aws.rds.postgresql.*)"
    )
    storage_gb: Annotated[int, Field(ge=20, le=65536)] = 20
    backup_gb: Annotated[float, Field(ge=0)] = Field(
        default=0,
        description="backup storage kept (automated + snapshots); AWS bills what exceeds "
        "storage_gb",
    )

    def describe(self) -> str:
        backups = f", {self.backup_gb:g} GB backups" if self.backup_gb else ""
        return (
            f"RDS for PostgreSQL {self.instance_class} single-AZ, {self.storage_gb} GB gp3{backups}"
        )


class Capacity(BaseModel):
    """How many requests a second one instance serves, to size servers, pods and nodes.

    The figure comes from the project's own measurements (`shipways` benchmarks) when one
    meets the p99 target, scaled by the instance's vCPUs over the measuring machine's CPUs;
    `rps_per_instance` states it instead; `default_rps` is used when nothing was measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: Literal["products", "hello"] = Field(
        default="products", description="which measured route: products reads the database"
    )
    p99_target_ms: Annotated[float, Field(gt=0)] = 250
    rps_per_instance: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="stated capacity per 2 vCPUs (overrides the measurements)"
    )
    default_rps: Annotated[float, Field(gt=0)] = Field(
        default=100, description="per 2 vCPUs, when nothing measured meets the p99 target"
    )


class UsageProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    requests_per_month: Annotated[int, Field(ge=0, le=MAX_REQUESTS_PER_MONTH)]
    avg_duration_ms: Annotated[float, Field(gt=0, le=900_000)] = Field(
        description="billed time per request (Lambda)"
    )
    avg_response_kb: Annotated[float, Field(ge=0)] = Field(
        description="bytes leaving AWS per request, in KiB: egress = requests x this"
    )
    hours_running: Annotated[float, Field(ge=0, le=744)] = HOURS_PER_MONTH
    free_tier: bool = False
    memory_mb: Annotated[int, Field(ge=128, le=10240)] | None = None
    peak_to_average: Annotated[float, Field(ge=1)] = Field(
        default=3.0, description="busiest hour's traffic over the month's average (sizing)"
    )
    log_kb_per_request: Annotated[float, Field(ge=0)] = Field(
        default=1.0, description="KiB of log lines CloudWatch ingests per request"
    )
    secret_reads_per_month: Annotated[int, Field(ge=0)] = Field(
        default=10_000, description="Secrets Manager API calls a month, per secret"
    )
    database: Database = Field(default_factory=Database)
    capacity: Capacity = Field(default_factory=Capacity)
    cluster: Cluster | None = None
    existing_host: str | None = Field(
        default=None, description="price key of the server an existing-host VPS runs on"
    )

    def at(self, requests_per_month: float) -> UsageProfile:
        """The same profile at another traffic level (for sweeps and --requests-per-month)."""
        return self.model_copy(update={"requests_per_month": round(requests_per_month)})

    def egress_gb(self) -> float:
        return self.requests_per_month * self.avg_response_kb / (1024 * 1024)

    def log_gb(self) -> float:
        return self.requests_per_month * self.log_kb_per_request / (1024 * 1024)

    def average_rps(self) -> float:
        seconds = self.hours_running * 3600
        return self.requests_per_month / seconds if seconds else 0.0

    def peak_rps(self) -> float:
        """Requests a second in the busiest hour: what servers must be sized for."""
        return self.average_rps() * self.peak_to_average

    def assumptions(self, *, cluster: bool = True, host: bool = True) -> dict[str, str]:
        """What this profile assumes, for people: every estimate prints it (the cluster and
        existing-host lines only where a stack depends on them)."""
        shown = {
            "requests per month": f"{self.requests_per_month:,}",
            "average duration": f"{self.avg_duration_ms:g} ms",
            "response size": f"{self.avg_response_kb:g} KiB (egress {self.egress_gb():,.1f} GB)",
            "hours running": f"{self.hours_running:g} h",
            "free tier": "applied" if self.free_tier else "not applied",
        }
        if self.memory_mb is not None:
            shown["Lambda memory"] = f"{self.memory_mb} MB (overrides the stack)"
        shown["peak / average traffic"] = (
            f"{self.peak_to_average:g}x (peak {self.peak_rps():,.1f} requests/s)"
        )
        shown["capacity target"] = (
            f"p99 at most {self.capacity.p99_target_ms:g} ms on /{self.capacity.endpoint} "
            "(a measured throughput that misses it is not used for sizing)"
        )
        shown["log lines"] = f"{self.log_kb_per_request:g} KiB per request"
        shown["database"] = (
            f"{self.database.describe()} where the stack declares none "
            "(a single VPS server runs its own PostgreSQL)"
        )
        if cluster and self.cluster is not None:
            shown["cluster (k8s)"] = self.cluster.describe()
        if host and self.existing_host is not None:
            shown["existing VPS host"] = self.existing_host
        return shown


def profile_names(directory: Path = USAGE_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_usage(
    name_or_path: str | Path = DEFAULT_PROFILE, directory: Path = USAGE_DIR
) -> UsageProfile:
    """A profile by name (`infra/cost/usage/<name>.yaml`) or by path to a YAML file (ending
    in .yaml or .yml, or naming a directory: `/etc/passwd` is read, and refused, as a file)."""
    path = Path(name_or_path)
    if path.suffix not in {".yaml", ".yml"} and len(path.parts) == 1:
        path = directory / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(profile_names(directory))
        raise UsageError(f"no usage profile {name_or_path!r}; known profiles: {known}, or a path")
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise UsageError(
            f"{path} is not a usage profile: a profile is a YAML mapping of keys to values, "
            "like infra/cost/usage/default.yaml"
        )
    data.setdefault("name", path.stem)
    try:
        return UsageProfile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors()
        )
        raise UsageError(f"{path}: {problems}") from None


def _read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} cannot be read ({exc}); give a YAML text file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not YAML"
        raise UsageError(f"{path} is not valid YAML{where}: {problem}; fix the file") from None
