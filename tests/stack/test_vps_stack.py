"""The `vps` stack under mocks: its resource graph and every security property of the server."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pulumi_aws
import pytest
import shipways_fabric
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from shipways_fabric import templates as host_templates

from infra import paths
from infra.config import ConfigError, load_stack, namespaced, read_stack_file
from infra.harness import OFFLINE_WRITE_TOKEN, Declared, OfflinePlan, plan_stack
from infra.targets.vps import component
from infra.targets.vps import mocks as vps_mocks
from infra.targets.vps.settings import fabric_settings

ProvisionResult = shipways_fabric.ProvisionResult

pytestmark = [
    pytest.mark.stack,
    # pulumi_aws warns about a deprecated EC2 resource this stack does not use, on import.
    pytest.mark.filterwarnings("ignore:aws.ec2/encryptioncontrol:DeprecationWarning"),
]

INSTANCE = "aws:ec2/instance:Instance"
KEY_PAIR = "aws:ec2/keyPair:KeyPair"
GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
EIP = "aws:ec2/eip:Eip"
ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
RELEASE = "pulumi-python:dynamic/vps:FabricRelease"
HOST_KEY = "pulumi-python:dynamic/vps:HostKey"
WRITE_TOKEN = "pulumi-python:dynamic/shipways:WriteToken"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"  # ... and what marks it a secret
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how a secret value travels to the engine
SERVER = "shipways:vps:Server"

STACK = load_stack("vps")


class Registrations:
    """What the program told the engine beyond inputs: dependencies, ignored changes and
    outputs to keep secret."""

    def __init__(self) -> None:
        self.depends: dict[str, set[str]] = {}
        self.ignore: dict[str, list[str]] = {}
        self.secret_outputs: dict[str, list[str]] = {}

    def wrap(self, register: Any) -> Any:
        def recording(monitor: Any, request: Any) -> Any:
            self.depends[request.name] = {u.rsplit("::", 1)[-1] for u in request.dependencies}
            self.ignore[request.name] = list(request.ignoreChanges)
            self.secret_outputs[request.name] = list(request.additionalSecretOutputs)
            return register(monitor, request)

        return recording


def _plan(drop: tuple[str, ...] = (), **overrides: Any) -> tuple[OfflinePlan, Registrations]:
    """Plan the committed stack file with some keys replaced (`overrides`) or removed (`drop`)."""
    values, _ = namespaced(read_stack_file("vps"))
    values = {k: v for k, v in values.items() if k not in drop} | overrides
    seen = Registrations()
    with pytest.MonkeyPatch.context() as patch:
        wrapped = seen.wrap(pulumi_mocks.MockMonitor.RegisterResource)
        patch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", wrapped)
        vps_mocks.AMI_LOOKUPS.clear()
        return plan_stack("vps", overrides=values, use_stack_file=False), seen


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the shipped files, so the fingerprint is known while others edit."""
    root = tmp_path_factory.mktemp("shipped")
    (root / "app.py").write_text("print('release one')\n")
    return root


