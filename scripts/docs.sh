#!/usr/bin/env bash
# Build the documentation site (docs/ -> site/) with --strict and serve it on http://127.0.0.1:8000.
#   bash scripts/docs.sh                 build and serve (Ctrl-C stops)
#   bash scripts/docs.sh --screenshots   build, then refresh docs/screenshots/*.png in headless Chromium
# Needs the dev extra (scripts/install.sh installs it): mkdocs, mkdocs-material, mkdocstrings-python.
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_MKDOCS_2_WARNING=1
.venv/bin/mkdocs build --strict
if [ "${1:-}" = "--screenshots" ]; then
    browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
    for page in "home:index.html" "install:install/index.html" "getting-started:getting-started/index.html" \
        "tutorial:tutorials/real-em/index.html" "light-microscopy:tutorials/light-microscopy/index.html"; do
        "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 \
            --screenshot="docs/screenshots/${page%%:*}.png" "file://$PWD/site/${page#*:}" 2>/dev/null
    done
    echo "wrote docs/screenshots/{home,install,getting-started,tutorial,light-microscopy}.png"
    exit 0
fi
.venv/bin/mkdocs serve --dev-addr 127.0.0.1:8000
