"""The app spec: read from the app's own pyproject, chosen by name or path, and every mistake
said in one line naming the key and the fix."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra import appspec
from infra.appspec import AppSpecError, load, resolve
from infra.cli import app as cli
from infra.config import ConfigError, TargetName, VpsConfig, read_stack, validate
from infra.paths import APP_DIR

pytestmark = pytest.mark.unit

FLASK_TABLE: dict[str, Any] = {
    "interface": "wsgi",
    "entry": "flask_app.wsgi:app",
    "lambda-handler": "flask_app.lambda_handler.handler",
    "release": "python -m flask_app migrate",
}


def _toml(value: Any) -> str:
    return json.dumps(value)  # strings, booleans: JSON spells them as TOML does


def make_app(root: Path, table: dict[str, Any] | None = None, package: str = "flask_app") -> Path:
    """An app directory: a pyproject with `table` as [tool.shipways], and its package."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ['[project]\nname = "some-app"\nversion = "1.0"\n']
    if table is not None:
        lines.append("[tool.shipways]")
        lines += [f"{key} = {_toml(value)}" for key, value in table.items()]
    (root / "pyproject.toml").write_text("\n".join(lines) + "\n")
    (root / package).mkdir(exist_ok=True)
    (root / package / "__init__.py").write_text("")
    return root


def test_the_sample_app_spec_is_what_every_target_ran_before() -> None:
    spec = appspec.default()
    assert spec.directory == APP_DIR.resolve() and spec.source_dir == APP_DIR.resolve()
    assert (spec.interface, spec.entry, spec.package) == (
        "asgi",
        "shipways_app.main:app",
        "shipways_app",
    )
    assert spec.lambda_handler == "shipways_app.lambda_handler.handler"
    assert spec.release_argv == ["python", "-m", "shipways_app", "migrate"]
    assert (spec.health_path, spec.readiness_path, spec.serves_version) == (
        "/healthz",
        "/readyz",
        True,
    )
    # The server command is the image's own CMD and the Procfile's `web:` line.
    cmd = next(
        line for line in (APP_DIR / "Dockerfile").read_text().splitlines() if line.startswith("CMD")
    )
    assert json.loads(cmd.removeprefix("CMD ")) == spec.serve_argv()
    web = (APP_DIR / "Procfile").read_text().splitlines()[0].removeprefix("web: ")
    assert [
        w for w in shlex.split(web) if not w.startswith("--bind") and "PORT" not in w
    ] == spec.serve_argv()
    assert spec.label() == "fastapi"


def test_a_good_spec_takes_the_defaults_it_leaves_out(tmp_path: Path) -> None:
    spec = load(make_app(tmp_path / "flask", FLASK_TABLE))
    assert spec.interface == "wsgi" and spec.package == "flask_app"
    assert (spec.health_path, spec.readiness_path, spec.serves_version) == (
        "/healthz",
        "/readyz",
        True,
    )
    # No gunicorn config module of its own: the worker class its interface needs.
    assert spec.serve_argv() == ["gunicorn", "--worker-class", "gthread", "flask_app.wsgi:app"]
    assert spec.label() == str((tmp_path / "flask").resolve())


def test_the_source_directory_is_where_the_package_is_found(tmp_path: Path) -> None:
    root = make_app(tmp_path / "app", {**FLASK_TABLE, "source": "src"}, package="elsewhere")
    make_app(root / "src")  # src/flask_app/
    assert load(root).source_dir == (root / "src").resolve()
    with pytest.raises(
        AppSpecError, match=r"entry: module 'flask_app' is not in .*; fix `entry` or `source`"
    ):
        load(make_app(tmp_path / "bad", {**FLASK_TABLE, "source": "lib"}))


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("interface", "rsgi", "interface: Input should be 'asgi' or 'wsgi' (got 'rsgi')"),
        ("entry", "flask_app.wsgi", "entry: 'flask_app.wsgi' is not module:attribute, e.g."),
        (
            "lambda-handler",
            "flask_app handler",
            "lambda-handler: 'flask_app handler' is not module.",
        ),
        ("release", "", "release: String should have at least 1 character"),
        (
            "release",
            "python -m 'flask_app",
            'release: "python -m \'flask_app" is not a command line',
        ),
        ("gunicorn-config", "conf.py:x", "gunicorn-config: 'conf.py:x' is not a module, e.g."),
        ("health-path", "healthz", "health-path: 'healthz' is not a URL path, e.g. /healthz"),
        ("readiness-path", "/ready now", "readiness-path: '/ready now' is not a URL path, e.g."),
        ("serves-version", "sometimes", "serves-version: Input should be a valid boolean"),
        (
            "entrypoint",
            "flask_app.wsgi:app",
            "entrypoint: unknown key; known keys are source, interface",
        ),
    ],
)
def test_each_bad_key_is_named_with_what_was_wrong(
    tmp_path: Path, key: str, value: str, said: str
) -> None:
    with pytest.raises(AppSpecError) as caught:
        load(make_app(tmp_path, {**FLASK_TABLE, key: value}))
    message = str(caught.value)
    assert f"[tool.shipways] {said}" in message and "\n" not in message
    assert message.startswith(str(tmp_path / "pyproject.toml"))


