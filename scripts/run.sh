#!/usr/bin/env bash
# Sets everything up, then starts the workbench on the LAN (the URL to open is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh app
exec .venv/bin/workbench serve "$@"
