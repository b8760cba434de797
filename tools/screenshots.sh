#!/usr/bin/env bash
# Screenshots of executed notebooks as a reader sees them. Installs nothing: needs Debian's
# `chromium` (apt-get install -y chromium) and the project's .venv.
#   MODE=lab (default): starts JupyterLab headless on this repository (no token, localhost
#     only), opens each notebook in it with headless Chromium and photographs the page, then
#     stops the server: the lab's own rendering, side panel and all.
#   MODE=html: renders each notebook to HTML with nbconvert's lab template (outputs as
#     saved) and photographs that; the whole notebook fits in one tall picture.
# Usage (paths inside the repository):
#   tools/screenshots.sh OUT_DIR NOTEBOOK.ipynb...   e.g. tools/screenshots.sh /tmp/shots figures/synthetic/*.ipynb
# Writes OUT_DIR/<notebook>.png (1280 px wide, HEIGHT px tall; default 2400 lab, 6000 html).
set -euo pipefail
out=$1; shift
mode=${MODE:-lab}
python=${PYTHON:-.venv/bin/python}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "no chromium: apt-get install -y chromium" >&2; exit 1; }
shoot() {  # URL PNG HEIGHT
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,"$3" \
    --virtual-time-budget=25000 --screenshot="$2" "$1" >/dev/null 2>&1
}
mkdir -p "$out"
root=$(git rev-parse --show-toplevel)
if [ "$mode" = lab ]; then
  port=${PORT:-8899}
  # a settings folder of its own: no "Jupyter news?" toast over the page; a workspace folder
  # of its own (and ?reset below): only the notebook photographed is open
  lab_dir=$(mktemp -d)
  mkdir -p "$lab_dir/settings/@jupyterlab/apputils-extension"
  echo '{"fetchNews": "false", "checkForUpdates": false}' \
    >"$lab_dir/settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
  "$python" -m jupyterlab --no-browser --ip 127.0.0.1 --port "$port" --allow-root \
    --ServerApp.token= --ServerApp.password= --ServerApp.root_dir="$root" \
    --LabApp.user_settings_dir="$lab_dir/settings" --LabApp.workspaces_dir="$lab_dir/ws" \
    >"$out/jupyterlab.log" 2>&1 &
  lab=$!
  trap 'kill $lab 2>/dev/null; rm -rf "$lab_dir"' EXIT
  for _ in $(seq 60); do curl -s "http://127.0.0.1:$port/lab" >/dev/null && break; sleep 1; done
fi
for nb in "$@"; do
  name=$(basename "$nb" .ipynb)
  if [ "$mode" = lab ]; then
    rel=$(realpath --relative-to="$root" "$nb")
    shoot "http://127.0.0.1:$port/lab/tree/$rel?reset" "$out/$name.png" "${HEIGHT:-2400}"
  else
    "$python" -m nbconvert --to html --template lab --output-dir "$out" --output "$name" "$nb" \
      >/dev/null 2>&1
    shoot "file://$(realpath "$out/$name.html")" "$out/$name.png" "${HEIGHT:-6000}"
  fi
  echo "$out/$name.png"
done