@pytest.fixture(scope="module")
def created(shipped: Path) -> Iterator[tuple[OfflinePlan, Registrations, list[dict[str, Any]]]]:
    """The committed stack file (plus one extra tag): a new server on EC2."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(component, "RELEASE_INPUTS", (shipped,))
        plan, seen = _plan(tags={"owner": "platform-team"})
    yield plan, seen, list(vps_mocks.AMI_LOOKUPS)


@pytest.fixture(scope="module")
def plan(created: tuple[OfflinePlan, Registrations, Any]) -> OfflinePlan:
    return created[0]


def _tcp_port(rule: Declared) -> int:
    assert rule.inputs["ipProtocol"] == "tcp"
    assert rule.inputs["fromPort"] == rule.inputs["toPort"]
    return int(rule.inputs["fromPort"])


def _source(rule: Declared) -> str:
    return str(rule.inputs.get("cidrIpv4") or rule.inputs.get("cidrIpv6"))


def test_graph_is_one_server_behind_an_elastic_ip_with_its_release(plan: OfflinePlan) -> None:
    assert Counter(r.type for r in plan.resources) == {
        SERVER: 1,
        HOST_KEY: 1,
        KEY_PAIR: 1,
        GROUP: 1,
        INGRESS: 3,
        EGRESS: 2,
        INSTANCE: 1,
        EIP: 1,
        ASSOCIATION: 1,
        RELEASE: 1,
        WRITE_TOKEN: 1,
    }


def test_existing_host_creates_nothing_on_aws() -> None:
    plan, _ = _plan(("sshPublicKey", "sshAllowedCidr"), host="198.51.100.7")
    assert [r.type for r in plan.resources] == [SERVER, WRITE_TOKEN, RELEASE]
    release = plan.one(RELEASE)
    assert release.inputs["host"] == "198.51.100.7"
    assert release.inputs["serverId"] == "198.51.100.7"
    assert "knownHosts" not in release.inputs  # the operator's ~/.ssh/known_hosts decides
    assert release.inputs["settings"]["tls_names"] == ["198.51.100.7"]
    assert vps_mocks.AMI_LOOKUPS == []
    assert plan.exports["url"] == "http://198.51.100.7"
    assert plan.exports["host"] == "198.51.100.7"


def test_existing_host_on_another_ssh_port() -> None:
    plan, _ = _plan(("sshPublicKey", "sshAllowedCidr"), host="127.0.0.1", sshPort=2222)
    assert plan.one(RELEASE).inputs["port"] == 2222
    assert " -p 2222 deploy@127.0.0.1" in plan.exports["ssh"]


def test_image_is_debian_12_from_debians_own_account(
    created: tuple[OfflinePlan, Registrations, list[dict[str, Any]]],
) -> None:
    plan, _, lookups = created
    (lookup,) = lookups
    assert lookup["owners"] == ["136693071363"]
    assert lookup["mostRecent"] is True
    filters = {f["name"]: f["values"] for f in lookup["filters"]}
    assert filters["name"] == ["debian-12-amd64-*"]
    assert filters["architecture"] == ["x86_64"]
    assert plan.one(INSTANCE).inputs["ami"] == "ami-debian-12-amd64-20250101-1980"


def test_graviton_instance_types_get_the_arm64_image() -> None:
    plan, _ = _plan(instanceType="t4g.small")
    filters = {f["name"]: f["values"] for f in vps_mocks.AMI_LOOKUPS[0]["filters"]}
    assert filters["name"] == ["debian-12-arm64-*"]
    assert filters["architecture"] == ["arm64"]
    assert plan.one(INSTANCE).inputs["instanceType"] == "t4g.small"


@pytest.mark.parametrize(
    ("instance_type", "arch"),
    [
        *[(t, "amd64") for t in ("t3.small", "t3a.micro", "m7i.large", "g5.xlarge")],
        *[(t, "arm64") for t in ("t4g.small", "m7gd.large", "c6gn.medium")],
    ],
)
def test_architecture_follows_the_instance_family(instance_type: str, arch: str) -> None:
    assert component.ami_architecture(instance_type) == arch


def test_ssh_is_open_only_to_the_configured_cidr(plan: OfflinePlan) -> None:
    ssh = [r for r in plan.of_type(INGRESS) if _tcp_port(r) == 22]
    assert [_source(r) for r in ssh] == [STACK.ssh_allowed_cidr]  # type: ignore[attr-defined]
    assert all(_source(r) not in ("0.0.0.0/0", "::/0") for r in ssh)


def test_ssh_cidr_comes_from_config_including_ipv6() -> None:
    plan, _ = _plan(sshAllowedCidr="2001:db8::/64")
    (ssh,) = [r for r in plan.of_type(INGRESS) if _tcp_port(r) == 22]
    assert ssh.inputs["cidrIpv6"] == "2001:db8::/64"
    assert "cidrIpv4" not in ssh.inputs


def test_world_ssh_only_with_the_explicit_opt_in() -> None:
    with pytest.raises(ConfigError, match=r"sshAllowedCidr: 0\.0\.0\.0/0 opens SSH to the whole"):
        _plan(sshAllowedCidr="0.0.0.0/0")
    with pytest.raises(ConfigError, match="sshAllowedCidr: ::/0 opens SSH"):
        _plan(sshAllowedCidr="::/0")
    plan, _ = _plan(sshAllowedCidr="0.0.0.0/0", allowSshFromAnywhere=True)
    (ssh,) = [r for r in plan.of_type(INGRESS) if _tcp_port(r) == 22]
    assert ssh.inputs["cidrIpv4"] == "0.0.0.0/0"


def test_web_ports_are_open_and_nothing_else(plan: OfflinePlan) -> None:
    group_id = f"{plan.one(GROUP).name}-id"
    rules = plan.of_type(INGRESS)
    assert {r.inputs["securityGroupId"] for r in rules} == {group_id}
    assert sorted(_tcp_port(r) for r in rules) == [22, 80, 443]
    web = {_tcp_port(r): _source(r) for r in rules if _tcp_port(r) != 22}
    assert web == {80: "0.0.0.0/0", 443: "0.0.0.0/0"}


def test_outbound_is_only_http_and_https(plan: OfflinePlan) -> None:
    group_id = f"{plan.one(GROUP).name}-id"
    rules = plan.of_type(EGRESS)
    assert {r.inputs["securityGroupId"] for r in rules} == {group_id}
    assert sorted(_tcp_port(r) for r in rules) == [80, 443]
    assert plan.one(GROUP).inputs.get("egress") is None
    assert plan.one(GROUP).inputs.get("ingress") is None


def test_instance_requires_imdsv2_without_extra_hops(plan: OfflinePlan) -> None:
    metadata = plan.one(INSTANCE).inputs["metadataOptions"]
    assert metadata["httpTokens"] == "required"
    assert metadata["httpPutResponseHopLimit"] == 1
    assert metadata["httpEndpoint"] == "enabled"
    assert metadata["instanceMetadataTags"] == "disabled"


def test_root_volume_is_encrypted_gp3_sized_from_config() -> None:
    plan, _ = _plan(rootVolumeGb=40)
    root = plan.one(INSTANCE).inputs["rootBlockDevice"]
    assert root["encrypted"] is True
    assert root["volumeType"] == "gp3"
    assert root["volumeSize"] == 40
    assert root["deleteOnTermination"] is True


def test_instance_sits_in_the_group_with_the_configured_key(plan: OfflinePlan) -> None:
    instance, key = plan.one(INSTANCE), plan.one(KEY_PAIR)
    assert key.inputs["publicKey"] == STACK.ssh_public_key  # type: ignore[attr-defined]
    assert instance.inputs["keyName"] == key.outputs["keyName"]
    assert instance.inputs["vpcSecurityGroupIds"] == [f"{plan.one(GROUP).name}-id"]
    assert instance.inputs["instanceType"] == STACK.instance_type  # type: ignore[attr-defined]


def test_burstable_instances_never_bill_unlimited_credits(plan: OfflinePlan) -> None:
    assert plan.one(INSTANCE).inputs["creditSpecification"] == {"cpuCredits": "standard"}
    fixed, _ = _plan(instanceType="m7i.large")
    assert "creditSpecification" not in fixed.one(INSTANCE).inputs


def test_a_newer_debian_image_does_not_replace_the_server(
    created: tuple[OfflinePlan, Registrations, Any],
) -> None:
    plan, seen, _ = created
    assert seen.ignore[plan.one(INSTANCE).name] == ["ami"]


def test_first_ssh_login_is_already_pinned_to_the_stacks_host_key(
    created: tuple[OfflinePlan, Registrations, Any],
) -> None:
    plan, seen, _ = created
    user_data = plan.one(INSTANCE).inputs["userData"]
    assert SECRET_SIG in user_data, "user data holds a private key: it must be a secret"
    text = user_data["value"]
    assert text.startswith("#cloud-config\n")
    cloud = yaml.safe_load(text)
    assert cloud == {
        "ssh_deletekeys": True,
        "ssh_genkeytypes": [],
        "ssh_keys": {
            "ed25519_private": vps_mocks.HOST_PRIVATE_KEY,
            "ed25519_public": vps_mocks.HOST_PUBLIC_KEY,
        },
    }
    assert seen.secret_outputs[plan.one(HOST_KEY).name] == ["private"]
    known = f"{vps_mocks.ELASTIC_IP} {vps_mocks.HOST_PUBLIC_KEY}"
    assert plan.one(RELEASE).inputs["knownHosts"] == known


def test_the_host_key_in_user_data_is_out_of_the_apps_reach(
    created: tuple[OfflinePlan, Registrations, Any],
) -> None:
    """User data carries the host key, so the server the stack provisions answers the
    metadata service to root only: its firewall rejects every other account and the app's
    units deny the address themselves; IMDSv2 with one hop keeps containers out too."""
    plan, _, _ = created
    settings = shipways_fabric.Settings.model_validate(plan.one(RELEASE).inputs["settings"])
    firewall = host_templates.system_files(settings, ())["firewall"].content
    assert "meta skuid != 0 ip daddr 169.254.169.254 reject" in firewall
    units = {f.path: f.content for f in host_templates.app_files(settings)}
    for unit in (settings.layout.service, settings.layout.candidate_service):
        text = units[f"/etc/systemd/system/{unit}"]
        assert "\nIPAddressAllow=localhost\nIPAddressDeny=any\n" in text  # metadata included
        assert f"\nUser={settings.layout.app_user}\n" in text  # not the SSH login user
    metadata = plan.one(INSTANCE).inputs["metadataOptions"]
    assert (metadata["httpTokens"], metadata["httpPutResponseHopLimit"]) == ("required", 1)


def test_host_key_is_generated_once_as_a_real_ed25519_pair() -> None:
    provider = component._HostKeyProvider()
    made = provider.create({"public": None, "private": None})
    assert made.outs is not None
    private = paramiko.Ed25519Key.from_private_key(io.StringIO(made.outs["private"]))
    assert made.outs["public"] == f"ssh-ed25519 {private.get_base64()}"
    assert provider.create({}).outs != made.outs
    assert provider.diff(made.id, made.outs, {"public": None, "private": None}).changes is False


def test_known_hosts_uses_openssh_port_syntax() -> None:
    assert component.known_hosts_line("192.0.2.1", "ssh-ed25519 K") == "192.0.2.1 ssh-ed25519 K"
    assert component.known_hosts_line("192.0.2.1", "k", 2222) == "[192.0.2.1]:2222 k"


def test_elastic_ip_is_associated_with_the_instance(plan: OfflinePlan) -> None:
    eip, association = plan.one(EIP), plan.one(ASSOCIATION)
    assert eip.inputs["domain"] == "vpc"
    assert association.inputs["allocationId"] == eip.outputs["allocationId"]
    assert association.inputs["instanceId"] == f"{plan.one(INSTANCE).name}-id"


def _taggable(resource: Declared) -> bool:
    """Whether the AWS provider accepts `tags` on this type (read from pulumi_aws itself)."""
    module, _, kind = resource.type.split(":", 1)[1].partition("/")
    cls = getattr(getattr(pulumi_aws, module), kind.split(":")[1])
    return hasattr(cls, "tags")


def test_every_taggable_resource_is_tagged(plan: OfflinePlan) -> None:
    aws = [r for r in plan.resources if r.type.startswith("aws:")]
    taggable = [r for r in aws if _taggable(r)]
    assert {r.type for r in aws} - {r.type for r in taggable} == {ASSOCIATION}
    wanted = {"project": "shipways", "environment": "demo", "owner": "platform-team"}
    for resource in taggable:
        assert wanted.items() <= resource.inputs["tags"].items(), resource.name
    assert wanted.items() <= plan.one(INSTANCE).inputs["rootBlockDevice"]["tags"].items()
    assert plan.one(INSTANCE).inputs["tags"]["Name"] == "shipways-demo"


def test_release_runs_on_the_elastic_ip_after_the_server_exists(
    created: tuple[OfflinePlan, Registrations, Any],
) -> None:
    plan, seen, _ = created
    release = plan.one(RELEASE)
    assert release.inputs["host"] == vps_mocks.ELASTIC_IP
    assert release.inputs["serverId"] == f"{plan.one(INSTANCE).name}-id"
    assert release.inputs["user"] == "admin"
    assert release.inputs["port"] == 22
    assert {plan.one(INSTANCE).name, plan.one(ASSOCIATION).name} <= seen.depends[release.name]


def test_release_fingerprint_and_settings_are_inputs(plan: OfflinePlan, shipped: Path) -> None:
    release = plan.one(RELEASE)
    assert release.inputs["release"] == component.release_fingerprint([shipped])
    settings = shipways_fabric.Settings.model_validate(release.inputs["settings"])
    assert settings == fabric_settings(STACK)  # type: ignore[arg-type]
    assert (settings.app_name, settings.environment) == ("shipways", "demo")
    assert (settings.web_concurrency, settings.releases_to_keep) == (2, 5)
    assert settings.deploy_user == "deploy"
    assert settings.deploy_public_keys == (STACK.ssh_public_key,)  # type: ignore[attr-defined]


def test_server_changes_alone_do_not_touch_the_release_settings(plan: OfflinePlan) -> None:
    resized, _ = _plan(instanceType="m7i.large", rootVolumeGb=60, tags={"team": "x"})
    assert resized.one(RELEASE).inputs["settings"] == plan.one(RELEASE).inputs["settings"]


def test_only_the_private_key_path_reaches_the_release(plan: OfflinePlan) -> None:
    release = plan.one(RELEASE)
    assert release.inputs["keyPath"] == "~/.ssh/id_ed25519"
    flat = repr({k: v for k, v in release.inputs.items() if k != "__provider"})
    assert "PRIVATE" not in flat


def test_exports(plan: OfflinePlan, shipped: Path) -> None:
    ip = vps_mocks.ELASTIC_IP
    assert plan.exports == {
        "url": f"http://{ip}",
        "https_url": f"https://{ip}",
        "host": ip,
        "ssh": f"ssh -i ~/.ssh/id_ed25519 deploy@{ip}",
        "release": component.release_fingerprint([shipped]),
        "deployed": vps_mocks.DEPLOYED,
        "certificate": "self-signed",
        "certificateNotice": "",
        "known_hosts": f"{ip} {vps_mocks.HOST_PUBLIC_KEY}",
        "write_token": {SECRET_SIG: SECRET_VALUE, "value": OFFLINE_WRITE_TOKEN},
    }


def test_write_token_reaches_the_release_as_a_secret_apart_from_the_settings(
    created: tuple[OfflinePlan, Registrations, Any],
) -> None:
    plan, seen, _ = created
    release = plan.one(RELEASE)
    assert release.inputs["writeToken"] == {SECRET_SIG: SECRET_VALUE, "value": OFFLINE_WRITE_TOKEN}
    assert seen.secret_outputs[release.name] == ["writeToken"]  # secret in the state, too
    assert OFFLINE_WRITE_TOKEN not in repr(release.inputs["settings"])
    assert "writeToken" in component.RELEASE_KEYS  # a new token provisions again
    assert plan.one(WRITE_TOKEN).name in seen.depends[release.name]


def test_a_given_write_token_is_used_and_a_bad_one_refused() -> None:
    given = "operator-chosen-token-0123456789abcdef"
    plan = plan_stack("vps", secrets={"writeToken": given})
    assert not plan.of_type(WRITE_TOKEN)
    assert plan.one(RELEASE).inputs["writeToken"] == {SECRET_SIG: SECRET_VALUE, "value": given}
    with pytest.raises(Exception, match=r"writeToken \(value hidden\) is no usable write token"):
        plan_stack("vps", secrets={"writeToken": "two words here, long enough"})


def test_domain_makes_the_url_https() -> None:
    plan, _ = _plan(domain="api.example.com", letsencryptEmail="ops@example.com")
    assert plan.exports["url"] == "https://api.example.com"
    assert plan.exports["host"] == vps_mocks.ELASTIC_IP
    assert plan.one(RELEASE).inputs["settings"]["domain"] == "api.example.com"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sshAllowedCidr": "203.0.113.7"}, None),
        ({"sshAllowedCidr": "203.0.113.7/24"}, "shipways:sshAllowedCidr"),
        ({"instanceType": "t3small"}, "shipways:instanceType"),
        ({"rootVolumeGb": 4}, "shipways:rootVolumeGb"),
        ({"host": "http://198.51.100.7/"}, "shipways:host"),
        ({"sshPublicKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl"}, "PRIVATE key"),
        ({"sshPrivateKeyPath": "~/.ssh/id_ed25519.pub"}, "shipways:sshPrivateKeyPath"),
        ({"domain": "api.example.com"}, "shipways:letsencryptEmail: required"),
    ],
)
def test_bad_config_is_refused_naming_the_key(
    overrides: dict[str, Any], message: str | None
) -> None:
    if message is None:  # a bare address is a /32: accepted, and that is what is opened
        plan, _ = _plan(**overrides)
        ssh = next(r for r in plan.of_type(INGRESS) if _tcp_port(r) == 22)
        assert _source(ssh) == "203.0.113.7/32"
        return
    with pytest.raises(ConfigError, match=message):
        _plan(**overrides)


@pytest.mark.parametrize("key", ["sshPublicKey", "sshAllowedCidr"])
def test_keys_a_new_server_needs_are_named_when_missing(key: str) -> None:
    with pytest.raises(ConfigError, match=f"shipways:{key}: required to create a server"):
        _plan((key,))


# The release itself: what `pulumi up` runs through the dynamic provider.


def test_fingerprint_covers_app_lock_templates_and_fabric_tasks() -> None:
    roots = set(component.RELEASE_INPUTS)
    assert {paths.APP_DIR, paths.NGINX_DIR, paths.FABRIC_DIR, paths.ROOT / "uv.lock"} <= roots
    assert all(r.exists() for r in roots)
    shipped = [
        paths.FABRIC_DIR / "shipways_fabric" / "templates" / "gunicorn.service.j2",
        paths.FABRIC_DIR / "pyproject.toml",
        paths.NGINX_DIR / "site.conf.j2",
        Path(component.__file__).with_name("settings.py"),
        Path(component.__file__).with_name("sample_app.py"),
    ]
    for path in shipped:
        assert path.is_file() and any(r == path or r in path.parents for r in roots), path
    assert re.fullmatch(r"[0-9a-f]{16}", component.release_fingerprint())


def test_fingerprint_follows_shipped_files_and_ignores_build_leftovers(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "pkg" / "__pycache__").mkdir(parents=True)
    (app / "pkg" / "main.py").write_text("A = 1\n")
    before = component.release_fingerprint([app])
    (app / "pkg" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (app / "pkg.egg-info").mkdir()
    (app / "pkg.egg-info" / "PKG-INFO").write_text("x")
    assert component.release_fingerprint([app]) == before
    (app / "pkg" / "main.py").write_text("A = 2\n")
    changed = component.release_fingerprint([app])
    assert changed != before
    (app / "pkg" / "main.py").rename(app / "pkg" / "app.py")
    assert component.release_fingerprint([app]) not in (before, changed)


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        yield server.getsockname()[1]


class FakeConnection:
    """Stands in for the pinned `fabric.Connection` that `shipways_fabric.connect` returns."""

    def __init__(self, host: str, user: str, port: int, key_path: Path, known: str | None):
        self.host, self.user, self.port = host, user, port
        self.key_path, self.known = key_path, known
        self.connect_kwargs = {"key_filename": str(key_path)}
        self.opened = self.closed = False
        self.refusals: list[Exception] = []
        self.attempts = 0

    def open(self) -> None:
        self.attempts += 1
        if self.refusals:
            raise self.refusals.pop(0)
        self.opened = True

    def close(self) -> None:
        self.closed = True


class FakeFabric:
    """The Fabric API the provider drives, recording each call instead of running it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.refusals: list[Exception] = []
        self.write_tokens: list[str | None] = []
        self.apps: list[str] = []

    def connect(
        self, host: str, user: str, *, port: int, key_path: Path, known_hosts: Path | None
    ) -> FakeConnection:
        known = known_hosts.read_text() if known_hosts else None  # the file is temporary
        conn = FakeConnection(host, user, port, key_path, known)
        conn.refusals = list(self.refusals)
        self.calls.append(("connect", conn))
        return conn

    def provision(
        self, conn: FakeConnection, settings: dict[str, Any], *, write_token: str | None
    ) -> Any:
        assert conn.opened and not conn.closed
        self.calls.append(("provision", (conn, settings)))
        self.write_tokens.append(write_token)
        return self.provisioned

    provisioned = ProvisionResult("127.0.0.1", [], "self-signed", None)

    def deploy(self, conns: list[FakeConnection], settings: dict[str, Any], *, app: Any) -> str:
        self.calls.append(("deploy", (conns, settings)))
        self.apps.append(app.entry)
        return "20250101T000000Z-abc"


