#!/usr/bin/env bash
# Installs what the project needs and says what it does; safe to run again (it skips what is there).
#   scripts/setup.sh run    Debian packages for the demo, the Python environment
#   scripts/setup.sh test   the same, plus PostgreSQL (started, with a role for this user) and Chromium
set -euo pipefail
cd "$(dirname "$0")/.."
purpose=${1:-run}
say() { printf '[setup] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_debian_packages() {
  local wanted=(mosquitto libzbar0)
  [ "$purpose" = test ] && wanted+=(postgresql chromium chromium-driver)
  python3 -c 'import ensurepip, venv' 2>/dev/null || wanted+=(python3-venv)
  local missing=()
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "Debian packages present: ${wanted[*]}"
    return
  fi
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

quiet_pip() {
  # Some machines list package folders in pip.conf that do not exist; pip warns about each one.
  .venv/bin/python -m pip --quiet "$@" 2> >(grep -v 'is ignored: it is neither a file' >&2)
}

install_python_packages() {
  python3 -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
    || { say "Python 3.11 or newer is needed"; exit 1; }
  local stamp
  stamp=$(cat pyproject.toml constraints.txt 2>/dev/null | sha256sum | cut -c1-16)
  if [ -f .venv/.installed ] && [ "$(cat .venv/.installed)" = "$stamp" ]; then
    say "Python environment .venv is up to date"
    return
  fi
  [ -x .venv/bin/python ] || { say "creating the Python environment .venv"; python3 -m venv .venv; }
  say "installing Python packages into .venv (the first time takes a few minutes)"
  quiet_pip install --upgrade pip
  quiet_pip install -c constraints.txt -e '.[agent,coordinator,vision,dev]'
  echo "$stamp" > .venv/.installed
}

start_postgresql() {
  if ! pg_isready -q; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    say "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 50); do pg_isready -q && break; sleep 0.2; done
  fi
  local user
  user=$(id -un)
  if ! psql -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; then
    say "creating a PostgreSQL superuser role for $user (tests create and drop their own databases)"
    as_root runuser -u postgres -- createuser --superuser "$user"
  fi
  say "PostgreSQL is running"
}

install_debian_packages
install_python_packages
if [ "$purpose" = test ]; then
  start_postgresql
  [ -x scripts/setup-vision-compat.sh ] && scripts/setup-vision-compat.sh
fi
say "done"
