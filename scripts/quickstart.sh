#!/usr/bin/env bash
# The README's first command: install everything, start the pyd stack (pyd-dockerd,
# which starts pyd-containerd) with the default paths, and show `pyd version`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
if ! pyd version >/dev/null 2>&1; then
    mkdir -p /var/log/pyd
    echo "starting pyd-dockerd (log: /var/log/pyd/dockerd.log)" >&2
    setsid pyd-dockerd >>/var/log/pyd/dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 1 100); do
        pyd version >/dev/null 2>&1 && break
        sleep 0.2
    done
fi
pyd version
echo
pyd run --rm busybox echo "hello from a pyd container"
