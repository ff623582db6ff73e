#!/usr/bin/env bash
# Print Lighthouse's four scores (performance, accessibility, best practices, SEO) for each page
# type of the real site, mobile preset, using Debian's Chromium. Run on purpose; not a test.
#   bash scripts/lighthouse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test >/dev/null
if [ ! -x .tools/lighthouse/node_modules/.bin/lighthouse ]; then
  echo "installing lighthouse 12 into .tools/lighthouse"
  npm install --silent --no-audit --no-fund --prefix .tools/lighthouse lighthouse@12.2.3 >/dev/null
fi
site=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$site"' EXIT
.venv/bin/python build.py build --out "$site/site" >/dev/null
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/python -m http.server "$port" --bind 127.0.0.1 --directory "$site/site" >/dev/null 2>&1 &
server=$!
sleep 1
story=$(basename "$(dirname "$(ls "$site"/site/*/facts.json | head -1)")")
topic=$(basename "$(dirname "$(ls "$site"/site/topics/*/index.html | head -1)")")
publisher=$(basename "$(dirname "$(ls "$site"/site/sources/*/index.html | head -1)")")
export CHROME_PATH=${CHROMIUM:-$(command -v chromium)}
printf '%-10s %11s %13s %14s %5s\n' page performance accessibility best-practices seo
for pair in "index:" "explainer:$story/" "topic:topics/$topic/" "publisher:sources/$publisher/" "404:404.html"; do
  name=${pair%%:*}; path=${pair#*:}
  .tools/lighthouse/node_modules/.bin/lighthouse "http://127.0.0.1:$port/$path" --quiet --output=json \
    --output-path="$site/$name.json" --form-factor=mobile \
    --chrome-flags="--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync" \
    >/dev/null 2>&1 || { echo "$name: lighthouse failed"; continue; }
  .venv/bin/python - "$site/$name.json" "$name" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
c = report["categories"]
score = lambda k: "n/a" if c[k]["score"] is None else str(round(c[k]["score"] * 100))
print(f'{sys.argv[2]:<10} {score("performance"):>11} {score("accessibility"):>13} {score("best-practices"):>14} {score("seo"):>5}')
PY
done
