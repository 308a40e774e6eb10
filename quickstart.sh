#!/usr/bin/env bash
# Set up, start the Run:ai emulator and deploy the `local` stack to it.
# ./quickstart.sh --destroy removes what it made.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/python -m preflight.quickstart "$@"
