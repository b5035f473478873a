"""`shipways`: every command does one operational thing and says what it did.

Commands are thin: they parse options, call the library (`infra.*`), and print for a person
(rich) or, with `--json`, for a machine. What a target does lives in its slice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from infra import appspec, results
from infra.cli_errors import USAGE_MISTAKE, BadOption, CommandError, answered
from infra.cli_options import REQUESTS_HELP, USAGE_HELP, verify_options
from infra.config import ConfigError, NoStackFile, TargetName, read_stack
from infra.sandbox.errors import SandboxError
from infra.targets import Endpoint, NotSupported, Sandbox, slice_of, slices

if TYPE_CHECKING:
    from infra.demo import MainJob
    from infra.measure_pass import Baselines
    from infra.verify import VerifyReport

app = typer.Typer(
    help="One Python web app shipped four ways: deploy locally, verify, plan and compare.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
TARGET_NAMES = ", ".join(TargetName)
# Read as text and parsed by `_target`, so a misspelt target is answered like any mistake.
TargetArg = Annotated[str, typer.Argument(metavar="TARGET", help=f"One of {TARGET_NAMES}.")]
OnlyOpt = Annotated[
    list[str] | None, typer.Option("--only", metavar="TARGET", help="Limit to these targets.")
]
OPERATION_FAILURES = (NotSupported, ConfigError, SandboxError)


def _target(value: str, what: str = "TARGET") -> TargetName:
    """`value` as a target name, or the usage mistake naming the known ones."""
    try:
        return TargetName(value)
    except ValueError:
        raise BadOption(what, f"unknown target {value!r}; give one of {TARGET_NAMES}") from None


def _targets(values: list[str] | None) -> list[TargetName]:
    return [_target(v, "--only") for v in values or ()]


@contextmanager
def _operation_errors(as_json: bool = False) -> Iterator[None]:
    """What a sandbox operation can say no with becomes one clear line and exit 1."""
    with answered(as_json=as_json, failures=OPERATION_FAILURES):
        yield


AppOpt = Annotated[
    str | None,
    typer.Option(
        "--app",
        metavar="NAME|PATH",
        help="The app: a known app's name (default: the stack's `app`, else fastapi, the sample "
        "app) or the directory of one whose pyproject.toml has a [tool.shipways] table.",
    ),
]


def _app_spec(choice: str) -> appspec.AppSpec:
    """The app `--app` names (a path relative to here), or the usage mistake saying why not."""
    try:
        return appspec.resolve(choice, base=Path.cwd())
    except appspec.AppSpecError as exc:
        raise BadOption("--app", str(exc)) from None


def _emit(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


WriteTokenOpt = Annotated[
    str | None,
    typer.Option(
        "--write-token",
        metavar="TOKEN",
        help="The write token (default for serve: a new one, printed; for verify: the "
        "target's own, see `shipways token`).",
    ),
]


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8000,
    database: Annotated[
        Path | None, typer.Option(help="SQLite file (default: .shipways/serve.db).")
    ] = None,
    write_token: WriteTokenOpt = None,
    app_choice: AppOpt = None,
) -> None:
    """Run the sample app (or --app) on 127.0.0.1 with uvicorn (SQLite, migrated and seeded);
    prints the token writes need."""
    from shipways_app.auth import MIN_TOKEN_LENGTH

    from infra import local_app

    with answered():
        if not 1 <= port <= 65535:
            raise BadOption("--port", f"{port} is no TCP port; give 1 to 65535, e.g. 8000")
        if database is not None and not database.parent.is_dir():
            raise BadOption(
                "--database", f"directory {database.parent} does not exist; create it first"
            )
        if write_token is not None and len(write_token.strip()) < MIN_TOKEN_LENGTH:
            raise BadOption(
                "--write-token",
                f"too short; give at least {MIN_TOKEN_LENGTH} characters, or leave it out "
                "to get a new one",
            )
        spec = _app_spec(app_choice or appspec.DEFAULT_APP)
    local_app.serve(
        port=port, database=database, write_token=write_token, console=console, app=spec
    )


@app.command()
def token(target: TargetArg) -> None:
    """Print the write token of TARGET's local deployment (alone on the last line)."""
    with _operation_errors():
        name = _target(target)
        box = slice_of(name).sandbox()
        _serving_endpoint(box)
        value = box.token()
        if value is None:
            raise NotSupported(
                f"{name.value} has no write token yet; redeploy it with `shipways up {name.value}`"
            )
    console.print(f"{name.value}: writes need `Authorization: Bearer <token>`:")
    out.print(value, markup=False, highlight=False, soft_wrap=True)


