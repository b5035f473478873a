"""`deploy` and `rollback`: a new release goes live only once it has proven it works.

Per server, in order (the previous release serves until step 7):
1. take the deploy lock (a concurrent deploy is refused with who holds it);
2. upload the wheels the server does not have yet, into a content-addressed cache;
3. create the release: hard links to those wheels, a venv installed offline (`--no-index`);
4. run the release command (database migrations) with the app's environment;
5. start the release on a side socket as the candidate unit and wait for its health check;
6. stop the candidate;
7. switch `current` atomically (a symlink renamed over the old one);
8. reload gunicorn gracefully (HUP: new workers, old ones finish), or restart it behind the
   systemd socket when the server runtime or the entry point changed;
9. health-check through nginx until the new release answers; if it does not, switch back;
10. keep the last N releases, append the outcome to the server's audit log, unlock.

Several servers are deployed one at a time; the first failure stops the roll-out.
"""

from __future__ import annotations

import getpass
import io
import json
import posixpath
import shlex
import socket
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from fabric import Connection

from shipways_fabric import release as rel
from shipways_fabric.connect import as_user
from shipways_fabric.lock import DeployLock, DeployLocked
from shipways_fabric.remote import Progress, Remote, RemoteError
from shipways_fabric.settings import Layout, Settings, settings_from
from shipways_fabric.wheels import ServerPlatform, WheelBuilder, git_label, locked_wheels

DEFAULT_ENTRY = "shipways_app.main:app"
MIGRATE = "python -m shipways_app migrate"
_POLL_S = 0.5


class DeployError(RuntimeError):
    """A deploy or rollback failed; the message says where, why, and what still serves."""


@dataclass
class HostDeploy:
    host: str
    release: str
    previous: str | None
    mode: str  # start | reload | restart
    seconds: float


@dataclass
class DeployResult:
    release: str
    hosts: list[HostDeploy] = field(default_factory=list)
    build_seconds: float = 0.0

    def __str__(self) -> str:
        return self.release


@dataclass
class RollbackResult:
    host: str
    release: str
    previous: str | None
    mode: str

    def __str__(self) -> str:
        return self.release


def deploy(
    conns: Sequence[Connection],
    settings: Settings | dict[str, Any],
    app_dir: Path,
    entry: str = DEFAULT_ENTRY,
    *,
    release: str | None = None,
    release_command: str | None = MIGRATE,
    wheels: WheelBuilder = locked_wheels,
    progress: Progress | None = None,
) -> DeployResult:
    """Deploy the app in `app_dir` (ASGI `entry`) to each server in turn.

    `release` labels the release (default: the app's git commit). `release_command` runs in
    the new release before it starts (None: nothing to run). `wheels` builds the app's wheels
    for the server (default: from its hash-locked requirements.txt). Connections may log in
    as any user with the deploy key; the deploy itself always runs as the deploy user.
    """
    settings = settings_from(settings)
    _check_entry(entry)
    if not conns:
        raise DeployError("no servers to deploy to")
    remotes = [Remote(as_deploy_user(c, settings), progress) for c in conns]
    result = DeployResult(rel.release_id(release or git_label(Path(app_dir))))
    with tempfile.TemporaryDirectory(prefix="shipways-wheels-") as scratch:
        builder = _Builder(Path(app_dir), Path(scratch) / "wheels", wheels, progress)
        for index, remote in enumerate(remotes):
            try:
                result.hosts.append(
                    _deploy_host(remote, settings, builder, result.release, entry, release_command)
                )
            except (DeployError, DeployLocked, RemoteError, rel.ReleaseError) as exc:
                done = [h.host for h in result.hosts]
                untouched = [r.where for r in remotes[index + 1 :]]
                raise DeployError(
                    f"{exc}\nroll-out stopped at {remote.where}"
                    + (f"; already on {result.release}: {', '.join(done)}" if done else "")
                    + (f"; not touched: {', '.join(untouched)}" if untouched else "")
                ) from exc
        result.build_seconds = builder.seconds
    return result


