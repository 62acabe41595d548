#!/usr/bin/env bash
# The README's second command: installs what the tests need, then runs every check
# CI runs: ruff, mypy, generated-code freshness, and the whole pytest suite (unit
# tests of each package and the end-to-end tests in tests/, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff" >&2
ruff check .
echo "== mypy" >&2
mypy proto/src db/src services/cli/src services/dockerd/src services/containerd/src \
    services/shim/src services/runtime/src tests bench
echo "== generated code" >&2
bash scripts/gen-protos.sh --check
echo "== pytest" >&2
exec pytest -q -p no:cacheprovider "$@"
