#!/usr/bin/env bash
# Puts pyd's systemd units in place for this checkout's venv (.venv/bin) and reloads
# systemd. Run scripts/install.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/.venv/bin"
dest=${1:-/etc/systemd/system}
for unit in systemd/*.service systemd/*.socket; do
    [[ -e "$unit" ]] || continue
    sed "s|@BIN@|$bin|g" "$unit" > "$dest/$(basename "$unit")"
done
if [[ -d /run/systemd/system ]]; then systemctl daemon-reload; fi
echo "installed units into $dest" >&2
