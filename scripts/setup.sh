#!/usr/bin/env bash
# Set up the project in .venv (idempotent). With --test, also the test tools: Python test
# dependencies, the Nu HTML checker (vnu-jar from npm, run with Java) in .tools/, and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=no
[ "${1:-}" = "--test" ] && want_tests=yes

apt_install() {
  # Only root on a Debian-like machine can install system packages; elsewhere say what is missing.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing $* with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "error: please install $* (needed for the tests)" >&2
    exit 1
  fi
}

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed (tried $PY; set PYTHON=...)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
# A "strict" editable install links the package into build/ and names that folder in a plain .pth
# file; the default mode installs an import hook instead, which costs every Python start in .venv
# about 40 ms (a fifth of a rebuild with nothing to do). New modules are linked on the next run.
EDITABLE="--config-settings editable_mode=strict"
if [ "$want_tests" = yes ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check $EDITABLE -e ".[test]"
  command -v java >/dev/null || apt_install default-jre-headless
  command -v npm >/dev/null || apt_install nodejs npm
  # The browser tests drive Debian's Chromium through Playwright (never Playwright's own download).
  command -v chromium >/dev/null || [ -n "${CHROMIUM:-}" ] || apt_install chromium
  # Checkers from the npm registry, pinned: the Nu HTML checker (run with Java), axe-core (run in
  # Chromium), and the sitemaps.org schema as shipped in the sitemap package.
  if [ ! -f .tools/node_modules/vnu-jar/build/dist/vnu.jar ] || [ ! -f .tools/node_modules/axe-core/axe.min.js ] \
     || [ ! -f .tools/node_modules/sitemap/schema/sitemap.xsd ]; then
    echo "installing the checkers (vnu-jar, axe-core, sitemap schema) into .tools/"
    npm install --silent --no-audit --no-fund --prefix .tools vnu-jar@26.9.27 axe-core@4.14.1 sitemap@9.0.1 >/dev/null
  fi
else
  .venv/bin/python -m pip install --quiet --disable-pip-version-check $EDITABLE -e .
fi
# Compile the package now: where PYTHONDONTWRITEBYTECODE is set, Python would otherwise compile it
# again on every run, which is a third of a small rebuild's time.
.venv/bin/python -m compileall -q explainer