class _Builder:
    """Builds the wheelhouse once, for the first server's platform, when it is first needed.

    Built under the first server's deploy lock, so a concurrent deploy is refused before it
    spends time building. Every further server must run the same Python and machine.
    """

    def __init__(
        self, app_dir: Path, dest: Path, wheels: WheelBuilder, progress: Progress | None
    ) -> None:
        self.app_dir, self.dest, self.wheels, self.progress = app_dir, dest, wheels, progress
        self.built: rel.Build | None = None
        self.platform: ServerPlatform | None = None
        self.seconds = 0.0

    def for_server(self, remote: Remote) -> rel.Build:
        platform = rel.server_platform(remote)
        if self.built is None:
            started = time.perf_counter()
            remote.say(
                f"building the wheelhouse for Python {platform.python_version} ({platform.key})"
            )
            self.built = rel.build(self.app_dir, platform, self.dest, self.wheels, self.progress)
            self.platform = platform
            self.seconds = time.perf_counter() - started
        elif platform != self.platform:
            built_for = self.platform.key if self.platform else "another platform"
            raise DeployError(
                f"{remote.where} runs Python {platform.python_version} on {platform.key}, but "
                f"this roll-out was built for {built_for}; deploy it on its own"
            )
        return self.built


def _check_entry(entry: str) -> None:
    module, sep, attr = entry.partition(":")
    if (
        not sep
        or not module
        or not attr
        or not all(part.isidentifier() for part in (*module.split("."), *attr.split(".")))
    ):
        raise DeployError(f"entry {entry!r} is not an ASGI entry point like package.module:app")


def as_deploy_user(conn: Connection, settings: Settings) -> Connection:
    return conn if conn.user == settings.deploy_user else as_user(conn, settings.deploy_user)


def _holder(action: str, release: str) -> str:
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    return (
        f"{action} of {release} by {who} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
    )


def _deploy_host(
    remote: Remote,
    settings: Settings,
    builder: _Builder,
    release_id: str,
    entry: str,
    release_command: str | None,
) -> HostDeploy:
    lay = settings.layout
    started = time.perf_counter()
    _check_provisioned(remote, lay)
    with DeployLock(remote.conn, lay.lock_file, _holder("deploy", release_id)):
        build = builder.for_server(remote)
        previous = current_release(remote, lay)
        audit = {"event": "deploy", "release": release_id, "previous": previous, "entry": entry}
        try:
            _create_release(remote, lay, build, release_id, entry)
            if release_command:
                _run_release_command(remote, lay, release_id, release_command)
            _candidate_check(remote, settings, release_id)
            mode = _switch(remote, settings, release_id, previous)
        except (DeployError, RemoteError) as exc:
            _audit(remote, lay, {**audit, "result": "failed", "error": str(exc)[:2000]})
            _discard(remote, lay, release_id)
            raise DeployError(
                f"{remote.where}: deploy of {release_id} failed: {exc}\n"
                + (
                    f"{remote.where} still serves the previous release {previous}."
                    if previous
                    else f"{remote.where} had no release before this one."
                )
            ) from exc
        seconds = time.perf_counter() - started
        _prune(remote, settings)
        _audit(remote, lay, {**audit, "result": "ok", "mode": mode, "seconds": round(seconds, 1)})
    remote.say(f"{release_id} is live ({mode}, {seconds:.1f}s)")
    return HostDeploy(remote.where, release_id, previous, mode, seconds)


def _check_provisioned(remote: Remote, lay: Layout) -> None:
    """Log in as the deploy user and find the app's layout; say what to do if either fails."""
    try:
        remote.conn.open()
    except (paramiko.SSHException, OSError) as exc:
        raise DeployError(
            f"{remote.where}: cannot log in as {remote.conn.user} ({type(exc).__name__}: {exc}); "
            "is the server up, provisioned (`provision` creates this user) and its host key "
            "in known_hosts?"
        ) from exc
    if not remote.ok(f"test -d {lay.releases} -a -x {lay.ctl} -a -f {lay.env_file}"):
        raise DeployError(
            f"{remote.where}: not provisioned for this app ({lay.releases}, {lay.ctl} or "
            f"{lay.env_file} missing); run `provision` first"
        )


def current_release(remote: Remote, lay: Layout) -> str | None:
    target = remote.out(f"readlink {lay.current} || true")
    return posixpath.basename(target) if target else None


