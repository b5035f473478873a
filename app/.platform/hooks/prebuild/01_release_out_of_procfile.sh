#!/bin/bash
# Elastic Beanstalk has no release phase: it runs EVERY Procfile line as a long-running
# process and restarts any that exits, so a `release:` line would re-run the migrations in a
# loop. Before the platform reads the Procfile, move that line out of the staged copy (Heroku,
# Dokku and `shipways up paas` use the Procfile as is); the predeploy hook runs it.
# Runs as root with the staging directory (the unpacked bundle) as the working directory.
set -euo pipefail

release_cmd="$(sed -n 's/^release:[[:space:]]*//p' Procfile)"
if [ -z "$release_cmd" ]; then
    echo "prebuild: the Procfile has no release: line; the app needs one to migrate" >&2
    exit 1
fi
printf '%s\n' "$release_cmd" > .platform/release-command
sed -i '/^release:/d' Procfile
echo "prebuild: release step kept for predeploy: $release_cmd"