@pytest.fixture
def fabric(monkeypatch: pytest.MonkeyPatch) -> FakeFabric:
    fake = FakeFabric()
    monkeypatch.setattr(component, "shipways_fabric", fake)  # connect, provision
    monkeypatch.setattr(component, "sample_app", fake)  # deploy
    return fake


TOKEN = "the-release-write-token-0123456789"


def _props(port: int, key: Path, **extra: Any) -> dict[str, Any]:
    props = {
        "__provider": "serialized",
        "serverId": "i-1",
        "host": "127.0.0.1",
        "port": port,
        "user": "admin",
        "keyPath": str(key),
        "knownHosts": f"127.0.0.1 {vps_mocks.HOST_PUBLIC_KEY}",
        "settings": {"app_name": "shipways"},
        "app": "fastapi",
        "release": "abc123",
        "writeToken": TOKEN,
    }
    return props | extra


def test_create_provisions_then_deploys_with_the_host_key_pinned(
    listening: int, fabric: FakeFabric, tmp_path: Path
) -> None:
    result = component._FabricReleaseProvider().create(_props(listening, tmp_path / "id"))
    assert [c[0] for c in fabric.calls] == ["connect", "provision", "deploy"]
    conn = fabric.calls[0][1]
    assert (conn.host, conn.user, conn.port) == ("127.0.0.1", "admin", listening)
    assert conn.key_path == tmp_path / "id"
    assert conn.known == f"127.0.0.1 {vps_mocks.HOST_PUBLIC_KEY}\n"
    assert fabric.calls[1][1] == (conn, {"app_name": "shipways"})
    assert fabric.write_tokens == [TOKEN]  # to provision, apart from the settings
    assert fabric.calls[2][1] == ([conn], {"app_name": "shipways"})
    assert fabric.apps == ["shipways_app.main:app"]  # the entry of the app the stack names
    assert conn.closed
    assert result.id == "127.0.0.1/abc123"
    assert result.outs is not None
    assert result.outs["deployed"] == "20250101T000000Z-abc"
    assert result.outs["release"] == "abc123"
    assert "__provider" not in result.outs