def _create_release(
    remote: Remote, lay: Layout, build: rel.Build, release_id: str, entry: str
) -> None:
    path = f"{lay.releases}/{release_id}"
    if remote.ok(f"test -e {path}"):
        raise DeployError(f"{remote.where}: release {release_id} exists already; retry")
    have = set(remote.out(f"ls {lay.wheel_cache}").split())
    missing = [w for w in build.wheels if f"{w.sha256}.whl" not in have]
    remote.say(
        f"uploading {len(missing)} of {len(build.wheels)} wheels "
        f"({sum(w.path.stat().st_size for w in missing) / 1e6:.1f} MB)"
    )
    sftp = remote.conn.sftp()
    for wheel in missing:
        part = f"{lay.wheel_cache}/{wheel.sha256}.whl.part"
        sftp.put(str(wheel.path), part)
        sftp.posix_rename(part, f"{lay.wheel_cache}/{wheel.sha256}.whl")
    remote.run(f"mkdir {path} {path}/wheels")
    env = {"APP_MODULE": entry, "SHIPWAYS_GIT_SHA": release_id, "SHIPWAYS_RELEASE": release_id}
    meta = {
        "release": release_id,
        "entry": entry,
        "app_wheel": build.app_wheel,
        "python": build.python,
        "runtime": build.runtime,
        "built_by": f"{getpass.getuser()}@{socket.gethostname()}",
    }
    for name, text in (
        ("wheels.sha256", build.manifest),
        ("release.env", "".join(f"{k}={v}\n" for k, v in env.items())),
        ("meta.json", json.dumps(meta, indent=1) + "\n"),
    ):
        sftp.putfo(io.BytesIO(text.encode()), f"{path}/{name}")
    remote.run(
        f"cd {path} && while read -r sha name; do ln {lay.wheel_cache}/$sha.whl wheels/$name; "
        "done < wheels.sha256 && (cd wheels && sha256sum --quiet --strict -c ../wheels.sha256)",
        what="link and verify the wheels",
    )
    remote.say("installing the release into its venv (offline)")
    remote.run(
        f"cd {path} && python3 -m venv venv && venv/bin/pip install --quiet --no-index "
        "--no-cache-dir --disable-pip-version-check --find-links wheels "
        f"wheels/{shlex.quote(build.app_wheel)}",
        timeout=900,
        what="install the release (pip --no-index)",
    )


def _app_env(lay: Layout, release_dir: str) -> str:
    """Shell prefix loading the same environment systemd gives the service."""
    return (
        f"set -a && . {lay.app_env_file} && . {lay.env_file} && . {release_dir}/release.env "
        f"&& set +a && PATH={release_dir}/venv/bin:$PATH"
    )


def _run_release_command(remote: Remote, lay: Layout, release_id: str, command: str) -> None:
    path = f"{lay.releases}/{release_id}"
    remote.say(f"release command: {command}")
    remote.run(
        f"cd {path} && {_app_env(lay, path)} && {command}",
        timeout=600,
        what=f"release command `{command}`",
    )


def _candidate_check(remote: Remote, settings: Settings, release_id: str) -> None:
    """Start the release on the side socket and require its health check to pass."""
    lay = settings.layout
    _relink(remote, lay.candidate, f"releases/{release_id}")
    remote.say(f"starting {release_id} on the side socket")
    try:
        start = remote.run(f"sudo -n {lay.ctl} candidate-start", check=False, timeout=90)
        if start.return_code != 0:
            raise DeployError(
                f"the new release did not start on the side socket.\n{_journal(remote, lay)}"
            )
        probe = (
            f"curl -sS --max-time 5 --unix-socket {lay.candidate_socket} -o - "
            f"-w '\\n%{{http_code}}' http://localhost{settings.health_path}; "
            f"echo; systemctl is-active {lay.candidate_service} || true"
        )
        deadline = time.monotonic() + settings.health_timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            lines = str(remote.run(probe, check=False).stdout).strip().splitlines()
            state = lines[-1] if lines else "unknown"
            code = lines[-2] if len(lines) >= 2 else "000"
            if code == "200":
                remote.say(f"candidate healthy ({settings.health_path} 200)")
                return
            last = f"HTTP {code}: {' '.join(lines[:-2])[:300]}" if code != "000" else "no answer"
            if state in {"failed", "inactive"}:
                raise DeployError(
                    f"the new release crashed on the side socket ({last}).\n{_journal(remote, lay)}"
                )
            time.sleep(_POLL_S)
        raise DeployError(
            f"the new release failed its health check on the side socket: GET "
            f"{settings.health_path} -> {last} (for {settings.health_timeout_s:.0f}s).\n"
            f"{_journal(remote, lay)}"
        )
    finally:
        remote.run(f"sudo -n {lay.ctl} candidate-stop", check=False, timeout=60)
        remote.run(f"rm -f {lay.candidate}", check=False)


