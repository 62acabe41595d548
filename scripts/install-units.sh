#!/usr/bin/env bash
# Puts pyd's systemd units in place for this checkout's venv and reloads systemd:
# pyd-containerd.service, pyd-dockerd.service and pyd-dockerd.socket, with @BIN@ the
# venv's bin (.venv/bin) and @SRC@ this checkout. Installs the venv first when it is
# missing (a fresh clone), and the group `pyd` that may use the sockets.
#   scripts/install-units.sh [--now] [DEST]
#     DEST   where the units go (default /etc/systemd/system)
#     --now  also enable them and start containerd and the socket (the engine then
#            starts on the first connection to /run/pyd/pyd.sock)
set -euo pipefail
cd "$(dirname "$0")/.."
now=0
if [[ "${1:-}" == "--now" ]]; then now=1; shift; fi
dest=${1:-/etc/systemd/system}
src=$PWD
bin="$src/.venv/bin"
log() { printf 'install-units: %s\n' "$*" >&2; }

if [[ ! -x "$bin/pyd-dockerd" || ! -x "$bin/pyd-containerd" ]]; then
    log "no venv with pyd in $bin: running scripts/install.sh"
    bash scripts/install.sh
fi
getent group pyd >/dev/null || groupadd --system pyd

mkdir -p "$dest"
units=()
for unit in systemd/*.service systemd/*.socket; do
    [[ -e "$unit" ]] || continue
    name=$(basename "$unit")
    # Written whole then renamed: systemd never reads a half-written unit.
    sed -e "s|@BIN@|$bin|g" -e "s|@SRC@|$src|g" "$unit" > "$dest/.$name.tmp"
    mv -f "$dest/.$name.tmp" "$dest/$name"
    units+=("$name")
done
log "installed ${units[*]} into $dest"

if [[ -d /run/systemd/system ]]; then  # systemd is the running init
    systemctl daemon-reload
    if [[ $now == 1 ]]; then
        systemctl enable --now pyd-containerd.service pyd-dockerd.socket
        systemctl enable pyd-dockerd.service
        log "started pyd-containerd.service and pyd-dockerd.socket"
    fi
elif [[ $now == 1 ]]; then
    log "error: --now needs systemd running as init"
    exit 1
fi
