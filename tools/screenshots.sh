#!/usr/bin/env bash
# Screenshots of executed notebooks as a reader sees them: each notebook is rendered to HTML
# by nbconvert (JupyterLab's own renderer and CSS, outputs as saved) and photographed by
# Debian's headless Chromium. Installs nothing: needs `chromium` (apt-get install -y chromium)
# and nbconvert (in .venv). Usage:
#   tools/screenshots.sh OUT_DIR NOTEBOOK.ipynb...     e.g. tools/screenshots.sh /tmp/shots figures/smoke/*.ipynb
# Writes OUT_DIR/<notebook>.png (1280 px wide, HEIGHT px tall; default 6000) and the HTML.
set -euo pipefail
out=$1; shift
height=${HEIGHT:-6000}
python=${PYTHON:-.venv/bin/python}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "no chromium: apt-get install -y chromium" >&2; exit 1; }
mkdir -p "$out"
for nb in "$@"; do
  name=$(basename "$nb" .ipynb)
  "$python" -m nbconvert --to html --template lab --output-dir "$out" --output "$name" "$nb" \
    >/dev/null 2>&1
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1280,"$height" --screenshot="$out/$name.png" "file://$(realpath "$out/$name.html")" \
    >/dev/null 2>&1
  echo "$out/$name.png"
done
