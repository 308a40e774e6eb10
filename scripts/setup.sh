#!/usr/bin/env bash
# Create .venv and install the pinned dependencies (once; again when the pins change).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
stamp=.venv/.installed
wanted=$(cat requirements.txt requirements-dev.txt constraints.txt | sha256sum | cut -c1-16)

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        -r requirements-dev.txt -c constraints.txt
    echo "$wanted" > "$stamp"
fi