def _journal(remote: Remote, lay: Layout, lines: int = 25) -> str:
    out = remote.run(f"sudo -n {lay.journal} --candidate --lines {lines}", check=False)
    return f"Last lines of {lay.candidate_service}:\n{str(out.stdout).strip()}"


def _relink(remote: Remote, link: str, target: str) -> None:
    """Point `link` at `target` atomically: a new symlink renamed over the old one."""
    tmp = f"{link}.new-{time.monotonic_ns()}"
    remote.run(f"ln -s {shlex.quote(target)} {tmp} && mv -T {tmp} {link}")


def _runtime_of(remote: Remote, lay: Layout, release_id: str | None) -> tuple[str, str] | None:
    if release_id is None:
        return None
    text = remote.out(f"cat {lay.releases}/{release_id}/meta.json 2>/dev/null || true")
    if not text:
        return None
    meta = json.loads(text)
    return str(meta.get("runtime")), str(meta.get("entry"))


def _running_release(remote: Remote, lay: Layout) -> str | None:
    """The release the live gunicorn master was started from (its working directory).

    The master runs as the app user, whose cwd nobody else may read: the unit notes it in
    a file when it starts.
    """
    pid = remote.out(f"systemctl show -p MainPID --value {lay.service}")
    if pid in {"", "0"}:
        return None
    cwd = remote.out(f"cat {lay.running_release_file} 2>/dev/null || true")
    return posixpath.basename(cwd) if cwd.startswith(lay.releases + "/") else None


def _activate(remote: Remote, settings: Settings, release_id: str) -> str:
    """Make the live service serve `current`; return how: start, reload or restart.

    A reload (HUP) keeps the gunicorn master, which loaded gunicorn and uvicorn from the
    release it started in. So it restarts instead (connections wait on the systemd socket
    meanwhile) when the new release brings another server runtime or entry point, and when
    the master's release is about to be pruned: a master never outlives its files.
    """
    lay = settings.layout
    running = _running_release(remote, lay)
    kept = sorted(remote.out(f"ls {lay.releases}").split())[-settings.releases_to_keep :]
    if running is None:
        mode = "start"
    elif running not in kept and running != release_id:
        mode = "restart"
    elif _runtime_of(remote, lay, running) == _runtime_of(remote, lay, release_id):
        mode = "reload"
    else:
        mode = "restart"
    action = "reload" if mode in {"start", "reload"} else "restart"
    remote.run(f"sudo -n {lay.ctl} {action}", timeout=120, what=f"{action} {lay.service}")
    return mode


def _switch(remote: Remote, settings: Settings, release_id: str, previous: str | None) -> str:
    """Put `release_id` live and prove it through nginx; on failure put `previous` back."""
    lay = settings.layout
    _relink(remote, lay.current, f"releases/{release_id}")
    mode = _activate(remote, settings, release_id)
    problem = _through_nginx(remote, settings, release_id)
    if problem is None:
        return mode
    if previous:
        _relink(remote, lay.current, f"releases/{previous}")
        _activate(remote, settings, previous)
        raise DeployError(f"through nginx: {problem}; switched back to {previous}")
    raise DeployError(f"through nginx: {problem}")


def _through_nginx(remote: Remote, settings: Settings, release_id: str) -> str | None:
    """None once nginx serves `release_id` healthily, else what went wrong."""
    host = settings.server_names[0]
    base = f"curl -sS -k --max-time 5 -H {shlex.quote('Host: ' + host)} -o - -w '\\n%{{http_code}}'"
    deadline = time.monotonic() + settings.health_timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        health = _http(remote, f"{base} https://127.0.0.1{settings.health_path}")
        if health[0] == 200 and settings.version_path is None:
            return None
        if health[0] == 200:
            code, body = _http(remote, f"{base} https://127.0.0.1{settings.version_path}")
            try:
                serving = json.loads(body).get("git_sha") if code == 200 else None
            except ValueError:
                serving = None
            if serving == release_id:
                remote.say(f"nginx serves {release_id}")
                return None
            last = f"{settings.version_path} reports {serving!r}, not {release_id}"
        else:
            last = f"GET {settings.health_path} -> HTTP {health[0]}: {health[1][:200]}"
        time.sleep(_POLL_S)
    return last


