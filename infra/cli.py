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

from infra import results
from infra.cli_errors import BadOption, CommandError, answered
from infra.cli_options import REQUESTS_HELP, USAGE_HELP
from infra.config import ConfigError, TargetName, read_stack
from infra.sandbox.errors import SandboxError
from infra.targets import Endpoint, NotSupported, Sandbox, slice_of, slices

if TYPE_CHECKING:
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
TargetArg = Annotated[TargetName, typer.Argument(help=f"One of {TARGET_NAMES}.")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _operation_errors() -> Iterator[None]:
    """What a sandbox operation can say no with becomes one clear line and exit 1."""
    try:
        yield
    except (NotSupported, ConfigError, SandboxError) as exc:
        raise _fail(str(exc)) from None


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
) -> None:
    """Run the sample app on 127.0.0.1 with uvicorn (SQLite, migrated and seeded); prints the
    token writes need."""
    from shipways_app.auth import MIN_TOKEN_LENGTH

    from infra import local_app

    if write_token is not None and len(write_token.strip()) < MIN_TOKEN_LENGTH:
        raise _fail(f"--write-token must be at least {MIN_TOKEN_LENGTH} characters", 2)
    local_app.serve(port=port, database=database, write_token=write_token, console=console)


@app.command()
def token(target: TargetArg) -> None:
    """Print the write token of TARGET's local deployment (alone on the last line)."""
    box = slice_of(target).sandbox()
    with _operation_errors():
        _serving_endpoint(box)
        value = box.token()
        if value is None:
            raise NotSupported(
                f"{target.value} has no write token yet; redeploy it with `shipways up "
                f"{target.value}`"
            )
    console.print(f"{target.value}: writes need `Authorization: Bearer <token>`:")
    out.print(value, markup=False, highlight=False, soft_wrap=True)


@app.command()
def engine(
    images: Annotated[bool, typer.Option(help="Also build the local base images.")] = False,
) -> None:
    """Make sure a Docker engine answers (on Debian as root: install and start it)."""
    from infra.sandbox.engine import ensure_engine
    from infra.sandbox.images import ensure_base_image, ensure_systemd_image

    try:
        client = ensure_engine(progress=console.print)
        version = client.version().get("Version", "?")
        console.print(f"Docker engine {version} is answering")
        if images:
            console.print(f"base image: {ensure_base_image(client, progress=console.print)}")
            console.print(f"systemd image: {ensure_systemd_image(client, progress=console.print)}")
    except SandboxError as exc:
        raise _fail(str(exc)) from None