def test_existing_host_is_checked_against_the_operators_known_hosts(
    listening: int, fabric: FakeFabric, tmp_path: Path
) -> None:
    component._FabricReleaseProvider().create(_props(listening, tmp_path / "id", knownHosts=None))
    assert fabric.calls[0][1].known is None  # shipways_fabric.connect then loads ~/.ssh/known_hosts


@pytest.mark.parametrize(
    ("known", "refusal", "message"),
    [
        (None, "Server '[127.0.0.1]:22' not found in known_hosts", "ssh-keyscan -t ed25519"),
        (
            "127.0.0.1 ssh-ed25519 AAAA",
            "Server '[127.0.0.1]:22' not found in known_hosts",
            "intercepting",
        ),
    ],
)
def test_unknown_host_key_stops_before_any_task(
    listening: int,
    fabric: FakeFabric,
    tmp_path: Path,
    known: str | None,
    refusal: str,
    message: str,
) -> None:
    fabric.refusals = [paramiko.SSHException(refusal)]
    with pytest.raises(RuntimeError, match=message):
        component._FabricReleaseProvider().create(
            _props(listening, tmp_path / "id", knownHosts=known)
        )
    assert [c[0] for c in fabric.calls] == ["connect"]
    assert fabric.calls[0][1].closed