def _http(remote: Remote, command: str) -> tuple[int, str]:
    lines = str(remote.run(command, check=False).stdout).rstrip("\n").split("\n")
    code = lines[-1].strip() if lines else "000"
    return (int(code) if code.isdigit() else 0), "\n".join(lines[:-1])


def _discard(remote: Remote, lay: Layout, release_id: str) -> None:
    """Remove a release that never went live."""
    if current_release(remote, lay) == release_id:
        return  # live after all (there was nothing to switch back to): keep it to inspect
    remote.run(f"rm -rf {lay.releases}/{release_id}", check=False)


def _prune(remote: Remote, settings: Settings) -> None:
    """Keep the newest N releases, the live one and the one gunicorn's master started from."""
    lay = settings.layout
    releases = sorted(remote.out(f"ls {lay.releases}").split())
    keep = set(releases[-settings.releases_to_keep :])
    keep |= {r for r in (current_release(remote, lay), _running_release(remote, lay)) if r}
    old = [r for r in releases if r not in keep and rel.RELEASE_ID.match(r)]
    if old:
        remote.run(
            "rm -rf " + " ".join(f"{lay.releases}/{r}" for r in old),
            what="remove old releases",
        )
        remote.say(f"removed {len(old)} old release(s): {', '.join(old)}")
    # A cached wheel no release links to any more has a link count of 1.
    remote.run(f"find {lay.wheel_cache} -type f -links 1 -delete", check=False)


def _audit(remote: Remote, lay: Layout, record: dict[str, Any]) -> None:
    record = {
        "host": remote.where,
        "by": f"{getpass.getuser()}@{socket.gethostname()}",
        **record,
    }
    remote.run(f"sudo -n {lay.audit}", stdin=json.dumps(record) + "\n", check=False)


def releases_on(remote: Remote, lay: Layout) -> list[str]:
    """Complete releases on the server (installed venv), oldest first."""
    listing = remote.out(
        f"cd {lay.releases} && for r in *; do test -x $r/venv/bin/python && echo $r; done || true"
    )
    return sorted(r for r in listing.split() if rel.RELEASE_ID.match(r))


def rollback(
    conn: Connection,
    settings: Settings | dict[str, Any],
    release: str | None = None,
    *,
    progress: Progress | None = None,
) -> RollbackResult:
    """Serve an earlier release again (default: the one before the current one)."""
    settings = settings_from(settings)
    remote = Remote(as_deploy_user(conn, settings), progress)
    lay = settings.layout
    _check_provisioned(remote, lay)
    try:
        with DeployLock(remote.conn, lay.lock_file, _holder("rollback", release or "previous")):
            current = current_release(remote, lay)
            available = releases_on(remote, lay)
            target = _rollback_target(remote.where, available, current, release)
            audit = {"event": "rollback", "release": target, "previous": current}
            try:
                mode = _switch(remote, settings, target, current)
            except (DeployError, RemoteError) as exc:
                _audit(remote, lay, {**audit, "result": "failed", "error": str(exc)[:2000]})
                raise DeployError(f"{remote.where}: rollback to {target} failed: {exc}") from exc
            _audit(remote, lay, {**audit, "result": "ok", "mode": mode})
    except RemoteError as exc:
        raise DeployError(str(exc)) from exc
    remote.say(f"rolled back to {target} ({mode})")
    return RollbackResult(remote.where, target, current, mode)


def _rollback_target(
    host: str, available: list[str], current: str | None, wanted: str | None
) -> str:
    if wanted is not None:
        if wanted not in available:
            raise DeployError(
                f"{host}: no release {wanted!r}; available: {', '.join(available) or 'none'}"
            )
        if wanted == current:
            raise DeployError(f"{host}: {wanted} is already the current release")
        return wanted
    older = [r for r in available if current is None or r < current]
    if not older:
        raise DeployError(
            f"{host}: no release before {current or 'the current one'} to roll back to "
            f"(releases: {', '.join(available) or 'none'})"
        )
    return older[-1]
