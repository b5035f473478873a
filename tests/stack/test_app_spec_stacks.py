"""The stacks ship the app their `app` key names: the k8s image, container command and probes
and the Lambda handler follow that app's [tool.shipways] table; the PaaS bundle is that app's
(its own Procfile, the package of its entry point)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra.config import namespaced, read_stack_file
from infra.harness import OfflinePlan, plan_stack
from infra.paths import APP_DIR
from infra.targets.k8s import export
from infra.targets.paas import mocks as paas_mocks
from infra.targets.serverless.artifact import ZipTarget, write_zip
from infra.targets.serverless.component import PREBUILT_ZIP_ENV

pytestmark = pytest.mark.stack

# Another app: the sample app's files under another spec (a WSGI entry, its own release
# command and probe paths, no gunicorn config module, no /version).
SPEC = """
[tool.shipways]
interface = "wsgi"
entry = "shipways_app.wsgi:application"
lambda-handler = "shipways_app.wsgi_lambda.handler"
release = "python -m shipways_app upgrade-schema"
health-path = "/livez"
readiness-path = "/ready"
serves-version = false
"""
PROCFILE = (
    'web: gunicorn --worker-class gthread --bind "0.0.0.0:${PORT:?}" '
    "shipways_app.wsgi:application\nrelease: python -m shipways_app upgrade-schema\n"
)


@pytest.fixture(scope="module")
def other_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("other") / "app"
    leftovers = shutil.ignore_patterns("*.db", "build", "*.egg-info", "__pycache__")
    shutil.copytree(APP_DIR, root, ignore=leftovers)
    pyproject = (root / "pyproject.toml").read_text()
    table = pyproject.index("[tool.shipways]")
    (root / "pyproject.toml").write_text(pyproject[:table] + SPEC.lstrip())
    (root / "Procfile").write_text(PROCFILE)
    return root


def _plan(
    stack: str, app: Path, secrets: dict[str, str] | None = None, **overrides: Any
) -> OfflinePlan:
    values, _ = namespaced(read_stack_file(stack))
    values |= {"app": str(app), **overrides}
    return plan_stack(stack, overrides=values, secrets=secrets, use_stack_file=False)


def test_k8s_builds_the_apps_image_and_runs_its_commands_and_probes(other_app: Path) -> None:
    plan = _plan("k8s", other_app, replicas=1, hpaMaxReplicas=1)  # SQLite: one pod
    image = plan.one("docker:index/image:Image")
    assert image.inputs["build"]["context"] == str(other_app)
    assert image.inputs["build"]["dockerfile"] == str(other_app / "Dockerfile")
    objects = export.from_plan(plan.resources)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (web,) = deployment["spec"]["template"]["spec"]["containers"]
    assert web["command"] == [
        "/bin/sh",
        "-c",
        "python -m shipways_app upgrade-schema && exec gunicorn --worker-class gthread "
        "shipways_app.wsgi:application",
    ]
    assert web["startupProbe"]["httpGet"]["path"] == "/livez"
    assert web["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert web["readinessProbe"]["httpGet"]["path"] == "/ready"
    # With PostgreSQL the release command runs once, in the migration Job.
    database = {"databaseUrl": "postgresql://app:pw@db.example.internal:5432/app"}
    shared_plan = _plan("k8s", other_app, secrets=database, databaseCidr="10.20.0.0/24")
    shared = export.from_plan(shared_plan.resources)
    (job,) = [o for o in shared if o["kind"] == "Job"]
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["python", "-m", "shipways_app", "upgrade-schema"]


def _zip(directory: Path, handler: str | None) -> Path:
    wheel = directory / "shipways_app-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("shipways_app/wsgi_lambda.py", "def handler(event, context): ...\n")
        archive.writestr("shipways_app-1.0.0.dist-info/METADATA", "Name: shipways-app\n")
    target = ZipTarget.for_lambda("python3.12", "x86_64")
    return write_zip(
        [wheel], directory / f"{handler or 'default'}.zip", target, handler=handler
    ).path


def test_lambda_calls_the_apps_handler_and_refuses_a_zip_built_for_another(
    other_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {"runtime": "python3.12", "architecture": "x86_64"}
    monkeypatch.setenv(PREBUILT_ZIP_ENV, str(_zip(tmp_path, "shipways_app.wsgi_lambda.handler")))
    plan = _plan("serverless", other_app, **values)
    function = plan.one("aws:lambda/function:Function")
    assert function.inputs["handler"] == "shipways_app.wsgi_lambda.handler"
    monkeypatch.setenv(PREBUILT_ZIP_ENV, str(_zip(tmp_path, None)))  # the sample app's handler
    with pytest.raises(Exception, match=r"lambda-handler is .*; rebuild it for this app"):
        _plan("serverless", other_app, **values)


def test_paas_uploads_the_apps_bundle_with_its_procfile_and_package(other_app: Path) -> None:
    paas_mocks.STACK_LOOKUPS.clear()
    plan = _plan("paas", other_app, healthCheckPath="/ready")
    upload = plan.one("aws:s3/bucketObject:BucketObject")
    with zipfile.ZipFile(upload.inputs["source"].path) as bundle:
        assert bundle.read("Procfile").decode() == PROCFILE
        assert "shipways_app/main.py" in bundle.namelist()
