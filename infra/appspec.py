"""The app spec: what every target needs to know about the app it ships, read from the app.

An app describes itself once, in a `[tool.shipways]` table of its own `pyproject.toml`, so
the targets, stacks and sandboxes ask the spec instead of assuming the sample app:

    [tool.shipways]
    source = "."                                    # holds the package, relative to this file
    interface = "asgi"                              # or "wsgi"
    entry = "shipways_app.main:app"                 # module:attribute the server imports
    lambda-handler = "shipways_app.lambda_handler.handler"  # the Lambda adapter's handler
    release = "python -m shipways_app migrate"      # runs once before a release takes traffic
    gunicorn-config = "shipways_app.gunicorn_conf"  # optional: gunicorn's python: config module
    health-path = "/healthz"                        # liveness: the process answers
    readiness-path = "/readyz"                      # readiness: it can serve (database reached)
    serves-version = true                           # GET /version names the running release

An app is chosen by NAME (one this project ships, see `KNOWN_APPS`) or by PATH (a directory
whose pyproject.toml has the table); `resolve` is the one place that turns either into an
`AppSpec`, and a bad spec is one `AppSpecError` line naming the key and the fix.
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from infra.paths import APP_DIR, ROOT

TABLE = "tool.shipways"
DEFAULT_APP = "fastapi"
# The apps this project ships, by the name `--app NAME` and the stack key `app` take.
KNOWN_APPS: dict[str, Path] = {DEFAULT_APP: APP_DIR}

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
Dotted = Annotated[str, Field(pattern=f"^{_DOTTED}$")]
EntryPoint = Annotated[str, Field(pattern=f"^{_DOTTED}:[A-Za-z_][A-Za-z0-9_]*$")]
UrlPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9/_.-]*$")]
# What a key of the wrong shape should look like instead.
SHAPES = {
    "entry": "module:attribute, e.g. mypackage.main:app",
    "lambda-handler": "module.function, e.g. mypackage.lambda_handler.handler",
    "gunicorn-config": "a module, e.g. mypackage.gunicorn_conf",
    "health-path": "a URL path, e.g. /healthz",
    "readiness-path": "a URL path, e.g. /readyz",
}
# What each interface asks of gunicorn when the app brings no config module of its own.
GUNICORN_WORKERS = {"asgi": "uvicorn_worker.UvicornWorker", "wsgi": "gthread"}


class AppSpecError(ValueError):
    """An app cannot be used as given; the message names the key or path and the fix."""


class AppSpec(BaseModel):
    """One app's spec (the `[tool.shipways]` table), with the directory it was read from."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    directory: Path = Field(exclude=True)  # where the pyproject.toml (and Procfile...) live
    source: str = "."
    interface: Literal["asgi", "wsgi"]
    entry: EntryPoint
    lambda_handler: Dotted = Field(alias="lambda-handler")
    release: str = Field(min_length=1)
    gunicorn_config: Dotted | None = Field(default=None, alias="gunicorn-config")
    health_path: UrlPath = Field(default="/healthz", alias="health-path")
    readiness_path: UrlPath = Field(default="/readyz", alias="readiness-path")
    serves_version: bool = Field(default=True, alias="serves-version")

    @field_validator("release")
    @classmethod
    def _check_release(cls, value: str) -> str:
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a command line ({exc})") from None
        if not words:
            raise ValueError("empty; give the command, e.g. python -m mypackage migrate")
        return value

    @property
    def package(self) -> str:
        """The top-level package the entry point lives in: what the artifacts carry."""
        return self.entry.split(".")[0].split(":")[0]

    @property
    def source_dir(self) -> Path:
        """The directory the package is imported from."""
        return (self.directory / self.source).resolve()

    @property
    def release_argv(self) -> list[str]:
        return shlex.split(self.release)

    def serve_argv(self) -> list[str]:
        """gunicorn serving the entry point: with the app's config module, else the worker
        class its interface needs."""
        if self.gunicorn_config is not None:
            return ["gunicorn", "--config", f"python:{self.gunicorn_config}", self.entry]
        return ["gunicorn", "--worker-class", GUNICORN_WORKERS[self.interface], self.entry]

    def label(self) -> str:
        """How messages name this app: its known name, else its directory."""
        name = next((n for n, d in KNOWN_APPS.items() if d.resolve() == self.directory), None)
        return name or str(self.directory)


def _explain(exc: ValidationError, pyproject: Path) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(table)"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = ", ".join(
                f.alias or n for n, f in AppSpec.model_fields.items() if n != "directory"
            )
            message = f"unknown key; known keys are {known}"
        elif err["type"] == "missing":
            message = "required; add it to the table"
        elif err["type"] == "string_pattern_mismatch" and key in SHAPES:
            message = f"{err.get('input')!r} is not {SHAPES[key]}"
        elif err["type"] != "value_error":
            message = f"{message} (got {err.get('input')!r})"
        problems.append(f"[{TABLE}] {key}: {message}")
    return f"{pyproject}: " + "; ".join(problems)


def load(directory: Path) -> AppSpec:
    """The spec in `directory/pyproject.toml`, checked (its package must be there too)."""
    pyproject = directory / "pyproject.toml"
    if not pyproject.is_file():
        raise AppSpecError(
            f"{directory}: no pyproject.toml; an app directory needs one with a [{TABLE}] table"
        )
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AppSpecError(f"{pyproject} is not valid TOML ({exc}); fix the file") from None
    table = document.get("tool", {}).get("shipways")
    if not isinstance(table, dict):
        raise AppSpecError(
            f"{pyproject}: no [{TABLE}] table; add one naming at least interface, entry, "
            "lambda-handler and release"
        )
    if "directory" in table:
        raise AppSpecError(f"{pyproject}: [{TABLE}] directory: unknown key; use `source`")
    try:
        spec = AppSpec.model_validate({**table, "directory": directory.resolve()})
    except ValidationError as exc:
        raise AppSpecError(_explain(exc, pyproject)) from None
    package = spec.source_dir / spec.package
    if not (package.is_dir() or package.with_suffix(".py").is_file()):
        raise AppSpecError(
            f"{pyproject}: [{TABLE}] entry: module {spec.package!r} is not in {spec.source_dir}; "
            "fix `entry` or `source`"
        )
    return spec


def resolve(choice: str | None, base: Path = ROOT) -> AppSpec:
    """The app `choice` names: None (the default app), a NAME of `KNOWN_APPS`, or a PATH
    (absolute, or relative to `base`) of a directory whose pyproject.toml has the spec."""
    choice = DEFAULT_APP if choice is None else choice.strip()
    if choice in KNOWN_APPS:
        return load(KNOWN_APPS[choice])
    if "/" not in choice and not choice.startswith("."):
        raise AppSpecError(
            f"no app named {choice!r}; give one of {', '.join(KNOWN_APPS)}, "
            "or the path of a directory with a pyproject.toml (e.g. ./myapp)"
        )
    directory = (base / choice).expanduser()
    if not directory.is_dir():
        raise AppSpecError(f"{directory} is not a directory; give an app's directory")
    return load(directory)


def default() -> AppSpec:
    """The sample FastAPI app every target ships unless told otherwise."""
    return resolve(None)