@app.command()
def engine(
    images: Annotated[bool, typer.Option(help="Also build the local base images.")] = False,
) -> None:
    """Make sure a Docker engine answers (on Debian as root: install and start it)."""
    from infra.sandbox.engine import ensure_engine
    from infra.sandbox.images import ensure_base_image, ensure_systemd_image

    with answered(failures=(SandboxError,)):
        client = ensure_engine(progress=console.print)
        version = client.version().get("Version", "?")
        console.print(f"Docker engine {version} is answering")
        if images:
            console.print(f"base image: {ensure_base_image(client, progress=console.print)}")
            console.print(f"systemd image: {ensure_systemd_image(client, progress=console.print)}")


@app.command()
def verify(
    target: Annotated[
        str | None, typer.Argument(metavar="[TARGET]", help="A running local target to verify.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Verify any base URL instead.")] = None,
    instances: Annotated[
        str | None,
        typer.Option(
            metavar="N", help="With --url: how many instances serve it (default 1; a target knows)."
        ),
    ] = None,
    profile: Annotated[
        str,
        typer.Option(
            help="With --url: `full` (the sample app's contract) or `health` (only /healthz "
            "and /readyz, for any app)."
        ),
    ] = "full",
    write_token: WriteTokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the HTTP contract (and, for a target, its testinfra checks); non-zero on failure."""
    from infra.verify import render, run_checks

    with _operation_errors(as_json):
        if (target is None) == (url is None):
            raise CommandError("give a TARGET or --url URL (one of them)", USAGE_MISTAKE)
        if url is not None and not url.startswith(("http://", "https://")):
            raise BadOption("--url", f"{url!r} is no base URL; give e.g. http://127.0.0.1:8000")
        checked = verify_options(target, profile, instances)
        if target is not None:
            box = slice_of(_target(target)).sandbox()
            endpoint = _serving_endpoint(box)
    if target is not None:
        reports = _verify_target(box, endpoint, write_token)
    else:
        assert url is not None
        reports = [
            run_checks(
                url,
                profile=checked.profile,
                instances=checked.instances,
                write_token=write_token,
            )
        ]
    if as_json:
        _emit([json.loads(r.to_json()) for r in reports])
    else:
        for report in reports:
            render(report, out)
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


def _serving_endpoint(box: Sandbox) -> Endpoint:
    """Where `box` serves now, or NotSupported saying how to start it."""
    endpoint = box.endpoint()
    if endpoint is None:
        name = box.name.value
        raise NotSupported(f"{name} is not running; start it with `shipways up {name}`")
    return endpoint


def _verify_target(
    box: Sandbox, endpoint: Endpoint, write_token: str | None = None
) -> list[VerifyReport]:
    """The contract plus the target's own checks on its main URL, the contract on the others;
    the writes with `write_token`, else the deployment's own token. The main URL is the front
    door: the instances the target runs behind it are spread over."""
    from infra.verify import run_checks

    checks = box.checks(endpoint)
    target = box.name.value
    token = write_token or box.token()
    main = run_checks(
        endpoint.url,
        expect_target=target,
        instances=checks.instances,
        extra_modules=checks.modules,
        extra_args=checks.pytest_args,
        env=checks.env,
        write_token=token,
    )
    others = [
        run_checks(u, expect_target=target, env=checks.env, write_token=token) for u in checks.urls
    ]
    return [main, *others]


@app.command()
def up(
    target: TargetArg,
    stack: Annotated[
        str | None, typer.Option(help="Stack file to read settings from (default: TARGET).")
    ] = None,
    app_choice: AppOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deploy the sample app (or --app) to a local stand-in for TARGET (creating it if
    missing)."""
    with _operation_errors(as_json):
        name = _target(target)
        endpoint, _ = _up(slice_of(name).sandbox(), stack or name.value, app_choice)
    if as_json:
        _emit(endpoint.as_json())
    else:
        out.print(f"[green]{name.value}[/] serving at [bold]{endpoint.url}[/]")


def _up(box: Sandbox, stack_name: str, app_choice: str | None = None) -> tuple[Endpoint, float]:
    """Bring `box` up with the stack file `stack_name`, read and validated here once (its app
    replaced by `app_choice`, a path being relative to here); the endpoint and how long it
    took (recorded for `compare`)."""
    try:
        stack = read_stack(stack_name)
    except NoStackFile as exc:
        raise BadOption("--stack", str(exc)) from None
    if app_choice is not None:
        stack = stack.with_app(_app_spec(app_choice))
    started = time.perf_counter()
    endpoint = box.up(console, stack=stack)
    seconds = time.perf_counter() - started
    results.record(box.name.value, "up_seconds", seconds, "s", "shipways up")
    return endpoint, seconds


@app.command()
def down(target: TargetArg) -> None:
    """Remove TARGET's local stand-in and everything it created."""
    with _operation_errors():
        removed = slice_of(_target(target)).sandbox().down(console)
    out.print(f"{target}: {'removed' if removed else 'nothing to remove'}")


@app.command()
def status(target: TargetArg, as_json: JsonOpt = False) -> None:
    """Show TARGET's current release, releases kept and service state."""
    with _operation_errors(as_json):
        state = slice_of(_target(target)).sandbox().status(console)
    if as_json:
        _emit(state)
        return
    table = Table(title=f"{target} status", show_header=False)
    for key, value in state.items():
        table.add_row(key, value if isinstance(value, str) else json.dumps(value))
    out.print(table)


@app.command()
def logs(
    target: TargetArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many recent lines.")] = 50,
) -> None:
    """Print the app's logs on TARGET."""
    with _operation_errors():
        if lines < 1:
            raise BadOption("--lines", f"{lines} lines; give 1 or more, e.g. 50")
        slice_of(_target(target)).sandbox().logs(console, follow=follow, lines=lines)


@app.command()
def rollback(
    target: TargetArg,
    release: Annotated[str | None, typer.Argument(help="Release id (default: previous).")] = None,
) -> None:
    """Switch TARGET back to an earlier release."""
    with _operation_errors():
        now = slice_of(_target(target)).sandbox().rollback(console, release=release)
    out.print(f"{target}: now serving release {now}")


UsageOpt = Annotated[str, typer.Option("--usage", help=USAGE_HELP)]
RequestsOpt = Annotated[  # read by infra.cli_options, so a mistake is answered like any other
    str | None, typer.Option("--requests-per-month", metavar="INTEGER", help=REQUESTS_HELP)
]


@app.command()
def plan(
    stack: Annotated[
        str, typer.Argument(help=f"Stack name: one of {TARGET_NAMES}, optionally with -suffix.")
    ],
    as_json: JsonOpt = False,
    usage: UsageOpt = "default",
    requests_per_month: RequestsOpt = None,
    manifests: Annotated[
        Path | None,
        typer.Option(help="k8s: also write the declared Kubernetes objects as YAML to DIR."),
    ] = None,
) -> None:
    """Show what `pulumi up --stack STACK` would create, computed offline (no cloud, no CLI),
    and what it would cost a month under a usage profile."""
    from infra.cli_options import usage_profile
    from infra.cost import CostInputError, estimate_plan, stale_prices_used
    from infra.harness import plan_stack
    from infra.report.plan_tree import plan_tree, render_estimate

    with answered(as_json=as_json, failures=(ConfigError, CostInputError)):
        profile = usage_profile(usage, requests_per_month)
        try:
            result = plan_stack(stack)
        except NoStackFile as exc:
            _target(stack.split("-")[0], "STACK")  # a misspelt target, said as `up` says it
            raise BadOption("STACK", str(exc)) from None
        cost = estimate_plan(result, profile)
        if manifests is not None:
            _write_manifests(result, manifests)
    if as_json:
        _emit(
            {
                "stack": stack,
                "target": result.target.value,
                "resources": [
                    {"type": r.type, "name": r.name, "inputs": r.inputs} for r in result.resources
                ],
                "exports": result.exports,
                "estimate": cost.to_json(),
                "price_warnings": stale_prices_used(cost),
                "warnings": result.warnings,
            }
        )
        return
    out.print(plan_tree(result, cost))
    render_estimate(cost, out)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    for warning in cost.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    for warning in stale_prices_used(cost):
        console.print(f"[yellow]warning:[/] price {warning}")


def _write_manifests(result: Any, directory: Path) -> None:
    if result.target is not TargetName.K8S:
        raise BadOption("--manifests", "only the k8s stack declares Kubernetes objects")
    from infra.targets.k8s.export import ManifestError, from_plan, write

    try:
        written = write(from_plan(result.resources), directory)
    except ManifestError as exc:
        raise CommandError(str(exc)) from None
    console.print(f"wrote {len(written)} Kubernetes manifests to {directory} (schema-checked)")


@app.command()
def compare(
    requests_per_month: RequestsOpt = None, usage: UsageOpt = "default", as_json: JsonOpt = False
) -> None:
    """The four targets side by side: cost (fixed + per request), break-evens over 0-100M
    requests/month, measured operations figures, recipe facts and which to choose."""
    from infra.cli_options import usage_profile
    from infra.cost import CostInputError
    from infra.report.build import comparison_now
    from infra.report.measurements import MeasurementsError
    from infra.report.table import render_comparison

    with answered(as_json=as_json, failures=(CostInputError, MeasurementsError)):
        comparison = comparison_now(usage_profile(usage, requests_per_month))
    if as_json:
        _emit(comparison.model_dump(mode="json"))
    else:
        render_comparison(comparison, out)


@app.command()
def report(
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    requests_per_month: RequestsOpt = None,
    usage: UsageOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Write the comparison as one self-contained HTML page (charts inline, no network)."""
    from infra.cli_options import output_file, usage_profile
    from infra.cost import CostInputError
    from infra.report.build import comparison_now
    from infra.report.html import render_html
    from infra.report.measurements import MeasurementsError

    with answered(as_json=as_json, failures=(CostInputError, MeasurementsError)):
        path = output_file(output)
        comparison = comparison_now(usage_profile(usage, requests_per_month))
        try:
            path.write_text(render_html(comparison), encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
    measured, size = comparison.measurements, path.stat().st_size
    if as_json:
        source = measured.model_dump(mode="json")
        _emit({"output": str(path), "bytes": size, "measurements": source})
        return
    out.print(f"wrote {path} ({size // 1024} KiB)")
    if measured.is_snapshot:
        console.print(f"measured figures: {measured.label()}", soft_wrap=True)


@app.command()
def docs(
    check: Annotated[
        bool, typer.Option("--check", help="Only report stale figures; exit 1 if any.")
    ] = False,
    snapshot: Annotated[
        bool,
        typer.Option("--snapshot", help="First copy the latest local results into the docs."),
    ] = False,
) -> None:
    """Regenerate the figures in docs/*.md from the price data and the measured results."""
    from infra.report.docs import DocsError, refresh

    with answered(failures=(DocsError,)):
        changed = refresh(check=check, snapshot_results=snapshot)
        for path in changed:
            out.print(f"{'out of date' if check else 'updated'}: {path}")
        if check and changed:
            raise CommandError("docs figures are out of date: run `uv run shipways docs`")
    if not changed:
        out.print("docs figures are up to date")


@app.command()
def proof(
    only: OnlyOpt = None,
    max_examples: Annotated[
        int, typer.Option(min=1, max=500, help="Fuzz examples per operation and data mode.")
    ] = 25,
    faults: Annotated[bool, typer.Option(help="Inject the VPS faults.")] = True,
    down: Annotated[bool, typer.Option(help="Remove the proof instances afterwards.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fuzz every local target from the API schema, check each stack against the policy pack
    and bad config, scan every artifact, audit dependencies, put the VPS through faults."""
    from infra.proof.runner import render, run

    with answered(as_json=as_json):
        targets = _targets(only)
    result = run(console, only=targets, max_examples=max_examples, with_faults=faults, down=down)
    if as_json:
        _emit(result.to_json())
    else:
        render(result, out)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def demo(
    only: OnlyOpt = None,
    as_json: JsonOpt = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="Skip the measurement pass (deploy and verify only).")
    ] = False,
    budget: Annotated[
        float, typer.Option(help="Seconds the measurement pass may take per target.")
    ] = 20.0,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every build and check line.")
    ] = False,
) -> None:
    """The main job: deploy the sample app to every local target, verify and measure each,
    compare them."""
    from infra import demo as main_job
    from infra.measure_pass import Baselines
    from infra.paths import state_dir

    with answered(as_json=as_json):
        targets = _targets(only)
        if not 1 <= budget <= 600:
            raise BadOption("--budget", f"{budget:g} seconds; give 1 to 600, e.g. 20")
    boxes = [s.sandbox() for s in slices() if not targets or s.name in targets]
    shown = main_job.screen(stderr=as_json)
    log_file = main_job.log_path(state_dir("logs"))
    started = time.perf_counter()
    with main_job.detail_log(log_file, verbose=verbose) as log:
        baselines = None if quick else Baselines()
        job = _main_job(shown, log, baselines, budget=budget, verbose=verbose)
        _run_baseline(job, baselines)
        for box in boxes:
            job.run_target(box)
    failed = [o for o in job.outcomes if not o.ok]
    if failed and not verbose:
        shown.print(f"[bold]last lines of {log_file}:[/]")
        for line in main_job.tail(log_file):
            shown.print(f"  {line}", markup=False, highlight=False)
    if as_json:
        _emit([o.as_json() for o in job.outcomes])
    else:
        _print_compact_comparison(shown)
    total = time.perf_counter() - started
    shown.print(f"done in {total:.0f}s; every build and check line is in", highlight=False)
    shown.print(str(log_file), highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def _main_job(
    where: Console, log: Console, baselines: Baselines | None, *, budget: float, verbose: bool
) -> MainJob:
    """The main job wired to the real verify and measurement pass (none without `baselines`:
    --quick); raw output to `log`."""
    from infra.config import LoadedStack
    from infra.demo import MainJob
    from infra.measure_pass import Pass
    from infra.sandbox.narrate import Narrator
    from infra.verify import render

    def verify(box: Sandbox, endpoint: Endpoint) -> list[VerifyReport]:
        reports = _verify_target(box, endpoint)
        for report in reports:
            render(report, where if verbose else log)
        return reports

    def measure(
        box: Sandbox, stack: LoadedStack, endpoint: Endpoint, narrator: Narrator
    ) -> list[str]:
        assert baselines is not None
        return Pass(box, stack, narrator, log, baselines, budget).run(endpoint)

    return MainJob(where, log, read_stack, verify, None if baselines is None else measure)


def _run_baseline(job: MainJob, baselines: Baselines | None) -> None:
    """uvicorn direct: the contract on the bare app, and the load baseline for every ratio."""
    from infra import local_app
    from infra.demo import Outcome
    from infra.sandbox import tokens
    from infra.sandbox.narrate import Narrator
    from infra.verify import render, run_checks

    narrator = Narrator(job.out, "local")
    started = time.perf_counter()
    with narrator.step("verify", "the HTTP contract on uvicorn alone") as step:
        token = tokens.generate()
        with local_app.running(write_token=token) as url:
            report = run_checks(url, expect_target="local", write_token=token)
        render(report, job.log)
        failed = f", {report.failed} FAILED" if report.failed else ""
        step.result(f"{report.passed} passed{failed}")
    if baselines is not None:
        with narrator.step("load", "the load baseline: uvicorn alone, one worker") as step:
            hello = baselines.of(1)["/hello"]
            step.result(f"/hello {hello.rps:,.0f} req/s, p99 {hello.p99_ms:.1f} ms; {hello.path}")
    outcome = Outcome(
        target="local",
        url=f"{url} (stopped)",
        ok=report.ok,
        checks_passed=report.passed,
        checks_failed=report.failed,
        seconds=time.perf_counter() - started,
        proves="the app and the contract agree, with no platform in between",
    )
    job.out.print(outcome.line(), highlight=False)
    job.outcomes.append(outcome)


def _print_compact_comparison(where: Console) -> None:
    """End of the main job: what it measured, one screen, 100 columns."""
    from infra.report.build import comparison_now
    from infra.report.compact import render_compact

    render_compact(comparison_now(), where)
