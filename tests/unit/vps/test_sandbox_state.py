"""The local VPS's own state: its key pair, how it is reached, the config it runs."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from infra.config import VpsConfig, load_stack, narrow
from infra.targets import NotSupported
from infra.targets.vps.sandbox import Access, VpsSandbox

pytestmark = pytest.mark.unit


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> VpsSandbox:
    monkeypatch.setenv("SHIPWAYS_HOME", str(tmp_path))
    return VpsSandbox("shipways-unit-vps")


def test_key_pair_is_private_and_loads(box: VpsSandbox) -> None:
    box._ensure_key()
    key = box.state / "id_ed25519"
    assert key.stat().st_mode & 0o777 == 0o600
    private = paramiko.Ed25519Key.from_private_key_file(str(key))
    public = (box.state / "id_ed25519.pub").read_text().split()
    assert public[:2] == [private.get_name(), private.get_base64()]
    before = key.read_bytes()
    box._ensure_key()  # kept, never regenerated: the server trusts this key
    assert key.read_bytes() == before


def test_ssh_command_pins_the_host_key(tmp_path: Path) -> None:
    command = Access(tmp_path, 2222, 8080, 8443).ssh_command("deploy")
    assert command == (
        f"ssh -i {tmp_path / 'id_ed25519'} -p 2222 -o IdentitiesOnly=yes "
        f"-o UserKnownHostsFile={tmp_path / 'known_hosts'} -o StrictHostKeyChecking=yes "
        "deploy@127.0.0.1"
    )


def test_no_state_means_not_running(box: VpsSandbox) -> None:
    assert box.access() is None and box.endpoint() is None


def test_settings_use_the_sandbox_key_and_loopback_names(box: VpsSandbox) -> None:
    box._ensure_key()
    settings = box.settings(narrow(load_stack("vps"), VpsConfig))
    assert settings.deploy_public_keys == ((box.state / "id_ed25519.pub").read_text().strip(),)
    assert settings.tls_names == ("localhost", "127.0.0.1")


def test_later_commands_use_the_config_up_kept(box: VpsSandbox) -> None:
    with pytest.raises(NotSupported, match="never brought up"):
        box.settings()  # nothing kept: no stack file is read behind the user's back
    kept = narrow(load_stack("vps"), VpsConfig).model_copy(update={"app_name": "kept-app"})
    (box.state / "config.json").write_text(kept.model_dump_json())
    assert box.settings().app_name == "kept-app"