@pytest.mark.parametrize("key", ["interface", "entry", "lambda-handler", "release"])
def test_a_required_key_left_out_is_asked_for(tmp_path: Path, key: str) -> None:
    table = {k: v for k, v in FLASK_TABLE.items() if k != key}
    with pytest.raises(
        AppSpecError, match=rf"\[tool.shipways\] {key}: required; add it to the table"
    ):
        load(make_app(tmp_path, table))


def test_a_missing_table_file_or_broken_toml_is_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(AppSpecError, match=r"no \[tool.shipways\] table; add one naming at least"):
        load(make_app(tmp_path / "plain"))
    with pytest.raises(AppSpecError, match=r"no pyproject\.toml; an app directory needs one"):
        load(tmp_path)
    broken = make_app(tmp_path / "broken", FLASK_TABLE)
    (broken / "pyproject.toml").write_text("[tool.shipways\n")
    with pytest.raises(AppSpecError, match=r"is not valid TOML .*; fix the file"):
        load(broken)
    with pytest.raises(AppSpecError, match="directory: unknown key; use `source`"):
        load(make_app(tmp_path / "dir", {**FLASK_TABLE, "directory": "/etc"}))


def test_a_name_is_a_known_app_and_a_path_is_a_directory(tmp_path: Path) -> None:
    assert resolve("fastapi") == resolve(None) == appspec.default()
    with pytest.raises(
        AppSpecError, match=r"no app named 'flsk'; give one of fastapi, or the path"
    ):
        resolve("flsk")
    make_app(tmp_path / "flask", FLASK_TABLE)
    relative = resolve("./flask", base=tmp_path)
    assert relative == resolve(str(tmp_path / "flask")) and relative.entry == "flask_app.wsgi:app"
    assert resolve("flask/", base=tmp_path) == relative  # a slash makes it a path
    with pytest.raises(AppSpecError, match="is not a directory; give an app's directory"):
        resolve("./nowhere", base=tmp_path)


def test_the_stack_key_app_is_validated_and_survives_a_round_trip(tmp_path: Path) -> None:
    flask = make_app(tmp_path / "flask", FLASK_TABLE)
    config = validate(TargetName.PAAS, {"app": str(flask)})
    assert config.app.entry == "flask_app.wsgi:app"
    assert read_stack("k8s").config.app == appspec.default()  # unset: the sample app
    with pytest.raises(
        ConfigError, match="shipways:app: no app named 'django'; give one of fastapi"
    ):
        validate(TargetName.PAAS, {"app": "django"})
    kept = VpsConfig(host="192.0.2.1", app=str(flask))  # type: ignore[arg-type]
    assert VpsConfig.model_validate_json(kept.model_dump_json()).app == kept.app
    assert json.loads(VpsConfig(host="192.0.2.1").model_dump_json())["app"] == "fastapi"


def test_up_app_resolves_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.targets import Endpoint, Slice

    ups: list[Any] = []

    class Recording:
        name = TargetName.K8S

        def up(self, console: Any, *, stack: Any) -> Endpoint:
            ups.append(stack)
            return Endpoint(target=TargetName.K8S, url="http://127.0.0.1:1")

    monkeypatch.setattr(Slice, "sandbox", lambda self, instance=None: Recording())
    bad = CliRunner().invoke(cli, ["up", "k8s", "--app", "flsk"])
    assert bad.exit_code == 2 and not ups
    assert "error: --app: no app named 'flsk'" in bad.output and "Traceback" not in bad.output
    make_app(tmp_path / "flask", FLASK_TABLE)
    monkeypatch.chdir(tmp_path)
    good = CliRunner().invoke(cli, ["up", "k8s", "--app", "./flask"])
    assert good.exit_code == 0, good.output
    assert [s.config.app.entry for s in ups] == ["flask_app.wsgi:app"]
    assert ups[0].config.registry == read_stack("k8s").config.registry  # the rest: the stack's
