"""The config model: every stack file validates, and mistakes name the key and the fix."""

import pytest

from infra.config import (
    ConfigError,
    K8sConfig,
    ServerlessConfig,
    StackConfig,
    TargetName,
    VpsConfig,
    example_values,
    load_stack,
    namespaced,
    narrow,
    read_stack,
    require_real_values,
    select_target,
    validate,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("stack", list(TargetName), ids=str)
def test_every_committed_stack_file_validates(stack: TargetName) -> None:
    loaded = read_stack(stack.value)
    assert loaded.name == stack.value and loaded.target is stack
    assert loaded.config.resource_tags()["project"] == "shipways"


def test_a_loaded_stack_carries_the_aws_region_of_its_file() -> None:
    assert read_stack("serverless").aws_region == "us-east-1"
    assert read_stack("k8s").aws_region is None


def test_narrow_gives_the_target_model_or_names_the_stack_to_use() -> None:
    config = load_stack("serverless")
    narrowed: ServerlessConfig = narrow(config, ServerlessConfig)
    assert narrowed is config
    with pytest.raises(ConfigError) as caught:
        narrow(config, VpsConfig)
    assert str(caught.value) == (
        "this is a serverless stack's configuration, not a vps one: use a stack named vps "
        "or vps-<suffix>, or set `shipways:target: vps`"
    )
    with pytest.raises(ConfigError, match="this is a shared stack's configuration, not a k8s"):
        narrow(StackConfig(), K8sConfig)


@pytest.mark.parametrize(
    ("stack", "key", "expected"),
    [
        ("vps", None, TargetName.VPS),
        ("vps-prod", None, TargetName.VPS),
        ("serverless-eu", None, TargetName.SERVERLESS),
        ("anything", "k8s", TargetName.K8S),
    ],
)
def test_target_comes_from_stack_name_or_key(stack: str, key: str | None, expected: TargetName):
    assert select_target(stack, key) == expected


def test_unknown_stack_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"stack name 'heroku'.*vps, paas, k8s, serverless"):
        select_target("heroku", None)
    with pytest.raises(ConfigError, match=r"shipways:target: unknown target 'lambda'"):
        select_target("x", "lambda")


def test_missing_stack_file_lists_known_stacks() -> None:
    with pytest.raises(ConfigError, match="known stacks: k8s, paas, serverless, vps"):
        load_stack("nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("config:\n  shipways:appName: demo\n   tags: oops: x\n", r"not valid YAML at line 3"),
        ("config: [unclosed\n", r"not valid YAML at line 2"),
        ("- just\n- a list\n", r"expected a mapping with a `config:` key"),
    ],
)
def test_a_malformed_stack_file_names_the_file_and_line(tmp_path, text, message) -> None:
    (tmp_path / "Pulumi.vps.yaml").write_text(text)
    with pytest.raises(ConfigError, match=rf"Pulumi\.vps\.yaml.*{message}"):
        read_stack("vps", tmp_path)


