"""testinfra checks of the local Lambda execution environment (the container `up` started).

Run by `shipways verify serverless`, or by hand:

    uv run pytest infra/targets/serverless/checks --hosts=docker://shipways-serverless

Environment: SHIPWAYS_LAMBDA_MEMORY_MB (the stack's memoryMb) and SHIPWAYS_LAMBDA_FUNCTION
(the function name); `verify` sets both. Each check reads the live state: the runtime
process's own uid, environment and capabilities, the mounts, the cgroup limits.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
import testinfra

MEMORY_MB = int(os.environ.get("SHIPWAYS_LAMBDA_MEMORY_MB") or 0)
FUNCTION = os.environ.get("SHIPWAYS_LAMBDA_FUNCTION", "")
SANDBOX_UID = 993
LAMBDA_VARIABLES = (
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_EXECUTION_ENV",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "_HANDLER",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
)


def _runtime_pid(host: Any) -> int:
    """The pid of AWS's runtime client (`python3 -m awslambdaric ...`), read from /proc."""
    for pid in host.check_output("ls /proc").split():
        if not pid.isdigit():
            continue
        argv = host.run(f"cat /proc/{pid}/cmdline").stdout.split("\0")
        if argv[1:3] == ["-m", "awslambdaric"]:
            return int(pid)
    pytest.fail("no awslambdaric process: the runtime is not running (has a request come in?)")


def _status(host: Any, pid: int) -> dict[str, str]:
    lines = host.check_output(f"cat /proc/{pid}/status").splitlines()
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _root(host: Any) -> Any:
    return testinfra.get_host(f"docker://root@{host.backend.name}")


def test_runtime_runs_as_lambdas_sandbox_user(host: Any) -> None:
    status = _status(host, _runtime_pid(host))
    assert status["Uid"].split() == [str(SANDBOX_UID)] * 4
    assert status["Gid"].split() == [str(SANDBOX_UID)] * 4
    assert host.user().name == "sbx_user1051"


def test_runtime_has_no_capabilities_and_cannot_gain_privileges(host: Any) -> None:
    status = _status(host, _runtime_pid(host))
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[field], 16) == 0, field
    assert status["NoNewPrivs"] == "1"


def test_task_root_is_read_only_even_for_root(host: Any) -> None:
    assert "ro" in host.mount_point("/").options
    for who in (host, _root(host)):
        probe = who.run("touch /var/task/probe")
        assert probe.rc != 0
        assert "Read-only file system" in probe.stderr


def test_only_tmp_is_writable(host: Any) -> None:
    tmp = host.mount_point("/tmp")  # noqa: S108 - the container's, checked not used
    assert tmp.filesystem == "tmpfs"
    assert "rw" in tmp.options
    assert host.run("echo ok > /tmp/probe && rm /tmp/probe").rc == 0
    for path in ("/var/runtime", "/etc", "/var/harness", "/root"):
        assert host.run(f"touch {path}/probe").rc != 0, path


def test_task_root_holds_the_zip_and_no_build_leftovers(host: Any) -> None:
    manifest = json.loads(host.file("/var/task/shipways-artifact.json").content_string)
    assert manifest["handler"] == host.environment()["_HANDLER"]
    handler_file = host.file("/var/task/shipways_app/lambda_handler.py")
    assert handler_file.exists
    assert handler_file.user == "root"
    leftovers = host.check_output("find /var/task \\( -name tests -o -name RECORD \\) -print")
    assert leftovers == ""
    # Bytecode only as the zip ships it: compiled for this runtime's Python, or none at all.
    bytecode = manifest.get("bytecode")
    tag = bytecode["cache_tag"] if bytecode else "no-bytecode"
    if bytecode:
        runtime_tag = host.check_output(
            "python3 -c 'import sys; print(sys.implementation.cache_tag)'"
        )
        assert tag == runtime_tag
        assert host.file(f"/var/task/shipways_app/__pycache__/lambda_handler.{tag}.pyc").exists
    foreign = host.check_output(f"find /var/task -name '*.pyc' ! -name '*.{tag}.pyc' -print")
    assert foreign == ""
    server_only = host.check_output(
        "find /var/task -maxdepth 1 \\( -name 'uvicorn*' -o -name 'gunicorn*' -o -name 'uvloop*' "
        "-o -name 'httptools*' -o -name 'websockets*' -o -name 'watchfiles*' \\) -print"
    )
    assert server_only == ""


def test_lambda_environment_variables_are_set(host: Any) -> None:
    env = host.environment()
    missing = [name for name in LAMBDA_VARIABLES if not env.get(name)]
    assert not missing
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{env['AWS_LAMBDA_FUNCTION_NAME']}"
    if FUNCTION:
        assert env["AWS_LAMBDA_FUNCTION_NAME"] == FUNCTION
    if MEMORY_MB:
        assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == str(MEMORY_MB)


def test_runtime_process_gets_its_log_stream_and_runtime_api(host: Any) -> None:
    pid = _runtime_pid(host)
    raw = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    env = dict(line.partition("=")[::2] for line in raw.splitlines())
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    # Lambda's stream name: date/[VERSION]id, the published version number (or $LATEST).
    version = env["AWS_LAMBDA_FUNCTION_VERSION"]
    assert version == "$LATEST" or version.isdigit()
    assert re.fullmatch(
        rf"\d{{4}}/\d\d/\d\d/\[{re.escape(version)}\][0-9a-f]{{32}}",
        env["AWS_LAMBDA_LOG_STREAM_NAME"],
    )


def test_runtime_api_listens_on_loopback_only(host: Any) -> None:
    port = int(host.environment()["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)[1])
    listening = set()
    for line in host.file("/proc/net/tcp").content_string.splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A":  # LISTEN
            address, _, port_hex = fields[1].partition(":")
            listening.add((address, int(port_hex, 16)))
    assert ("0100007F", port) in listening  # 127.0.0.1
    assert ("00000000", port) not in listening


def test_memory_limit_is_the_configured_memory(host: Any) -> None:
    v2 = host.file("/sys/fs/cgroup/memory.max")
    limit_file = v2 if v2.exists else host.file("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    limit = int(limit_file.content_string.strip())
    expected = int(host.environment()["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]) * 1024 * 1024
    assert limit == expected


def test_process_and_file_limits_are_lambdas(host: Any) -> None:
    assert host.check_output("sh -c 'ulimit -n'") == "1024"
    v2 = host.file("/sys/fs/cgroup/pids.max")
    pids = v2 if v2.exists else host.file("/sys/fs/cgroup/pids/pids.max")
    assert pids.content_string.strip() == "1024"