def test_a_booting_server_gets_a_few_bounded_retries(
    listening: int, fabric: FakeFabric, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(component, "SSH_RETRY_PAUSE_S", 0.01)
    banner = paramiko.SSHException("Error reading SSH protocol banner")
    fabric.refusals = [banner, ConnectionResetError(104, "reset")]
    component._FabricReleaseProvider().create(_props(listening, tmp_path / "id"))
    conn = fabric.calls[0][1]
    assert conn.attempts == 3
    assert [c[0] for c in fabric.calls] == ["connect", "provision", "deploy"]

    fabric.calls.clear()
    fabric.refusals = [banner] * component.SSH_OPEN_ATTEMPTS
    with pytest.raises(paramiko.SSHException, match="banner"):
        component._FabricReleaseProvider().create(_props(listening, tmp_path / "id"))
    assert fabric.calls[0][1].attempts == component.SSH_OPEN_ATTEMPTS
    assert [c[0] for c in fabric.calls] == ["connect"]


def test_a_refused_key_pair_is_final_and_names_the_keys(
    listening: int, fabric: FakeFabric, tmp_path: Path
) -> None:
    fabric.refusals = [paramiko.AuthenticationException("Authentication failed.")]
    with pytest.raises(RuntimeError, match="sshPrivateKeyPath must be the private half"):
        component._FabricReleaseProvider().create(_props(listening, tmp_path / "id"))
    assert fabric.calls[0][1].attempts == 1


def test_diff_reruns_only_when_release_settings_or_server_change(tmp_path: Path) -> None:
    provider = component._FabricReleaseProvider()
    old = _props(22, tmp_path) | {"deployed": "r-abc123"}
    assert provider.diff("id", old, _props(22, tmp_path)).changes is False
    for key, value in [("release", "def456"), ("serverId", "i-2"), ("host", "192.0.2.1")]:
        assert provider.diff("id", old, _props(22, tmp_path, **{key: value})).changes is True
    moved = _props(22, tmp_path, settings={"app_name": "other"})
    assert provider.diff("id", old, moved).changes is True


def test_check_names_a_missing_private_key(tmp_path: Path) -> None:
    provider = component._FabricReleaseProvider()
    missing = provider.check({}, _props(22, tmp_path / "absent"))
    assert [f.property for f in missing.failures] == ["keyPath"]
    assert "shipways:sshPrivateKeyPath" in missing.failures[0].reason
    key = tmp_path / "id"
    key.write_text("k")
    assert provider.check({}, _props(22, key)).failures == []


def test_waiting_for_ssh_is_bounded() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(TimeoutError, match=r"did not accept SSH within 0s.*sshAllowedCidr"):
        component.wait_for_port("127.0.0.1", closed, timeout_s=0.3, interval_s=0.1)


def test_provider_travels_by_reference_to_a_fresh_process(plan: OfflinePlan) -> None:
    """Pulumi runs dynamic providers in their own process from the pickled `__provider`."""
    serialized = plan.one(RELEASE).inputs["__provider"]["value"]
    load = (
        "import base64, sys, dill; "
        "p = dill.loads(base64.b64decode(sys.argv[1])); "
        "print(type(p).__module__, type(p).__name__)"
    )
    found = subprocess.run(
        [sys.executable, "-c", load, serialized],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    assert found.stdout.split() == ["infra.targets.vps.component", "_FabricReleaseProvider"]
    assert len(serialized) < 400  # a reference to the class, not a copy of its code


def test_a_pending_certificate_is_recorded_with_what_to_do(
    listening: int, fabric: FakeFabric, tmp_path: Path
) -> None:
    notice = "TLS: api.example.com resolves to no address, not to this server (127.0.0.1)"
    fabric.provisioned = ProvisionResult("127.0.0.1", [], "pending", notice)
    settings = {"app_name": "shipways", "domain": "api.example.com"}
    result = component._FabricReleaseProvider().create(
        _props(listening, tmp_path / "id", settings=settings)
    )
    assert result.outs is not None
    assert (result.outs["certificate"], result.outs["certificateNotice"]) == ("pending", notice)


def test_a_pending_certificate_makes_the_next_up_provision_again(tmp_path: Path) -> None:
    """Nothing else changed, but the last run could not get the certificate: `up` retries
    (then certbot runs if DNS resolves by now), and stops retrying once it has it."""
    provider = component._FabricReleaseProvider()
    settings = {"app_name": "shipways", "domain": "api.example.com"}
    news = _props(22, tmp_path, settings=settings)
    pending = news | {"deployed": "r-1", "certificate": "pending"}
    assert provider.diff("id", pending, news).changes is True
    obtained = pending | {"certificate": "letsencrypt"}
    assert provider.diff("id", obtained, news).changes is False
    plain = _props(22, tmp_path) | {"deployed": "r-1", "certificate": "pending"}
    assert provider.diff("id", plain, _props(22, tmp_path)).changes is False  # no domain


def test_a_first_up_with_a_domain_exports_the_pending_certificate() -> None:
    plan, _ = _plan(domain="api.example.com", letsencryptEmail="ops@example.com")
    assert plan.exports["certificate"] == "pending"


@pytest.mark.parametrize(
    ("overrides", "protected"),
    [
        ({}, False),
        ({"environment": "dev"}, False),
        ({"environment": "prod"}, True),
        ({"environment": "prod", "protectStateful": False}, False),
        ({"protectStateful": True}, True),
    ],
)
def test_server_and_address_are_protected_and_retained_outside_demo(
    overrides: dict[str, Any], protected: bool
) -> None:
    plan, _ = _plan(**overrides)
    for type_token in (INSTANCE, EIP):
        options = plan.one(type_token).options
        assert options is not None
        assert (options.protect, options.retain_on_delete) == (protected, protected), type_token
    for resource in plan.of_type(GROUP) + plan.of_type(KEY_PAIR) + plan.of_type(ASSOCIATION):
        assert resource.options is not None and not resource.options.protect
