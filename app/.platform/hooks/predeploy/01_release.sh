#!/bin/bash
# The release step (the Procfile's `release:` command, saved by the prebuild hook) runs here,
# after dependencies are installed and before the new version takes traffic. A non-zero exit
# aborts the deployment, so the previous version keeps serving.
# Runs as root with the staging directory as the working directory.
set -euo pipefail

release_cmd="$(cat .platform/release-command)"
get_config="${EB_GET_CONFIG:-/opt/elasticbeanstalk/bin/get-config}"

python=python3
for candidate in /var/app/venv/*/bin/python; do  # the platform's virtualenv, if any
    if [ -x "$candidate" ]; then
        python="$candidate"
        PATH="$(dirname "$candidate"):$PATH"
    fi
done

if [ -x "$get_config" ]; then
    # Environment properties and secrets: exported for the release command, values quoted.
    exports="$("$get_config" environment | "$python" -c '
import json, shlex, sys
for key, value in sorted(json.load(sys.stdin).items()):
    if key.isidentifier():
        print(f"export {key}={shlex.quote(value)}")
')"
    eval "$exports"
fi

# The SQLite fallback lives outside the app directory, which each deploy replaces.
data_dir=""
if [ -z "${DATABASE_URL:-}" ] && [ -n "${SHIPWAYS_SQLITE_PATH:-}" ]; then
    data_dir="$(dirname "$SHIPWAYS_SQLITE_PATH")"
    mkdir -p -m 0700 "$data_dir"
fi

echo "predeploy: running the release step: $release_cmd"
if [ "$(id -u)" = 0 ] && id webapp >/dev/null 2>&1; then
    # On the instance: run it as the app's own user, never as root.
    if [ -n "$data_dir" ]; then
        chown webapp:webapp "$data_dir"
    fi
    exec runuser -u webapp -- env PATH="$PATH" /bin/sh -c "$release_cmd"
fi
exec /bin/sh -c "$release_cmd"
