"""How the Pulumi CLI starts this project's Python plugins: which directory, which interpreter.

Mocks never start a plugin, so nothing else here notices when `Pulumi.yaml` and the
virtualenv stop agreeing. The CLI starts a dynamic provider through its launcher
(`pulumi-resource-pulumi-python`) with the working directory set to the program's `main`
directory and the project's runtime options as `PULUMI_RUNTIME_<OPTION>` variables; the
launcher then picks `$PULUMI_RUNTIME_VIRTUALENV`, or `.venv` for `toolchain: uv`, relative to
that directory, and exits 1 when it holds no interpreter. A policy pack is started by
`pulumi-analyzer-policy-python` in the pack's directory, with its `virtualenv` option.
These functions apply the same rules, so a test can hold the layout to them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# What a plugin started by the CLI sees of the environment in these tests: a plain PATH and
# HOME, the operator's network settings, and nothing of the test process (no VIRTUAL_ENV,
# no PYTHONPATH, no activated venv).
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OPERATOR_PREFIXES = (
    "PIP_",
    "SSL_CERT_",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "DOCKER_HOST",
)


class LauncherError(RuntimeError):
    """The launcher would exit 1 here; the message is the one it prints."""


@dataclass(frozen=True)
class Runtime:
    """A project's (or policy pack's) `runtime:` section and where its program runs."""

    directory: Path  # the working directory the CLI gives the plugin
    options: dict[str, Any]

    @property
    def toolchain(self) -> str:
        return str(self.options.get("toolchain") or "pip")

    def variables(self) -> dict[str, str]:
        """The runtime options as the engine hands them to a provider plugin."""
        return {f"PULUMI_RUNTIME_{k.upper()}": str(v) for k, v in self.options.items() if v}


def _runtime_options(spec: dict[str, Any], path: Path) -> dict[str, Any]:
    runtime = spec.get("runtime")
    if isinstance(runtime, str):
        runtime = {"name": runtime}
    if not isinstance(runtime, dict):
        raise LauncherError(f"{path}: `runtime` is missing")
    if runtime.get("name") != "python":
        raise LauncherError(f"{path}: runtime {runtime.get('name')!r} is not python")
    return dict(runtime.get("options") or {})


def project_runtime(project_file: Path, text: str | None = None) -> Runtime:
    """`Pulumi.yaml` (or `text` as if it were that file): the program runs in its `main`
    directory, by default the file's own."""
    spec = yaml.safe_load(project_file.read_text() if text is None else text) or {}
    main = project_file.parent / str(spec.get("main") or ".")
    directory = main if main.is_dir() or not main.suffix else main.parent
    return Runtime(directory.resolve(), _runtime_options(spec, project_file))


def policy_runtime(pack_dir: Path) -> Runtime:
    """`PulumiPolicy.yaml`: the pack runs in its own directory."""
    path = pack_dir / "PulumiPolicy.yaml"
    spec = yaml.safe_load(path.read_text()) or {}
    return Runtime(pack_dir.resolve(), _runtime_options(spec, path))


def _interpreter(virtualenv: str, cwd: Path, option: str) -> Path:
    venv = Path(virtualenv.rstrip("/"))
    # Normalised, never resolved: a venv's python is a symlink, and only the path inside
    # the venv makes Python pick up the venv's packages.
    venv = Path(os.path.normpath(venv if venv.is_absolute() else cwd / venv))
    python = venv / "bin" / "python"
    if python.is_file():
        return python
    problem = "doesn't appear to be a virtual environment" if venv.is_dir() else "doesn't exist"
    raise LauncherError(
        f'The \'{option}\' option in Pulumi.yaml is set to "{venv}", but "{venv}" {problem}.'
    )


def provider_interpreter(runtime: Runtime, env: dict[str, str]) -> Path:
    """The interpreter `pulumi-resource-pulumi-python` runs `-m pulumi.dynamic` with."""
    virtualenv = env.get("PULUMI_RUNTIME_VIRTUALENV", "")
    if not virtualenv and env.get("PULUMI_RUNTIME_TOOLCHAIN") == "uv":
        virtualenv = ".venv"
    if not virtualenv:
        raise LauncherError(
            "no virtualenv and no uv toolchain: the launcher would run whatever `python3` is "
            "first on PATH; set `toolchain: uv` in Pulumi.yaml"
        )
    return _interpreter(virtualenv, runtime.directory, "virtualenv")


def policy_interpreter(runtime: Runtime) -> Path:
    """The interpreter `pulumi-analyzer-policy-python` runs `-m pulumi.policy` with."""
    virtualenv = str(runtime.options.get("virtualenv") or "")
    if not virtualenv:
        raise LauncherError(
            "PulumiPolicy.yaml sets no `virtualenv`: the launcher would run whatever `python3` "
            "is first on PATH, without the pack's dependencies"
        )
    return _interpreter(virtualenv, runtime.directory, "virtualenv")


def engine_env(runtime: Runtime, home: Path | None = None) -> dict[str, str]:
    """The environment a provider plugin gets from the CLI in these tests."""
    env = {"PATH": SYSTEM_PATH, "HOME": str(home or Path.home()), "LANG": "C.UTF-8"}
    env |= runtime.variables()
    # The operator's network and tool settings, which the CLI passes on from their shell.
    env |= {k: v for k, v in os.environ.items() if k.startswith(OPERATOR_PREFIXES)}
    return env


def plugin_env(interpreter: Path, env: dict[str, str]) -> dict[str, str]:
    """What the launcher adds before it starts Python: the venv's bin first on PATH."""
    return {**env, "PATH": f"{interpreter.parent}:{env['PATH']}"}
