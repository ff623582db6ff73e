#!/usr/bin/env bash
# First command for a fresh machine: set up, build the site and serve the live preview.
# Extra arguments go to `build.py serve` (e.g. --port 8001 --drafts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python build.py serve "$@"