@app.command()
def verify(
    target: Annotated[
        TargetName | None, typer.Argument(help="A running local target to verify.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Verify any base URL instead.")] = None,
    write_token: WriteTokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the HTTP contract (and, for a target, its testinfra checks); non-zero on failure."""
    from infra.verify import render, run_checks

    if (target is None) == (url is None):
        raise _fail("give a TARGET or --url URL (one of them)", 2)
    if target is not None:
        box = slice_of(target).sandbox()
        with _operation_errors():
            endpoint = _serving_endpoint(box)
        reports = _verify_target(box, endpoint, write_token)
    else:
        assert url is not None
        reports = [run_checks(url, write_token=write_token)]
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
    the writes with `write_token`, else the deployment's own token."""
    from infra.verify import run_checks

    checks = box.checks(endpoint)
    target = box.name.value
    token = write_token or box.token()
    main = run_checks(
        endpoint.url,
        expect_target=target,
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
    as_json: JsonOpt = False,
) -> None:
    """Deploy the sample app to a local stand-in for TARGET (creating it if missing)."""
    endpoint, _ = _up(slice_of(target).sandbox(), stack or target.value)
    if as_json:
        _emit(endpoint.as_json())
    else:
        out.print(f"[green]{target.value}[/] serving at [bold]{endpoint.url}[/]")


def _up(box: Sandbox, stack_name: str) -> tuple[Endpoint, float]:
    """Bring `box` up with the stack file `stack_name`, read and validated here once; the
    endpoint and how long it took (recorded for `compare`)."""
    with _operation_errors():
        stack = read_stack(stack_name)
        started = time.perf_counter()
        endpoint = box.up(console, stack=stack)
    seconds = time.perf_counter() - started
    results.record(box.name.value, "up_seconds", seconds, "s", "shipways up")
    return endpoint, seconds


@app.command()
def down(target: TargetArg) -> None:
    """Remove TARGET's local stand-in and everything it created."""
    with _operation_errors():
        removed = slice_of(target).sandbox().down(console)
    out.print(f"{target.value}: {'removed' if removed else 'nothing to remove'}")


@app.command()
def status(target: TargetArg, as_json: JsonOpt = False) -> None:
    """Show TARGET's current release, releases kept and service state."""
    with _operation_errors():
        state = slice_of(target).sandbox().status(console)
    if as_json:
        _emit(state)
        return
    table = Table(title=f"{target.value} status", show_header=False)
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
        slice_of(target).sandbox().logs(console, follow=follow, lines=lines)


@app.command()
def rollback(
    target: TargetArg,
    release: Annotated[str | None, typer.Argument(help="Release id (default: previous).")] = None,
) -> None:
    """Switch TARGET back to an earlier release."""
    with _operation_errors():
        now = slice_of(target).sandbox().rollback(console, release=release)
    out.print(f"{target.value}: now serving release {now}")


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
        result = plan_stack(stack)
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
            }
        )
        return
    out.print(plan_tree(result, cost))
    render_estimate(cost, out)
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
    only: Annotated[
        list[TargetName] | None, typer.Option("--only", help="Limit to these targets.")
    ] = None,
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

    result = run(console, only=only or (), max_examples=max_examples, with_faults=faults, down=down)
    if as_json:
        _emit(result.to_json())
    else:
        render(result, out)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def demo(
    only: Annotated[
        list[TargetName] | None, typer.Option("--only", help="Limit to these targets.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The main job: deploy the sample app to every local target, verify each, compare them."""
    from infra import local_app
    from infra.sandbox import tokens
    from infra.verify import render, run_checks

    boxes = [s.sandbox() for s in slices() if not only or s.name in only]
    shown = console if as_json else out
    console.rule("[bold]local baseline (uvicorn direct)")
    baseline_token = tokens.generate()
    with local_app.running(write_token=baseline_token) as url:
        baseline = run_checks(url, expect_target="local", write_token=baseline_token)
    render(baseline, shown)
    summary = [
        _row(
            "local",
            url + " (stopped)",
            None,
            [baseline],
            "the app and the contract agree, with no platform in between",
        )
    ]
    for box in boxes:
        console.rule(f"[bold]{box.name.value}")
        try:
            endpoint, up_seconds = _up(box, box.name.value)
        except typer.Exit:
            summary.append(_row(box.name.value, "(up failed: see above)", None, [], box.proves))
            continue
        reports = _verify_target(box, endpoint)
        for report in reports:
            render(report, shown)
        summary.append(_row(box.name.value, endpoint.url, up_seconds, reports, box.proves))
    if as_json:
        _emit(summary)
    else:
        _print_summary(summary)
    _print_comparison(shown)
    if any(not row["ok"] for row in summary):
        raise typer.Exit(1)


def _row(
    target: str, url: str, seconds: float | None, reports: list[VerifyReport], proves: str
) -> dict[str, Any]:
    return {
        "target": target,
        "url": url,
        "up_seconds": None if seconds is None else round(seconds, 1),
        "checks_passed": sum(r.passed for r in reports),
        "checks_failed": sum(r.failed for r in reports),
        "ok": bool(reports) and all(r.ok for r in reports),
        "proves": proves,
    }


def _print_comparison(where: Console) -> None:
    """End of the main job: the targets compared, with the figures this run just recorded."""
    from infra.report.build import comparison_now
    from infra.report.table import render_comparison

    where.rule("[bold]compared")
    render_comparison(comparison_now(), where)


def _print_summary(summary: list[dict[str, Any]]) -> None:
    table = Table(title="shipways: one app, four ways (local stand-ins)")
    table.add_column("target")
    table.add_column("url", no_wrap=True, overflow="fold")
    table.add_column("up (s)", justify="right")
    table.add_column("checks")
    for row in summary:
        checks = f"{row['checks_passed']} passed, {row['checks_failed']} failed"
        seconds = "-" if row["up_seconds"] is None else str(row["up_seconds"])
        table.add_row(row["target"], row["url"], seconds, checks)
    out.print(table)
    out.print("[bold]What each local run proves[/] (and what only the real platform proves):")
    for row in summary:
        out.print(f"  [bold]{row['target']}[/]: {row['proves']}")
