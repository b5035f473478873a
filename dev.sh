#!/usr/bin/env bash
# shipways bootstrap: installs what the project needs (idempotently), then runs one job.
#
#   ./dev.sh demo    the main job: deploy the sample app to every local target, verify, compare
#   ./dev.sh test    lint, then the whole test suite (unit, stack, engine, e2e)
#   ./dev.sh setup   only install/start prerequisites
#   ./dev.sh -- ARGS run `shipways ARGS` inside the project's environment
#
# On Debian/Ubuntu as root it installs missing system packages itself (Docker engine,
# PostgreSQL server, debootstrap, Chromium, nginx); elsewhere it says what to install and stops.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

# System packages: command or file that proves presence -> Debian package. The optional ones
# serve one feature each: debootstrap builds the base image where no image registry answers,
# PostgreSQL runs the postgres tests, Chromium prints the report's PDF test, nftables and
# systemd-analyze check the VPS firewall and units offline.
ensure_system_packages() {
  local missing=() optional=()
  command -v docker >/dev/null 2>&1 || command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
  command -v git >/dev/null 2>&1 || missing+=(git)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  # The PaaS edge's nginx configuration is checked and run by a local nginx (not started).
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx)
  command -v debootstrap >/dev/null 2>&1 || optional+=(debootstrap)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || optional+=(postgresql)
  command -v chromium >/dev/null 2>&1 || optional+=(chromium)
  [ -x /usr/sbin/nft ] || optional+=(nftables)
  command -v systemd-analyze >/dev/null 2>&1 || optional+=(systemd)
  if can_apt && [ $((${#missing[@]} + ${#optional[@]})) -gt 0 ]; then
    say "installing system packages: ${missing[*]} ${optional[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" "${optional[@]}" >/dev/null
    # nginx is only run by tests, on their own ports: not as a service on port 80.
    if [[ " ${missing[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now nginx >/dev/null 2>&1 || true
    fi
    return 0
  fi
  [ ${#optional[@]} -eq 0 ] || say "optional, not installed: ${optional[*]} (see dev.sh)"
  [ ${#missing[@]} -eq 0 ] \
    || die "missing: ${missing[*]}. Install them (e.g. Docker Desktop for the engine), then re-run."
}

ensure_uv() {
  if command -v uv >/dev/null 2>&1; then return 0; fi
  if [ -x "$HOME/.local/bin/uv" ]; then export PATH="$HOME/.local/bin:$PATH"; return 0; fi
  command -v python3 >/dev/null 2>&1 || die "python3 (3.11+) is needed"
  say "installing uv (from PyPI)"
  python3 -m pip install --quiet --user uv 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages uv
  export PATH="$HOME/.local/bin:$PATH"
  command -v uv >/dev/null 2>&1 || die "uv was installed but is not on PATH"
}

ensure_venv() {
  say "syncing the locked environment (.venv)"
  uv sync --frozen --quiet
}

setup() {
  ensure_system_packages
  ensure_uv
  ensure_venv
  say "starting the Docker engine if needed"
  uv run --frozen shipways engine
}

lint() {
  say "lint: ruff check, ruff format --check, mypy"
  uv run --frozen ruff check --quiet .
  uv run --frozen ruff format --check --quiet .
  uv run --frozen mypy
}

job="${1:-}"
case "$job" in
  demo)  shift; setup; exec uv run --frozen shipways demo "$@" ;;
  test)  shift; setup; lint; exec uv run --frozen pytest "$@" ;;
  setup) setup ;;
  --)    shift; ensure_uv; ensure_venv; exec uv run --frozen shipways "$@" ;;
  *)     sed -n '2,12p' "$0"; exit 2 ;;
esac