@pytest.mark.parametrize(
    ("target", "values", "message"),
    [
        (TargetName.SERVERLESS, {"memoryMb": "64"}, "shipways:memoryMb: Input should be greater"),
        (TargetName.SERVERLESS, {"timeoutS": 30}, "shipways:timeoutS"),
        (TargetName.SERVERLESS, {"architecture": "mips"}, "shipways:architecture"),
        (TargetName.SERVERLESS, {"memroyMb": 512}, "shipways:memroyMb: unknown key"),
        (TargetName.VPS, {"sshAllowedCidr": "1.2.3.4/32"}, "shipways:sshPublicKey: required"),
        (TargetName.VPS, {"sshPublicKey": "k"}, "shipways:sshAllowedCidr: required"),
        (
            TargetName.VPS,
            {"sshPublicKey": "k", "sshAllowedCidr": "0.0.0.0/0"},
            "opens SSH to the whole internet",
        ),
        (TargetName.VPS, {"host": "h", "sshAllowedCidr": "10.0.0.1/8"}, "not a CIDR block"),
        (TargetName.VPS, {"host": "h", "domain": "a.example"}, "letsencryptEmail: required"),
        (
            TargetName.VPS,
            {"sshPublicKey": "k", "sshAllowedCidr": "1.2.3.4/32", "sshPort": 2222},
            "sshPort: a created server's sshd listens on 22",
        ),
        (TargetName.VPS, {"host": "h", "sshPort": 70000}, "shipways:sshPort"),
        (TargetName.K8S, {}, "shipways:registry: required when clusterMode is 'registry'"),
        (TargetName.K8S, {"clusterMode": "kind", "replicas": 9}, "hpaMaxReplicas: 6 is below"),
        (TargetName.PAAS, {"minInstances": 3, "maxInstances": 2}, "maxInstances: 2 is below"),
        (TargetName.PAAS, {"platformPattern": "(["}, "not a regular expression"),
        (TargetName.PAAS, {"appName": "Bad_Name"}, "shipways:appName"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(target, values, message) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(target, values)
    assert message in str(caught.value)


def test_world_ssh_needs_an_explicit_opt_in() -> None:
    config = validate(
        TargetName.VPS,
        {"sshPublicKey": "k", "sshAllowedCidr": "0.0.0.0/0", "allowSshFromAnywhere": True},
    )
    assert config.ssh_allowed_cidr == "0.0.0.0/0"


def test_an_existing_host_may_listen_on_another_ssh_port() -> None:
    config = validate(TargetName.VPS, {"host": "127.0.0.1", "sshPort": "2222"})
    assert config.ssh_port == 2222


def test_structured_values_arrive_as_json_text() -> None:
    config = validate(TargetName.SERVERLESS, {"tags": '{"team": "api"}'})
    assert config.resource_tags() == {"project": "shipways", "environment": "demo", "team": "api"}


def test_secure_values_count_as_secret_and_other_namespaces_are_ignored() -> None:
    values, secret = namespaced(
        {"aws:region": "eu-west-1", "shipways:databaseUrl": {"secure": "v1:abc"}, "shipways:x": 1}
    )
    assert values == {"databaseUrl": {"secure": "v1:abc"}, "x": 1}
    assert secret == {"databaseUrl"}


REAL_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmXBsQ7h8zK0Yc4vJdfZcN1t9i6dQ8m5W2Lq3yVt0x1 ops@acme.io"
)


@pytest.mark.parametrize(
    ("stack", "keys"),
    [
        ("vps", {"sshPublicKey", "sshAllowedCidr"}),
        ("k8s", {"registry", "kubeContext"}),
        ("paas", set()),
        ("serverless", set()),
    ],
)
def test_the_stack_files_example_values_are_refused_before_a_deploy(
    stack: str, keys: set[str]
) -> None:
    """The sandboxes read these files as they are (load_stack passes); a real deploy may not."""
    config = load_stack(stack)
    assert set(example_values(config)) == keys
    if not keys:
        require_real_values(config)
        return
    with pytest.raises(ConfigError) as refused:
        require_real_values(config)
    for key in keys:
        assert f"shipways:{key}: still the stack file's example value" in str(refused.value)
        assert f"pulumi config set shipways:{key}" in str(refused.value)


@pytest.mark.parametrize(
    ("target", "values", "key"),
    [
        (TargetName.VPS, {"host": "198.51.100.10"}, "host"),
        (TargetName.VPS, {"host": "2001:db8::7"}, "host"),
        (TargetName.VPS, {"host": "vps.example.net"}, "host"),
        (
            TargetName.VPS,
            {"host": "203.0.113.250", "domain": "api.acme.io", "letsencryptEmail": "a@acme.io"},
            "host",
        ),
        (
            TargetName.VPS,
            {"host": "52.1.2.3", "domain": "api.example.com", "letsencryptEmail": "a@acme.io"},
            "domain",
        ),
        (
            TargetName.VPS,
            {"host": "52.1.2.3", "domain": "api.acme.io", "letsencryptEmail": "ops@example.com"},
            "letsencryptEmail",
        ),
        (TargetName.K8S, {"registry": "registry.test/app", "kubeContext": "prod"}, "registry"),
        (
            TargetName.K8S,
            {
                "registry": "ghcr.io/acme/app",
                "kubeContext": "prod",
                "ingressHost": "a.example",
                "ingressTlsSecret": "a-tls",
            },
            "ingressHost",
        ),
    ],
)
def test_documentation_addresses_and_reserved_names_are_examples(
    target: TargetName, values: dict[str, str], key: str
) -> None:
    assert list(example_values(validate(target, values))) == [key]


@pytest.mark.parametrize(
    ("target", "values"),
    [
        (TargetName.VPS, {"sshPublicKey": REAL_KEY, "sshAllowedCidr": "52.14.7.9/32"}),
        (TargetName.VPS, {"host": "10.0.0.5"}),
        (
            TargetName.VPS,
            {"host": "vps.acme.io", "domain": "api.acme.io", "letsencryptEmail": "o@acme.io"},
        ),
        (TargetName.K8S, {"registry": "ghcr.io/acme/shipways", "kubeContext": "prod-eks"}),
        (TargetName.K8S, {"clusterMode": "kind"}),
        (TargetName.PAAS, {"environment": "test"}),
    ],
)
def test_real_values_pass(target: TargetName, values: dict[str, str]) -> None:
    require_real_values(validate(target, values))


@pytest.mark.parametrize(
    ("environment", "setting", "protected"),
    [
        ("demo", None, False),
        ("dev", None, False),
        ("staging", None, True),
        ("prod", None, True),
        ("prod", False, False),
        ("demo", True, True),
    ],
)
def test_stateful_resources_are_protected_outside_throwaway_environments(
    environment: str, setting: bool | None, protected: bool
) -> None:
    values: dict[str, object] = {"environment": environment}
    if setting is not None:
        values["protectStateful"] = setting
    config = validate(TargetName.SERVERLESS, values)
    assert config.stateful_options() == {"protect": protected, "retain_on_delete": protected}
